"""A client that leaves while its request waits on a quiet upstream: the upstream is let go at once.

The upstream (tests/fakes/endless_stream.py) watches its own connection while it is silent, so
it sees the gateway close it during the silence, not at its next write.
"""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest

from tests.support.endless import KEY, raw_request, state, wait_for
from tests.support.gateway_log import entry_for, request_lines
from tests.support.servers import start_gateway

pytestmark = pytest.mark.slow

HI = [{"role": "user", "content": "Think hard"}]
# Far longer than any wait below: an upstream still open after a few seconds was not let go.
QUIET = 60


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, endless):
    """The gateway in front of the endless fake, plus the mock for pipelined requests."""
    models = {
        "backends": {
            "endless": {"type": "openai", "base_url": f"{endless.url}/v1"},
            "mock": {"type": "mock", "chunk_delay": 0.2},
        },
        "models": [
            {"id": "endless", "backend": "endless"},
            {"id": "endless-retried", "backend": "endless", "retries": 1},
            {"id": "gpt-4o", "backend": "mock"},
        ],
    }
    env = {"GATEWAY_API_KEYS": KEY, "GUNICORN_GRACEFUL_TIMEOUT": "2"}
    server = start_gateway(tmp_path_factory.mktemp("disconnect"), models, env=env)
    yield server
    server.stop()


def hang_up_during(gateway, endless, body: dict, read_until: bytes | None = None) -> str:
    """Send `body` named by a fresh `user`, read up to `read_until`, close; the stream's name."""
    name = f"quiet-{uuid.uuid4().hex[:8]}"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(raw_request({**body, "user": name}))
        assert wait_for(lambda: state(endless, name)["state"] == "open")
        received = b""
        while read_until is not None and read_until not in received:
            received += sock.recv(65536)
    return name


@pytest.mark.parametrize(
    "quiet",
    [
        pytest.param({"stream": True, "pause_before": QUIET}, id="stream-before-first-event"),
        pytest.param({"stream": True, "pause_between": QUIET}, id="stream-between-events"),
        pytest.param(
            {"stream": True, "pause_before": QUIET, "headers_first": True, "media": "text/plain"},
            id="untyped-stream-before-its-first-bytes",
        ),
        pytest.param({"stream": False, "pause_before": QUIET}, id="plain-answer"),
    ],
)
def test_a_client_that_leaves_a_quiet_upstream_closes_it_at_once(gateway, endless, quiet):
    body = {"model": "endless", "messages": HI, **quiet}
    read_until = b"data:" if "pause_between" in quiet else None
    name = hang_up_during(gateway, endless, body, read_until)
    # Without the watch the upstream stays open for the whole silence (60 s).
    assert wait_for(lambda: state(endless, name)["state"] == "closed")
    assert state(endless, name)["sent"] == 0


def test_no_retry_is_sent_for_a_client_that_left(gateway, endless):
    body = {"model": "endless-retried", "messages": HI, "status": 429}
    name = f"retry-{uuid.uuid4().hex[:8]}"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(raw_request({**body, "user": name}))
        # The first attempt's 429 asks for a 2 s wait before the retry.
        assert wait_for(lambda: state(endless, name).get("requests") == 1)
    assert wait_for(lambda: any(line.get("status") == 499 for line in request_lines(gateway)))
    time.sleep(3)  # past the Retry-After wait
    assert state(endless, name)["requests"] == 1


def test_a_pipelined_request_is_no_disconnect(gateway):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hi"}]}
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(raw_request({**body, "stream": True}))
        received = b""
        while b"data:" not in received:
            received += sock.recv(65536)
        # The next request arrives while the stream waits for its next event (0.2 s apart):
        # readable bytes on the connection, which are no hang-up.
        sock.sendall(raw_request(body))
        while not complete_second_answer(received):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    _, streamed, plain = received.split(b"HTTP/1.1 ")
    assert streamed.startswith(b"200") and b"data: [DONE]" in streamed
    assert plain.startswith(b"200")
    assert json.loads(plain.partition(b"\r\n\r\n")[2])["object"] == "chat.completion"


def test_a_stream_cut_for_a_half_closed_client_does_not_end_as_complete(gateway, endless):
    name = f"half-{uuid.uuid4().hex[:8]}"
    body = {"model": "endless", "messages": HI, "stream": True, "pause_between": QUIET}
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(raw_request({**body, "user": name}))
        received = b""
        while b"data:" not in received:
            received += sock.recv(65536)
        sock.shutdown(socket.SHUT_WR)  # done sending, still reading: gone, as nginx has it
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    assert wait_for(lambda: state(endless, name)["state"] == "closed")
    # No last chunk of the chunked body, no [DONE]: the client cannot take it as complete.
    assert not received.endswith(b"0\r\n\r\n")
    assert b"[DONE]" not in received


def complete_second_answer(received: bytes) -> bool:
    """True once `received` holds a whole second (Content-Length) answer."""
    parts = received.split(b"HTTP/1.1 ")
    if len(parts) < 3:
        return False
    head, _, body = parts[2].partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def test_a_client_that_hangs_up_after_done_ended_a_complete_stream(gateway, endless):
    # The upstream's body ends a moment after its [DONE]; the SDK stops reading at [DONE].
    body = {"model": "endless", "messages": HI, "stream": True, "chunks": 2, "tail": 0.1}
    ports = []
    for _ in range(2):
        name = f"done-{uuid.uuid4().hex[:8]}"
        request = raw_request({**body, "user": name}).replace(
            b"Host: gateway\r\n", f"Host: gateway\r\nX-Request-ID: {name}\r\n".encode()
        )
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
            sock.sendall(request)
            received = b""
            while b"data: [DONE]" not in received:
                chunk = sock.recv(65536)
                assert chunk, received
                received += chunk
        assert wait_for(lambda name=name: state(endless, name)["state"] == "closed")
        ports.append(state(endless, name)["port"])
        assert entry_for(gateway, name)["status"] == 200
        assert f"stream {name} closed before its end" not in gateway.output()
        time.sleep(0.3)  # the end of the body was read: the connection is back in the pool
    # The same upstream connection served both: it was finished, not dropped.
    assert ports[0] == ports[1]
