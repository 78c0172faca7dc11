"""Settings read from the environment (and an optional .env file) into a plain mapping."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

CONFIG_DIR = Path(__file__).resolve().parent
# The project's own .env, next to wsgi.py, wherever the process was started from; gunicorn's
# settings (config/gunicorn.conf.py) read the same file.
DOTENV_FILE = CONFIG_DIR.parent / ".env"
_dotenv_loaded = False


def _load_dotenv_once() -> None:
    """Load the project's `.env` a single time per process; real environment variables win."""
    global _dotenv_loaded
    if not _dotenv_loaded:
        load_dotenv(DOTENV_FILE, override=False)
        _dotenv_loaded = True


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _seconds(name: str, default: float) -> float:
    value = _float(name, default)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a number of seconds, 0 or more (got {value})")
    return value


def _list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    return raw in ("1", "true", "yes", "on") if raw else default


def secret_from_env(name: str | None) -> str | None:
    """The value of the environment variable a models file names for a provider key."""
    if not name:
        return None
    _load_dotenv_once()
    return os.environ.get(name) or None


# Environment variables whose values are secrets by their name (scrubbed from logs).
_SECRET_SUFFIXES = ("_KEY", "_KEYS", "_TOKEN", "_SECRET", "_PASSWORD", "COOKIES", "_SESSION_ID")


def secret_env_values() -> list[str]:
    """Values of environment variables named like secrets (`*_KEY`, `*_TOKEN`, ...), split on
    commas as GATEWAY_API_KEYS lists them."""
    _load_dotenv_once()
    values = []
    for name, value in os.environ.items():
        if name.upper().endswith(_SECRET_SUFFIXES):
            values += [part.strip() for part in value.split(",") if part.strip()]
    return values


def tiktoken_cache_dir() -> str:
    """The folder tiktoken reads encoding files from, by tiktoken's own rule ("" disables it)."""
    for name in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if name in os.environ:
            return os.environ[name]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def load_settings() -> dict[str, Any]:
    """Return the gateway settings from the environment, with defaults for everything."""
    _load_dotenv_once()
    return {
        # Client keys the gateway accepts (Authorization: Bearer ...); empty means open.
        "GATEWAY_API_KEYS": _list("GATEWAY_API_KEYS"),
        # Optional YAML keys file: named keys (SHA-256 or env var), model allow-lists, limits.
        "KEYS_FILE": os.environ.get("KEYS_FILE", "").strip(),
        # Default per-key limits for keys that set none (plain keys too); 0 means no limit.
        "RATE_LIMIT_RPM": _int("RATE_LIMIT_RPM", 0),
        "RATE_LIMIT_TPM": _int("RATE_LIMIT_TPM", 0),
        # Length of a key's rate-limit window; the limits are per window (60 s: per minute).
        "RATE_LIMIT_WINDOW_SECONDS": _float("RATE_LIMIT_WINDOW_SECONDS", 60.0),
        # Share the windows through Redis (every worker and instance); empty: per process.
        "REDIS_URL": os.environ.get("REDIS_URL", "").strip(),
        "REDIS_TIMEOUT_SECONDS": _float("REDIS_TIMEOUT_SECONDS", 0.5),
        # Redis unreachable: admit requests and log an error (true), or answer 503 (false).
        "RATE_LIMIT_FAIL_OPEN": _bool("RATE_LIMIT_FAIL_OPEN", True),
        # YAML file that maps model ids to backends.
        "MODELS_FILE": os.environ.get("MODELS_FILE") or str(CONFIG_DIR / "models.yaml"),
        # Largest accepted request body, in bytes (Flask answers 413 above it).
        "MAX_CONTENT_LENGTH": _int("GATEWAY_MAX_BODY_BYTES", 8 * 1024 * 1024),
        # Upper bound for `n` (choices per request).
        "GATEWAY_MAX_N": _int("GATEWAY_MAX_N", 16),
        # Upper bound for the number of messages in one chat request.
        "GATEWAY_MAX_MESSAGES": _int("GATEWAY_MAX_MESSAGES", 2048),
        # Deepest nesting of arrays and objects in a request body (the body itself is 1).
        "GATEWAY_MAX_JSON_DEPTH": _int("GATEWAY_MAX_JSON_DEPTH", 64),
        # Origins allowed by CORS ("*" by default, never with credentials).
        "CORS_ORIGINS": _list("CORS_ORIGINS") or ["*"],
        # Seconds browsers may reuse a preflight answer (0: not sent; Chromium caps it at 7200).
        "CORS_MAX_AGE": _int("CORS_MAX_AGE", 7200),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        # Seconds to sleep before a retry: base * 2**attempt, with jitter, capped.
        "RETRY_BACKOFF_BASE": _float("GATEWAY_RETRY_BACKOFF", 0.25),
        "RETRY_BACKOFF_MAX": _float("GATEWAY_RETRY_BACKOFF_MAX", 8.0),
        # Server-side t3.chat credentials (experimental backend); they win over client keys.
        "T3_COOKIES": os.environ.get("COOKIES", ""),
        "T3_CONVEX_SESSION_ID": os.environ.get("CONVEX_SESSION_ID", ""),
        # Proxies in front of the gateway whose X-Forwarded-* headers are trusted (0: none).
        "TRUST_PROXY_HOPS": _int("TRUST_PROXY_HOPS", 0),
        # GET /metrics (Prometheus); with a token, scrapers must send `Authorization: Bearer`.
        "METRICS_ENABLED": _bool("METRICS_ENABLED", True),
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        # On SIGTERM, open streams get this long to finish before they end with an error event.
        "SHUTDOWN_GRACE_SECONDS": _float("SHUTDOWN_GRACE_SECONDS", 25.0),
        # A stream quiet this long gets an SSE comment, so that proxies and load balancers
        # that drop idle connections (Heroku's router, cloud load balancers) keep it (0: off).
        "STREAM_KEEPALIVE_SECONDS": _seconds("STREAM_KEEPALIVE_SECONDS", 15.0),
        # Request log lines on stdout: "json" (one object per line) or "text" (key=value).
        "LOG_FORMAT": (os.environ.get("LOG_FORMAT") or "json").strip().lower(),
    }
