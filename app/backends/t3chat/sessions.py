"""One pooled HTTP session per t3.chat credential set, in a bounded LRU cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from app.backends.http import UpstreamHTTP
from app.backends.t3chat.credentials import Credentials

DEFAULT_MAX_SESSIONS = 64


class SessionPool:
    """Keep-alive sessions keyed by a hash of the credentials, least recently used evicted.

    A session per credential set keeps each account's cookie header (a default header of that
    session only) away from every other account; like every upstream session, it stores no
    cookie the server sets.
    """

    def __init__(self, name: str, base_url: str, options: Mapping[str, Any]) -> None:
        self.name = name
        self.base_url = base_url
        self.options = dict(options)
        self.max_sessions = max(1, int(self.options.get("max_sessions", DEFAULT_MAX_SESSIONS)))
        self._sessions: OrderedDict[str, UpstreamHTTP] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, credentials: Credentials) -> UpstreamHTTP:
        """The session for these credentials, created on first use."""
        key = credentials.fingerprint
        with self._lock:
            session = self._sessions.get(key)
            if session is not None:
                self._sessions.move_to_end(key)
                return session
            session = self._new_session(credentials)
            self._sessions[key] = session
            evicted = []
            while len(self._sessions) > self.max_sessions:
                evicted.append(self._sessions.popitem(last=False)[1])
        # Closing only drops idle connections; a stream still reading keeps its own socket.
        for old in evicted:
            old.close()
        return session

    def __len__(self) -> int:
        return len(self._sessions)

    def close(self) -> None:
        """Close every cached session."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), OrderedDict()
        for session in sessions:
            session.close()

    def _new_session(self, credentials: Credentials) -> UpstreamHTTP:
        headers = {**(self.options.get("headers") or {}), "Cookie": credentials.cookies}
        pool_size = int(self.options.get("pool_size", 10))
        options = {**self.options, "headers": headers, "pool_size": pool_size}
        return UpstreamHTTP(self.name, self.base_url, options)
