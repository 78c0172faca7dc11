"""Client API keys: `Authorization: Bearer <key>` checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from flask import Flask, current_app, g, request

from app.errors import AuthenticationError

log = logging.getLogger(__name__)

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_WRONG_KEY = "Incorrect API key provided. Check the key you configured for this gateway."


@dataclass(frozen=True)
class ClientKey:
    """A key the gateway accepts; only its name and SHA-256 digest are kept."""

    name: str
    digest: bytes


class KeyStore:
    """The set of accepted client keys, matched by SHA-256 digest in constant time."""

    def __init__(self, keys: list[ClientKey]) -> None:
        self.keys = keys

    @classmethod
    def from_plain(cls, secrets: list[str]) -> KeyStore:
        """Build a store from plain-text keys (as given in GATEWAY_API_KEYS)."""
        return cls([ClientKey(f"key-{i + 1}", _digest(s)) for i, s in enumerate(secrets)])

    @property
    def open(self) -> bool:
        """True when no key is configured and every caller is let in."""
        return not self.keys

    def match(self, token: str) -> ClientKey | None:
        """Return the key whose digest equals the token's, comparing every key."""
        digest = _digest(token)
        found = None
        for key in self.keys:
            # Visit every key so the time taken does not depend on which one matched.
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def bearer_token() -> str | None:
    """The bearer token of the current request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_api_key() -> None:
    """before_request hook for API blueprints: admit only configured keys."""
    store: KeyStore = current_app.extensions["gateway.keys"]
    token = bearer_token()
    g.client_token = token
    g.client_key = None
    # Browsers send CORS preflights without credentials; they must not be refused.
    if store.open or request.method == "OPTIONS":
        return
    if token is None:
        raise AuthenticationError(_MISSING_KEY)
    key = store.match(token)
    if key is None:
        raise AuthenticationError(_WRONG_KEY)
    g.client_key = key


def init_app(app: Flask) -> None:
    """Load the accepted keys; warn when the gateway is open to anyone."""
    store = KeyStore.from_plain(app.config.get("GATEWAY_API_KEYS") or [])
    app.extensions["gateway.keys"] = store
    if store.open:
        log.warning("GATEWAY_API_KEYS is empty: the gateway accepts requests without an API key")
