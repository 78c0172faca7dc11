"""The C allocator of a worker: large buffers, such as long prompts, go back to the OS freed."""

from __future__ import annotations

import os

# mallopt's parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's own starting value of both.
THRESHOLD = 128 * 1024


def glibc() -> bool:
    """True when the process runs on glibc, whose allocator `install` tunes."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False


def install(threshold: int = THRESHOLD) -> bool:
    """Serve every allocation of `threshold` bytes or more from its own mapping, and give the
    heap's free top back above `threshold` bytes; True if set.

    Such a mapping goes back to the OS as soon as it is freed. glibc starts with these
    thresholds but raises them with the size of each such block freed (up to 32 MiB, and the
    trim threshold to twice that), so after the first long prompt every later one came from
    the heap and stayed there: a burst of 300 streams with 200 KB prompts left the workers
    holding 116-306 KB per stream instead of 40. Setting the thresholds turns that adjustment
    off. Other C libraries are left as they are.
    """
    if not glibc():
        return False
    import ctypes  # only where it is used: each worker pays for what it imports

    libc = ctypes.CDLL(None)  # the C library this process already runs on
    trimmed = libc.mallopt(_M_TRIM_THRESHOLD, threshold)
    return bool(trimmed and libc.mallopt(_M_MMAP_THRESHOLD, threshold))
