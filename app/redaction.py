"""Secrets scrubbed from every log record, exception traces included, before any handler runs.

The secrets are the provider keys and client keys the gateway knows of (environment variables
named like secrets, those that the models file and the keys file name, GATEWAY_API_KEYS) and,
during a request, the bearer token the client sent. Values shorter than `MIN_LENGTH` are left
alone: scrubbing them would garble ordinary words.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import yaml
from flask import Flask, g, has_request_context

import config
from app.routing import load_models_file

MIN_LENGTH = 8
MASK = "***"
_SECRETS: set[str] = set()
_previous_factory: Any = None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret in `secrets` replaced by `***`."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def current_secrets() -> list[str]:
    """The secrets known now: the app's, and during a request the client's bearer token."""
    secrets = list(_SECRETS)
    if has_request_context():
        token = g.get("client_token")
        if token and len(token) >= MIN_LENGTH:
            secrets.append(token)
    return secrets


def shown(text: str, limit: int) -> str:
    """`text` scrubbed of the secrets known now, then cut to `limit` characters.

    In this order: a secret cut in two would no longer be found, and its first part would stay.
    """
    return scrub(text, current_secrets())[:limit]


def _scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """The log record factory: the standard record, with its message and trace scrubbed."""
    record = _previous_factory(*args, **kwargs)
    secrets = current_secrets()
    if not secrets:
        return record
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return record  # a malformed call; logging reports it as it always does
    if any(secret in message for secret in secrets):
        record.msg, record.args = scrub(message, secrets), ()
    if record.exc_info and record.exc_info[0] is not None:
        # Formatters reuse `exc_text` when it is set: the trace is formatted once, scrubbed.
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), secrets)
    return record


def _keys_file_variables(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError):
        return []  # app.keys reports an unreadable file
    entries = data.get("keys") if isinstance(data, dict) else None
    return [
        entry["key_env"]
        for entry in entries or ()
        if isinstance(entry, dict) and isinstance(entry.get("key_env"), str)
    ]


def _models_file_variables(app: Flask) -> list[str]:
    try:
        data = app.config.get("MODELS") or load_models_file(app.config["MODELS_FILE"])
    except (OSError, ValueError, yaml.YAMLError):
        return []  # app.gateway reports an unreadable file
    names = []
    for spec in (data.get("backends") or {}).values():
        for option, value in (spec or {}).items() if isinstance(spec, dict) else ():
            if str(option).endswith("_env") and isinstance(value, str):
                names.append(value)
    return names


def collect(app: Flask) -> set[str]:
    """Every secret this app knows of, from its settings, environment and config files."""
    values = list(config.secret_env_values())
    values += [str(key) for key in app.config.get("GATEWAY_API_KEYS") or ()]
    for name in ("METRICS_TOKEN", "T3_COOKIES", "T3_CONVEX_SESSION_ID"):
        values.append(str(app.config.get(name) or ""))
    names = _models_file_variables(app)
    if app.config.get("KEYS_FILE"):
        names += _keys_file_variables(app.config["KEYS_FILE"])
    values += [config.secret_from_env(name.strip()) or "" for name in names]
    return {value for value in values if len(value) >= MIN_LENGTH}


def init_app(app: Flask) -> None:
    """Scrub this app's secrets from every log record of the process."""
    global _previous_factory
    _SECRETS.update(collect(app))
    if _previous_factory is None:
        _previous_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_scrubbed_record)
