"""The benchmark's yardstick: a bare Flask + `requests` pass-through, measured in the same run.

No validation, client keys, routing, metrics, logging or error shaping: each POST to
/v1/chat/completions goes to BARE_UPSTREAM with one pooled `requests.Session`, and the answer
(or the stream, chunk by chunk as it arrives) comes back as is. The session reads no proxy
settings from the environment (`trust_env` off), as the gateway's sessions do: left on, it
looks them up on every request, which costs about a fifth of the relay's CPU.
bench/run.py serves it with gunicorn and 2 gevent workers, as it serves the gateway, so the
two can be compared within one run on the same machine.
"""

import os

import requests
from flask import Flask, Response, request

app = Flask(__name__)
session = requests.Session()
session.trust_env = False
UPSTREAM = os.environ.get("BARE_UPSTREAM", "http://127.0.0.1:9100") + "/v1/chat/completions"
HEADERS = {"Authorization": "Bearer " + os.environ.get("BARE_UPSTREAM_KEY", "none")}


@app.post("/v1/chat/completions")
def relay() -> Response:
    """Send the body upstream; return the answer, streamed when the upstream streams."""
    upstream = session.post(
        UPSTREAM,
        data=request.get_data(),
        headers={**HEADERS, "Content-Type": "application/json"},
        stream=True,
        timeout=(5, 60),
    )
    kind = upstream.headers.get("Content-Type", "application/json")
    if kind.startswith("text/event-stream"):
        return Response(upstream.iter_content(None), upstream.status_code, content_type=kind)
    return Response(upstream.content, upstream.status_code, content_type=kind)
