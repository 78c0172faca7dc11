"""Numeric upstream hosts are resolved inline; names still go to gevent's resolver threads."""

from __future__ import annotations

import socket

import pytest
from gevent.hub import Hub

from app import dns


class Pool:
    """Stands in for gevent's thread pool: records what would have gone to a native thread."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def apply(self, func, args, kwargs=None):
        self.calls.append(args)
        return [("looked-up", args[0])]


@pytest.fixture
def resolver() -> dns.NumericFirstResolver:
    resolver = dns.NumericFirstResolver.__new__(dns.NumericFirstResolver)
    resolver.pool = Pool()
    return resolver


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.5", "::1", "fe80::1%1", b"127.0.0.1"])
def test_numeric_hosts_never_reach_the_thread_pool(resolver, host):
    answer = resolver.getaddrinfo(host, 8000, 0, socket.SOCK_STREAM)
    assert resolver.pool.calls == []
    assert answer and all(entry[1] == socket.SOCK_STREAM for entry in answer)
    expected = host.decode() if isinstance(host, bytes) else host
    assert answer[0][4][0] == expected.split("%")[0]


@pytest.mark.parametrize("host", ["localhost", "api.openai.com", "", None, "1.2.3.4.example"])
def test_names_go_to_the_thread_pool(resolver, host):
    assert resolver.getaddrinfo(host, 443) == [("looked-up", host)]
    assert resolver.pool.calls == [(host, 443, 0, 0, 0, 0)]


def test_install_only_in_a_gevent_patched_process(monkeypatch):
    from gevent import monkey

    monkeypatch.setattr(monkey, "is_module_patched", lambda name: False)
    assert dns.install() is False
    hub = Hub()
    monkeypatch.setattr(monkey, "is_module_patched", lambda name: name == "socket")
    monkeypatch.setattr("gevent.get_hub", lambda: hub)
    try:
        assert dns.install() is True
        assert isinstance(hub.resolver, dns.NumericFirstResolver)
    finally:
        hub.destroy(destroy_loop=True)
