"""Trust X-Forwarded-* headers from a configured number of reverse proxies, and only then."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Wrap the WSGI app in ProxyFix when `TRUST_PROXY_HOPS` is above zero.

    Each trusted hop contributes one value to X-Forwarded-For, -Proto and -Host; values a
    client added before the first trusted proxy are ignored. X-Forwarded-Port and -Prefix are
    never trusted: the bundled nginx config does not set them, so a client could.
    """
    hops = int(app.config.get("TRUST_PROXY_HOPS") or 0)
    if hops < 0:
        raise ValueError(f"TRUST_PROXY_HOPS must be 0 or more, not {hops}")
    if hops == 0:
        return
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    log.info("trusting X-Forwarded-For/-Proto/-Host from %d proxy hop(s)", hops)
