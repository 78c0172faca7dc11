"""Whether this process runs under gevent (as in gunicorn's gevent worker)."""

from __future__ import annotations

import sys


def patched() -> bool:
    """True when gevent has patched `socket`: blocking calls then yield to other greenlets,
    and gevent's loop can watch sockets and run timers beside the requests."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("socket"))
