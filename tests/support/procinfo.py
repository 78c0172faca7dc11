"""What a running process holds, read from /proc: workers, sockets to a port, fds and memory."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

# /proc/net/tcp states that hold a connection open (TIME_WAIT has no fd and is not counted).
_HELD_STATES = {"01", "02", "03", "04", "05", "06", "08", "09", "0A", "0B"}


def children(pid: int) -> list[int]:
    """The direct children of `pid` (a gunicorn master's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text()
        found += [int(child) for child in text.split()]
    return sorted(found)


def wait_for_workers(pid: int, count: int = 1, timeout: float = 30.0) -> list[int]:
    """The workers of gunicorn master `pid`, once `count` of them run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = children(pid)
        if len(workers) >= count:
            return workers
        time.sleep(0.05)
    raise AssertionError(f"gunicorn {pid} has no {count} workers after {timeout}s")


def socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets among the open fds of `pid`."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def connections_to(pid: int, port: int) -> int:
    """Open TCP connections (IPv4 and IPv6) that `pid` holds to a remote `port` on this host."""
    inodes = socket_inodes(pid)
    count = 0
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] in _HELD_STATES and fields[9] in inodes:
                count += 1
    return count


def fd_count(pid: int) -> int:
    """Number of open file descriptors of `pid`."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid: int) -> int:
    """Resident memory of `pid` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def settle(value: Callable[[], int], ok: Callable[[int], bool], timeout: float = 10.0) -> int:
    """Poll `value()` until `ok` accepts it (connections close asynchronously); the last value."""
    deadline = time.monotonic() + timeout
    current = value()
    while not ok(current) and time.monotonic() < deadline:
        time.sleep(0.05)
        current = value()
    return current
