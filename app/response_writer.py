"""gunicorn's HTTP/1 response writer: the head leaves with the first body bytes, and quiet event
streams get keep-alive comments."""

from __future__ import annotations

from typing import Any

from gunicorn.http import wsgi

from app import green
from app.services.streaming import KEEPALIVE

_CHUNKED_KEEPALIVE = b"%X\r\n%s\r\n" % (len(KEEPALIVE), KEEPALIVE)


class CoalescingResponse(wsgi.Response):
    """gunicorn's response, whose status line and headers leave with the first body bytes.

    gunicorn sends the head and each body part with separate `sendall` calls: two system
    calls and two TCP segments for every JSON answer, and for the first event of every
    stream. Here the head waits for the first body write (or the end of the response) and
    goes out in the same `send`. Each write tries one plain `send` before falling back to
    `sendall`, which under gevent asks the kernel for the socket's buffer size on every call.
    What reaches the client is byte for byte what gunicorn would send.

    An event stream (`text/event-stream`) that sends nothing for a whole `keepalive` period
    (while the app waits for its upstream) is sent `: keep-alive`: proxies and load balancers
    that end connections idle for a minute or less (Heroku's router after 55 s, AWS's load
    balancers after 60 s by default) would otherwise cut a stream whose model thinks long.
    """

    # Seconds; 0 turns keep-alive comments off (set by `install`).
    keepalive = 0.0
    # Bytes to send before the next ones: the head, or the rest of a keep-alive comment that
    # the socket did not take whole.
    _head = b""
    _beat: Any = None
    # False once something was sent in the current keep-alive period.
    _quiet = False
    _writing = False

    def send_headers(self) -> None:
        """Build the head; it is sent with the next bytes written (see `_send`)."""
        if self.headers_sent:
            return
        lines = self.default_headers()
        lines.extend(f"{name}: {value}\r\n" for name, value in self.headers)
        self._head = ("".join(lines) + "\r\n").encode("latin-1")
        self.headers_sent = True
        if self.keepalive and self._unbounded() and _is_event_stream(self.headers):
            self._start_beat()

    def write(self, arg: bytes) -> None:
        """gunicorn's write; a part that sent nothing (empty, or no body allowed) sends the head."""
        super().write(arg)
        if self._head:
            self._send(b"")

    def _emit_body(self, data: bytes) -> None:
        if self.chunked:
            data = b"%X\r\n%s\r\n" % (len(data), data)
        self._send(data)

    def _send(self, data: bytes) -> None:
        if self._head:
            data, self._head = self._head + data, b""
        self._quiet = False
        self._writing = True
        try:
            sent = self.sock.send(data)
            if sent < len(data):
                self.sock.sendall(memoryview(data)[sent:])
        finally:
            self._writing = False

    def can_sendfile(self) -> bool:
        """Never: `sendfile` would write past the pending head (the gateway serves no files)."""
        return False

    def close(self) -> None:
        """Send the head if nothing did yet, then end the body as gunicorn does."""
        self._stop_beat()
        if not self.headers_sent:
            self.send_headers()
        if self._head:
            self._send(b"")
        super().close()

    def _unbounded(self) -> bool:
        # A body with a length (or none at all) has no room for comments.
        return self.response_length is None and not self._omits_body

    def _start_beat(self) -> None:
        raw = getattr(self.sock, "_sock", None)  # gevent's socket wraps the OS socket
        if raw is None or hasattr(self.sock, "do_handshake"):
            return  # not gevent's, or TLS: bytes written beside the TLS layer would break it
        from gevent import get_hub

        # Not referenced: a pending comment must not keep a stopping worker's loop alive.
        self._beat = get_hub().loop.timer(self.keepalive, self.keepalive, ref=False)
        self._beat.start(self._tick, raw)

    def _stop_beat(self) -> None:
        beat, self._beat = self._beat, None
        if beat is not None:
            beat.stop()
            beat.close()

    def _tick(self, raw: Any) -> None:
        # Runs in gevent's hub, between two greenlets' turns: the request's greenlet is then
        # waiting for its next event (the wire is between two whole events and chunks) or is
        # in the middle of a write it could not finish (then nothing is added).
        if self._writing or self._head:
            return
        if not self._quiet:
            self._quiet = True
            return
        frame = _CHUNKED_KEEPALIVE if self.chunked else KEEPALIVE
        try:
            sent = raw.send(frame)  # the OS socket is non-blocking under gevent
        except BlockingIOError:
            return  # the client is not reading: its connection is not idle either
        except OSError:
            self._stop_beat()  # the connection is gone; gunicorn ends the response
            return
        # The rest of a comment that did not fit leaves before the next bytes.
        self._head = frame[sent:]


def _is_event_stream(headers: list[tuple[str, str]]) -> bool:
    return any(
        name.lower() == "content-type" and value.lower().startswith("text/event-stream")
        for name, value in headers
    )


def install(target: Any = wsgi, keepalive: float = 0.0) -> None:
    """Make gunicorn build every HTTP/1 response with CoalescingResponse (in a worker), and
    give quiet event streams a keep-alive comment every `keepalive` seconds (0: never; only
    under gevent)."""
    CoalescingResponse.keepalive = max(0.0, float(keepalive)) if green.patched() else 0.0
    # gunicorn's workers create responses through `wsgi.create`, which has no setting for
    # the class: the module's name is the only place to choose it.
    target.Response = CoalescingResponse
