"""Talking to the gateway in front of the endless fake upstream (tests/fakes/endless_stream.py):
raw requests, the fake's record of a stream, and polling."""

from __future__ import annotations

import json
import time

import requests

KEY = "sk-gateway-disconnect-client"


def raw_request(body: dict) -> bytes:
    """One HTTP/1.1 chat request, as bytes."""
    data = json.dumps(body).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def state(endless, name: str) -> dict:
    """The fake's record of stream `name`: its state, chunks sent, requests and port."""
    return requests.get(f"{endless.url}/streams/{name}", timeout=5).json()


def wait_for(check, seconds: float = 10.0) -> bool:
    """Poll `check` until it is true or `seconds` passed (generous for a loaded machine)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return False
