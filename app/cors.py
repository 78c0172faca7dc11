"""CORS for browser clients: allowed origins, readable response headers, cached preflights."""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

# Headers the gateway sends that browser code must be able to read; none is CORS-safelisted.
# openai-node takes its request id from x-request-id and its 429 back-off from retry-after(-ms).
EXPOSED_HEADERS = (
    "X-Request-ID",
    "Retry-After",
    "Retry-After-Ms",
    "X-Ratelimit-Limit-Requests",
    "X-Ratelimit-Remaining-Requests",
    "X-Ratelimit-Reset-Requests",
    "X-Ratelimit-Limit-Tokens",
    "X-Ratelimit-Remaining-Tokens",
    "X-Ratelimit-Reset-Tokens",
    "X-Gateway-Backend",
)


def init_app(app: Flask) -> None:
    """Answer preflights and add CORS headers by CORS_ORIGINS and CORS_MAX_AGE."""
    # The default "*" is sent as "*", never as the caller's Origin, and never with credentials.
    # A request without Origin is no CORS request (SDKs, curl, servers): it gets no CORS
    # headers, which saves every such request the work of adding them.
    CORS(
        app,
        origins=app.config["CORS_ORIGINS"],
        supports_credentials=False,
        send_wildcard=True,
        always_send=False,
        expose_headers=list(EXPOSED_HEADERS),
        # 0 sends no Access-Control-Max-Age: browsers then keep a preflight for 5 s only.
        max_age=app.config["CORS_MAX_AGE"] or None,
    )
