"""X-Forwarded-* headers count only with TRUST_PROXY_HOPS, and only as many hops as set."""

from __future__ import annotations

import pytest
from flask import jsonify, request

from app import create_app

FORWARDED = {
    "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "api.example.com",
    "X-Forwarded-Port": "1234",
    "X-Forwarded-Prefix": "/evil",
}


def seen(config: dict, hops: int) -> dict:
    """What the app sees of a request that came with FORWARDED headers from 10.0.0.1."""
    app = create_app({**config, "TRUST_PROXY_HOPS": hops})
    app.add_url_rule(
        "/_seen",
        "seen",
        lambda: jsonify(
            addr=request.remote_addr,
            scheme=request.scheme,
            host=request.host,
            root=request.root_path,
        ),
    )
    response = app.test_client().get(
        "/_seen", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    return response.get_json()


def test_headers_ignored_by_default(config):
    assert seen(config, 0) == {
        "addr": "10.0.0.1",
        "scheme": "http",
        "host": "localhost",
        "root": "",
    }


def test_one_hop_takes_the_address_the_proxy_saw(config):
    result = seen(config, 1)
    assert result["addr"] == "203.0.113.9"
    assert (result["scheme"], result["host"]) == ("https", "api.example.com")
    # nginx does not set these, so a client could: never trusted.
    assert result["root"] == ""


def test_two_hops_reach_further_back(config):
    assert seen(config, 2)["addr"] == "198.51.100.7"


def test_negative_hops_stop_start_up(config):
    with pytest.raises(ValueError, match="TRUST_PROXY_HOPS"):
        create_app({**config, "TRUST_PROXY_HOPS": -1})
