"""app.malloc: freed long prompts go back to the OS instead of staying in the worker's heap."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app import malloc
from tests.support.servers import ROOT

# A fresh interpreter with nothing else loaded: 1 MiB freed once (as a first long request
# does), then 200 blocks of the size of a long prompt, each followed by a small block that is
# kept, then freed. Prints how many MiB stayed resident.
_SCENARIO = """
import importlib.util
import sys

# The module alone, without the app package and what it imports.
spec = importlib.util.spec_from_file_location("malloc", "app/malloc.py")
malloc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(malloc)

def anon_mib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) // 1024

if sys.argv[1] == "install":
    assert malloc.install()
first = bytearray(1 << 20)
del first
before = anon_mib()
prompts, later = [], []
for _ in range(200):
    prompts.append(bytes(200_000))
    later.append(bytes(1_000))  # what the worker allocates meanwhile, and keeps
del prompts
print(anon_mib() - before)
"""

pytestmark = pytest.mark.skipif(not malloc.glibc(), reason="tunes glibc's allocator only")


def _retained_mib(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _SCENARIO, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout)


def test_freed_long_prompts_are_returned_to_the_os():
    # glibc's own behaviour first: its threshold rose with the first freed MiB, so the
    # 200 blocks came from the heap, where the small ones kept them.
    assert _retained_mib("default") > 20
    assert _retained_mib("install") < 5


def test_install_reports_it_set_the_thresholds():
    assert malloc.install() is True
