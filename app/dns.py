"""Name resolution in gevent workers: numeric addresses never wait for the resolver's threads."""

from __future__ import annotations

import _socket
from typing import Any

from gevent.resolver.thread import Resolver as ThreadResolver


class NumericFirstResolver(ThreadResolver):
    """gevent's thread-pool resolver, except for hosts written as IP addresses.

    Every new upstream connection resolves its host. For `127.0.0.1` or `10.0.0.5` (a local
    vLLM or Ollama) that is a parse, not a lookup, so it runs inline instead of paying a hop
    to a native thread and back; names still go to the thread pool and never block the worker.
    """

    def getaddrinfo(
        self,
        host: Any,
        port: Any,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, ...]]:
        """Addresses for `host`, resolved inline when it is a numeric address."""
        if _numeric(host):
            return _socket.getaddrinfo(
                host, port, family, type, proto, flags | _socket.AI_NUMERICHOST
            )
        return super().getaddrinfo(host, port, family, type, proto, flags)


def _numeric(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str) or not host:
        return False
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host.split("%", 1)[0])
        except OSError:
            continue
        return True
    return False


def install() -> bool:
    """Use NumericFirstResolver in this process's gevent hub, if gevent patched the socket
    module (gunicorn's gevent worker); returns whether it did."""
    from gevent import get_hub, monkey

    if not monkey.is_module_patched("socket"):
        return False
    hub = get_hub()
    hub.resolver = NumericFirstResolver(hub)
    return True
