"""gunicorn settings for the gateway (used by the Procfile and the Docker image)."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
# gevent lets one worker hold thousands of open streams; each stream is a greenlet, not a thread.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
workers = int(os.environ.get("WEB_CONCURRENCY") or min(multiprocessing.cpu_count() * 2, 8))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "2000"))
# With gevent the timeout only catches a worker that stopped scheduling, never a long stream.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
