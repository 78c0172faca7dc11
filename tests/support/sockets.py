"""A stand-in for a connected socket that records what is sent through it."""

from __future__ import annotations


class RecordingSocket:
    """Records each `send` and `sendall` call; `send` may accept only the first `accept` bytes."""

    def __init__(self, accept: int | None = None) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.accept = accept

    def send(self, data: bytes) -> int:
        taken = bytes(data[: self.accept] if self.accept else data)
        self.calls.append(("send", taken))
        return len(taken)

    def sendall(self, data: bytes) -> None:
        self.calls.append(("sendall", bytes(data)))

    def settimeout(self, timeout: float | None) -> None:
        pass

    def sent(self) -> bytes:
        """Everything sent, in order."""
        return b"".join(data for _, data in self.calls)
