"""gunicorn settings for the gateway (used by the Procfile and the Docker image).

Every value can be set from the environment: HOST and PORT (bind), WEB_CONCURRENCY (worker
processes), and GUNICORN_* for the rest; see docs/readme/serving.md.
"""

import logging
import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _default_workers() -> int:
    """Two gevent workers per core, at most 8: each one holds thousands of open streams."""
    return max(1, min(multiprocessing.cpu_count() * 2, 8))


bind = f"{os.environ.get('HOST') or '0.0.0.0'}:{os.environ.get('PORT') or '8000'}"
# gevent lets one worker hold thousands of open streams; each stream is a greenlet, not a thread.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or "gevent"
workers = _int("WEB_CONCURRENCY", _default_workers())
worker_connections = _int("GUNICORN_WORKER_CONNECTIONS", 2000)
# With gevent the timeout is only the worker's heartbeat: it catches a worker that stopped
# scheduling greenlets, never a long stream, which may run far past it.
timeout = _int("GUNICORN_TIMEOUT", 120)
# On restart or shutdown, open streams get this long to finish before they are cut.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 75)
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()
# The control socket defaults to one path per user, shared by every gunicorn on the machine;
# it is opened only when a path is given.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]


def worker_exit(server, worker) -> None:
    """Close the exiting worker's backends (pooled upstream connections) before it goes."""
    # The arbiter also calls this for workers that died; only the worker itself holds an app.
    app = getattr(worker, "wsgi", None)
    backends = getattr(app, "extensions", {}).get("gateway.backends")
    if backends is not None:
        backends.close()
        logging.getLogger("gunicorn.error").info("worker %s closed its backends", worker.pid)
