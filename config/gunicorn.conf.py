"""gunicorn settings for the gateway (used by the Procfile and the Docker image).

Every value can be set from the environment or the project's .env: HOST and PORT (bind),
WEB_CONCURRENCY (worker processes), SHUTDOWN_GRACE_SECONDS, PROMETHEUS_MULTIPROC_DIR, and
GUNICORN_* for the rest; see the README (Serving, Deployment).
"""

import gc
import glob
import json
import logging
import math
import multiprocessing
import os
import shutil
import signal
import tempfile

from dotenv import load_dotenv
from gunicorn import util as gunicorn_util
from gunicorn.glogging import Logger
from gunicorn.workers.base_async import AsyncWorker

# The project's .env (config/settings.py reads the same file; real environment variables win):
# read here as well, before the settings below, so that PORT, WEB_CONCURRENCY or
# SHUTDOWN_GRACE_SECONDS set in it apply to gunicorn too, not only to the app.
load_dotenv(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".env"))


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _default_workers() -> int:
    """Two gevent workers per core, at most 8: each one holds thousands of open streams."""
    return max(1, min(multiprocessing.cpu_count() * 2, 8))


class GeventWorker(AsyncWorker):
    """The gateway's gevent worker (config/gevent_worker.py), loaded by each worker process
    instead of by the master.

    gunicorn builds worker objects in the master and forks them. Naming a gevent worker here
    would import gevent into the master, which never runs a greenlet: about 5 MB more resident
    memory in the one process that serves no request. This object turns into the gevent
    worker as its process starts, before anything else runs in it.
    """

    def init_process(self) -> None:
        """Become the gateway's gevent worker (gevent is imported here) and start as it does."""
        from config.gevent_worker import GatewayGeventWorker

        self.__class__ = GatewayGeventWorker
        self.init_process()


bind = f"{os.environ.get('HOST') or '0.0.0.0'}:{os.environ.get('PORT') or '8000'}"
# gevent lets one worker hold thousands of open streams; each stream is a greenlet, not a thread.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or GeventWorker
workers = _int("WEB_CONCURRENCY", _default_workers())
worker_connections = _int("GUNICORN_WORKER_CONNECTIONS", 2000)
# With gevent the timeout is only the worker's heartbeat: it catches a worker that stopped
# scheduling greenlets, never a long stream, which may run far past it.
timeout = _int("GUNICORN_TIMEOUT", 120)
# On SIGTERM, open streams get SHUTDOWN_GRACE_SECONDS to finish, then end with an error event
# (app.shutdown); gunicorn cuts whatever is left a little later.
shutdown_grace = _float("SHUTDOWN_GRACE_SECONDS", 25.0)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", math.ceil(shutdown_grace) + 5)
keepalive = _int("GUNICORN_KEEPALIVE", 75)
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()
# Everything goes to stdout (Heroku, Docker and systemd collect it there); the gateway's own
# request log has a stdout handler of its own (app.access_log).
_loggers = {
    "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stdout"], "propagate": False},
}
if accesslog in (None, "-"):
    # gunicorn's access log stays off unless asked for ("-": stdout; a path: that file).
    _loggers["gunicorn.access"] = {
        "level": "INFO",
        "handlers": ["stdout" if accesslog else "null"],
        "propagate": False,
    }


def _write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request its HTTP parser refused, as OpenAI's error envelope.

    gunicorn picks the status and closes the connection; only the page it writes (HTML by
    default) is replaced, so that clients parse every answer of the gateway the same way.
    """
    error = {
        "message": f"{reason}: {mesg}"[:300],
        "type": "invalid_request_error" if status_int < 500 else "server_error",
        "param": None,
        "code": None,
    }
    body = json.dumps({"error": error}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn_util.write_error = _write_error


class GatewayLogger(Logger):
    """gunicorn's logger, whose access log stays off unless GUNICORN_ACCESS_LOG asks for it.

    gunicorn counts any logging config as asking for access lines and would format one per
    request only to drop it (a measurable share of a worker's CPU).
    """

    def access(self, resp, req, environ, request_time) -> None:
        """One access line, only when GUNICORN_ACCESS_LOG is set."""
        if accesslog:
            super().access(resp, req, environ, request_time)


logger_class = GatewayLogger
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": loglevel.upper(), "handlers": ["stdout"]},
    "loggers": _loggers,
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "stream": "ext://sys.stdout",
        },
        "null": {"class": "logging.NullHandler"},
    },
    "formatters": {
        "generic": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s",
            "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
        },
    },
}
# The control socket defaults to one path per user, shared by every gunicorn on the machine;
# it is opened only when a path is given.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# The metrics folder this server created (removed at exit); None when the user chose one.
_created_metrics_dir = None


def on_starting(server) -> None:
    """Give prometheus-client an empty multiprocess folder before any worker starts."""
    global _created_metrics_dir
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        # Values of a previous run must not leak in: a fresh folder per server start.
        path = _created_metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)
    server.log.info("metrics: prometheus multiprocess files in %s", path)


def on_exit(server) -> None:
    """Remove the metrics folder this server created."""
    if _created_metrics_dir:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges (open streams) from the metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    """Resolve numeric upstream hosts inline, send each response's head with its first body
    bytes and keep-alive comments on quiet streams, return large freed buffers to the OS,
    keep the loaded app out of the garbage collector's full passes; on SIGTERM, also start
    the app's shutdown grace period for open streams."""
    from app import dns, malloc, response_writer, shutdown

    app = getattr(worker, "wsgi", None)
    settings = getattr(app, "config", {})
    dns.install()
    response_writer.install(keepalive=settings.get("STREAM_KEEPALIVE_SECONDS", 0.0))
    if not os.environ.get("MALLOC_MMAP_THRESHOLD_"):  # else glibc follows the user's value
        malloc.install()
    # What is loaded by now lives as long as the worker. Frozen, it is no longer walked by
    # every full collection, during which all the worker's streams wait: the longest pause
    # in a burst of 1,000 streams went from 38-47 ms to 12-16 ms.
    gc.collect()
    gc.freeze()

    stop_accepting = signal.getsignal(signal.SIGTERM)

    def on_term(sig, frame) -> None:
        if callable(stop_accepting):
            stop_accepting(sig, frame)
        if hasattr(app, "extensions"):
            shutdown.begin(app)

    signal.signal(signal.SIGTERM, on_term)
    # As gunicorn has it: SIGTERM must not interrupt system calls of running requests.
    signal.siginterrupt(signal.SIGTERM, False)


def worker_exit(server, worker) -> None:
    """Close the exiting worker's backends (pooled upstream connections) before it goes."""
    # The arbiter also calls this for workers that died; only the worker itself holds an app.
    app = getattr(worker, "wsgi", None)
    backends = getattr(app, "extensions", {}).get("gateway.backends")
    if backends is not None:
        backends.close()
        logging.getLogger("gunicorn.error").info("worker %s closed its backends", worker.pid)
