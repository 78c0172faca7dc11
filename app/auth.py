"""Client API keys: who is calling, checked in constant time, and what the key may do.

The key comes as `Authorization: Bearer <key>` (or Basic with the key as password).
Keys come from GATEWAY_API_KEYS (plain, named key-1, key-2, ...) and the optional keys file
(app.keys). A key from the file may be limited to some models and to a rate (app.ratelimit);
both are checked here, before the request reaches any backend.
"""

from __future__ import annotations

import binascii
import hmac
import logging
from typing import Any

from flask import Flask, current_app, g, request

from app import observe, ratelimit
from app.errors import (
    APIError,
    AuthenticationError,
    MissingAPIKeyError,
    ModelNotFoundError,
    PermissionDeniedError,
)
from app.keys import ClientKey, check_unique, digest, load_keys_file
from app.schemas import read_json_object

log = logging.getLogger(__name__)

# OpenAI's wording, so clients that match on it behave as with OpenAI; without its last
# sentence, which sends the reader to OpenAI's key page: the gateway's keys come from its operator.
_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username and password."
)
_WRONG_KEY = "Incorrect API key provided. Check the key you configured for this gateway."
_NOT_ALLOWED = "This API key is not allowed to use the model `{model}`."


class KeyStore:
    """The set of accepted client keys, matched by SHA-256 digest in constant time."""

    def __init__(self, keys: list[ClientKey]) -> None:
        self.keys = keys

    @classmethod
    def from_plain(cls, secrets: list[str]) -> KeyStore:
        """Build a store from plain-text keys (as given in GATEWAY_API_KEYS)."""
        return cls([ClientKey(f"key-{i + 1}", digest(s)) for i, s in enumerate(secrets)])

    @property
    def open(self) -> bool:
        """True when no key is configured and every caller is let in."""
        return not self.keys

    def match(self, token: str) -> ClientKey | None:
        """Return the key whose digest equals the token's, comparing every key."""
        wanted = digest(token)
        found = None
        for key in self.keys:
            # Visit every key so the time taken does not depend on which one matched.
            if hmac.compare_digest(key.digest, wanted):
                found = key
        return found


def presented_key() -> str | None:
    """The API key the current request carries, if any: a Bearer token or a Basic password."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "basic" and token:
        return _basic_password(token)
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _basic_password(credentials: str) -> str | None:
    """The password of Basic `credentials` when the username is blank, as OpenAI reads them."""
    try:
        decoded = binascii.a2b_base64(credentials, strict_mode=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII header text
        return None
    username, colon, password = decoded.partition(":")
    # A browser's login prompt sends "user:password"; OpenAI asks for the key as the password
    # with the username left blank, so anything else carries no key.
    if username or not colon or not password:
        return None
    return password


def require_api_key() -> None:
    """before_request hook for API blueprints: a configured key, its models and its limits."""
    store: KeyStore = current_app.extensions["gateway.keys"]
    token = presented_key()
    g.client_token = token
    g.client_key = None
    # Browsers send CORS preflights without credentials; they must not be refused.
    if store.open or request.method == "OPTIONS":
        return
    if token is None:
        raise MissingAPIKeyError(_MISSING_KEY)
    key = store.match(token)
    if key is None:
        raise AuthenticationError(_WRONG_KEY)
    g.client_key = key
    if request.method == "POST" and (key.models is not None or key.rpm or key.tpm):
        body = _json_body()
        observe.note_model(body)
        model = body.get("model")
        # The allow-list applies to the model the client asked for, not to its fallbacks.
        if isinstance(model, str) and not key.allows(model):
            raise PermissionDeniedError(
                _NOT_ALLOWED.format(model=model), param="model", code="model_not_allowed"
            )
        ratelimit.admit(key, body)


def _json_body() -> dict[str, Any]:
    """The JSON object the view will validate next; {} when the body is not one (it then 400s)."""
    # Read exactly as the view reads it: a body the key check could not see but the view
    # served would pass the model allow-list and the token estimate unchecked.
    try:
        return read_json_object()
    except APIError:
        return {}


def may_use(model_id: str) -> bool:
    """True when the current request's key may use `model_id` (any model without a key)."""
    key: ClientKey | None = g.get("client_key")
    return key is None or key.allows(model_id)


def hide_unless_allowed(model_id: str) -> None:
    """404 `model_not_found` for a model the current key may not use, as if it did not exist."""
    if not may_use(model_id):
        raise ModelNotFoundError(model_id)


def init_app(app: Flask) -> None:
    """Load the accepted keys and their default limits; warn when the gateway is open to anyone."""
    keys = KeyStore.from_plain(app.config.get("GATEWAY_API_KEYS") or []).keys
    where = "GATEWAY_API_KEYS"
    if app.config.get("KEYS_FILE"):
        keys += load_keys_file(app.config["KEYS_FILE"])
        where += f" and keys file {app.config['KEYS_FILE']}"
    check_unique(keys, where)
    rpm = int(app.config.get("RATE_LIMIT_RPM") or 0)
    tpm = int(app.config.get("RATE_LIMIT_TPM") or 0)
    store = KeyStore([key.with_defaults(rpm, tpm) for key in keys])
    app.extensions["gateway.keys"] = store
    if store.open:
        log.warning(
            "GATEWAY_API_KEYS is empty and no KEYS_FILE is set: "
            "the gateway accepts requests without an API key"
        )
