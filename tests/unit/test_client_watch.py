"""The client watch: a connection's end interrupts the armed wait; other bytes are left alone."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import gevent
import gevent.socket
import pytest

from app import client_watch
from app.client_watch import ClientClosedRequest, ClientGone, ClientWatch


@pytest.fixture(autouse=True)
def own_hub() -> Iterator[None]:
    """A gevent hub (and event loop) for this test only, as the worker process has its own."""
    yield
    gevent.get_hub().destroy(destroy_loop=True)


@pytest.fixture
def connection() -> Iterator[tuple[gevent.socket.socket, socket.socket]]:
    """Both ends of a connection: the server's as gunicorn's gevent worker has it, the client's."""
    server, client = gevent.socket.socketpair()
    yield server, client
    # Closed through gevent, which tells its event loop: libev must not meet a stale fd.
    server.close()
    client.close()


def waiting(watch: ClientWatch, seconds: float = 5.0) -> gevent.Greenlet:
    """A greenlet that arms `watch` and sleeps; its value is what ended the sleep."""

    def wait() -> str:
        try:
            watch.arm()
            gevent.sleep(seconds)
        except ClientGone:
            return "client gone"
        return "slept"

    return gevent.spawn(wait)


@pytest.fixture
def pair(connection) -> tuple[socket.socket, socket.socket]:
    """The OS socket inside the server's end, and the client's end."""
    server, client = connection
    return server._sock, client


def test_a_client_that_ends_its_connection_interrupts_the_armed_wait(pair):
    ours, client = pair
    watch = ClientWatch.start(ours)
    sleeper = waiting(watch)
    gevent.sleep(0.01)
    client.close()
    assert sleeper.get(timeout=2) == "client gone"
    assert watch.gone
    watch.close()


def test_a_pipelined_request_ends_the_watch_without_interrupting(pair):
    ours, client = pair
    watch = ClientWatch.start(ours)
    sleeper = waiting(watch, seconds=0.2)
    gevent.sleep(0.01)
    client.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")
    gevent.sleep(0.01)
    client.close()  # too late: the watch ended at the first bytes
    assert sleeper.get(timeout=2) == "slept"
    assert not watch.gone
    # The bytes are still there for the server.
    assert ours.recv(4) == b"POST"
    watch.close()


def test_empty_lines_after_a_body_are_dropped_and_the_watch_goes_on(pair):
    ours, client = pair
    watch = ClientWatch.start(ours)
    sleeper = waiting(watch)
    gevent.sleep(0.01)
    client.sendall(b"\r\n")  # sent by some clients after a body; no request
    gevent.sleep(0.05)
    assert not watch.gone
    client.close()
    assert sleeper.get(timeout=2) == "client gone"
    watch.close()


def test_an_end_seen_while_disarmed_is_raised_by_the_next_arm(pair):
    ours, client = pair
    watch = ClientWatch.start(ours)
    client.close()
    gevent.sleep(0.01)
    assert watch.gone
    with pytest.raises(ClientGone):
        watch.arm()
    watch.close()
    watch.close()  # idempotent


def test_upstream_wait_ends_with_a_499_when_the_client_leaves(pair, monkeypatch):
    ours, client = pair
    monkeypatch.setattr(ClientWatch, "of", classmethod(lambda cls, environ: cls.start(ours)))

    def request() -> BaseException | None:
        try:
            with client_watch.upstream_wait({}):
                gevent.sleep(5)
        except ClientClosedRequest as exc:
            return exc
        return None

    handler = gevent.spawn(request)
    gevent.sleep(0.01)
    client.close()
    error = handler.get(timeout=2)
    assert isinstance(error, ClientClosedRequest)
    assert (error.status, error.code) == (499, "client_closed_request")


def test_no_watch_without_gevent_or_a_server_socket(connection, monkeypatch):
    server, _ = connection
    assert ClientWatch.of({}) is None
    # This test process has not been patched by gevent, unlike a gunicorn gevent worker.
    assert ClientWatch.of({"gunicorn.socket": server}) is None
    with client_watch.upstream_wait({}):
        pass
    monkeypatch.setattr("gevent.monkey.is_module_patched", lambda module: True)
    watch = ClientWatch.of({"gunicorn.socket": server})
    assert isinstance(watch, ClientWatch)
    watch.close()


def test_no_watch_of_a_connection_the_server_encrypts(connection, monkeypatch):
    server, _ = connection
    monkeypatch.setattr("gevent.monkey.is_module_patched", lambda module: True)

    class Encrypted:
        """What matters of gevent's SSLSocket here: the OS socket inside, and a handshake."""

        _sock = server._sock

        def do_handshake(self) -> None:
            """TLS's handshake."""

    assert ClientWatch.of({"gunicorn.socket": Encrypted()}) is None
