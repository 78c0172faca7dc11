"""t3.chat credentials: server-side settings first, else a `<cookies>:<convexSessionId>` key."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.errors import AuthenticationError

MISSING_CREDENTIALS = (
    "No t3.chat credentials. Set COOKIES and CONVEX_SESSION_ID on the gateway, or send an API "
    "key of the form `<cookies>:<convexSessionId>` (Authorization: Bearer ...); the gateway "
    "must then run without GATEWAY_API_KEYS."
)
REDACTED = "[redacted]"
# Cookie values shorter than this are too common (e.g. `1`, `true`) to scrub from text safely.
_MIN_SECRET_LEN = 6
_COOKIE_PAIR = re.compile(r"\s*([^=;\s]+)\s*=\s*([^;]*)")


@dataclass(frozen=True)
class Credentials:
    """A t3.chat session: the browser's cookie header and its Convex session id.

    Neither value ever appears in `repr()`, so a traceback or a log line cannot leak them.
    """

    cookies: str = field(repr=False)
    session_id: str = field(repr=False)
    source: str = "key"

    @property
    def fingerprint(self) -> str:
        """A stable, non-reversible key for caching per-credential state."""
        digest = hashlib.sha256(f"{self.cookies}\0{self.session_id}".encode())
        return digest.hexdigest()

    def secrets(self) -> list[str]:
        """Every substring that must never leave the gateway: whole values and cookie values."""
        values = [self.cookies, self.session_id]
        values += [m.group(2).strip() for m in _COOKIE_PAIR.finditer(self.cookies)]
        return sorted({v for v in values if len(v) >= _MIN_SECRET_LEN}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """`text` with every credential value replaced by a placeholder."""
        for secret in self.secrets():
            text = text.replace(secret, REDACTED)
        return text


def from_settings(settings: Mapping[str, Any]) -> Credentials | None:
    """The server-side credentials, when both COOKIES and CONVEX_SESSION_ID are set."""
    cookies = str(settings.get("T3_COOKIES") or "").strip()
    session_id = str(settings.get("T3_CONVEX_SESSION_ID") or "").strip()
    if cookies and session_id:
        return Credentials(cookies, session_id, source="settings")
    return None


def from_token(token: str | None) -> Credentials | None:
    """Credentials from a bearer key, split on its last colon (cookie values contain colons)."""
    if not token:
        return None
    cookies, sep, session_id = token.rpartition(":")
    cookies, session_id = cookies.strip(), session_id.strip()
    if not sep or not cookies or not session_id:
        return None
    return Credentials(cookies, session_id, source="key")


def resolve(settings: Mapping[str, Any], token: str | None) -> Credentials:
    """The credentials for one call; a 401 that says how to provide them when there are none."""
    credentials = from_settings(settings) or from_token(token)
    if credentials is None:
        raise AuthenticationError(MISSING_CREDENTIALS)
    return credentials


def partially_configured(settings: Mapping[str, Any]) -> bool:
    """True when exactly one of COOKIES and CONVEX_SESSION_ID is set (a likely mistake)."""
    cookies = bool(str(settings.get("T3_COOKIES") or "").strip())
    session_id = bool(str(settings.get("T3_CONVEX_SESSION_ID") or "").strip())
    return cookies != session_id
