# The gateway image: slim Python, non-root user, gunicorn as PID 1 running the Procfile's command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# Metrics files go to a fresh folder under /tmp at each start (config/gunicorn.conf.py).
RUN useradd --create-home --uid 10001 gateway
USER gateway

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/health', timeout=2)"

# exec: gunicorn replaces the shell and receives SIGTERM directly (graceful shutdown).
CMD ["sh", "-c", "exec gunicorn -c config/gunicorn.conf.py wsgi:app"]
