"""gunicorn's HTTP/1 response writer, with the head sent together with the first body bytes."""

from __future__ import annotations

from typing import Any

from gunicorn.http import wsgi


class CoalescingResponse(wsgi.Response):
    """gunicorn's response, whose status line and headers leave with the first body bytes.

    gunicorn sends the head and each body part with separate `sendall` calls: two system
    calls and two TCP segments for every JSON answer, and for the first event of every
    stream. Here the head waits for the first body write (or the end of the response) and
    goes out in the same `send`. Each write tries one plain `send` before falling back to
    `sendall`, which under gevent asks the kernel for the socket's buffer size on every call.
    What reaches the client is byte for byte what gunicorn would send.
    """

    _head = b""

    def send_headers(self) -> None:
        """Build the head; it is sent with the next bytes written (see `_send`)."""
        if self.headers_sent:
            return
        lines = self.default_headers()
        lines.extend(f"{name}: {value}\r\n" for name, value in self.headers)
        self._head = ("".join(lines) + "\r\n").encode("latin-1")
        self.headers_sent = True

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
        sent = self.sock.send(data)
        if sent < len(data):
            self.sock.sendall(memoryview(data)[sent:])

    def can_sendfile(self) -> bool:
        """Never: `sendfile` would write past the pending head (the gateway serves no files)."""
        return False

    def close(self) -> None:
        """Send the head if nothing did yet, then end the body as gunicorn does."""
        if not self.headers_sent:
            self.send_headers()
        if self._head:
            self._send(b"")
        super().close()


def install(target: Any = wsgi) -> None:
    """Make gunicorn build every HTTP/1 response with CoalescingResponse (in a worker)."""
    # gunicorn's workers create responses through `wsgi.create`, which has no setting for
    # the class: the module's name is the only place to choose it.
    target.Response = CoalescingResponse
