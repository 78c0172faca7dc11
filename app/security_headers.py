"""Security headers on every response: no MIME sniffing, no framing, no referrer, no content.

The gateway serves JSON and event streams only, so the strictest browser policy fits every
page, the API's included.
"""

from __future__ import annotations

from flask import Flask, Response

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def _add_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in HEADERS.items():
        if name not in headers:
            headers[name] = value
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response, errors and streams included."""
    app.after_request(_add_headers)
