"""The rate-limit building blocks: the in-process store and OpenAI's duration format."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from app.ratelimit.headers import duration
from app.ratelimit.limits import Limits
from app.ratelimit.memory import MemoryStore
from tests.support.clock import Clock
from tests.support.servers import ROOT


def test_concurrent_takes_admit_exactly_the_limit():
    store = MemoryStore(60)
    outcomes: list = []

    def take() -> None:
        outcomes.append(store.take("k", Limits(rpm=10), 1))

    threads = [threading.Thread(target=take) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admitted = [o for o in outcomes if o.exceeded is None]
    assert len(admitted) == 10
    assert sorted(o.requests for o in admitted) == list(range(1, 11))


def test_a_settlement_never_touches_a_later_window():
    clock = Clock()
    store = MemoryStore(60, clock)
    first = store.take("k", Limits(tpm=100), 40)
    clock.now += 61
    second = store.take("k", Limits(tpm=100), 10)
    store.adjust("k", first.window_id, -40)
    assert store.take("k", Limits(tpm=100), 0).tokens == second.tokens == 10


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0s"),
        (0.02, "20ms"),
        (0.0201, "21ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (7.66, "7.66s"),
        (59.9994, "1m0s"),
        (60, "1m0s"),
        (360, "6m0s"),
        (90.25, "1m30.25s"),
        (3600, "1h0m0s"),
    ],
)
def test_durations_are_written_like_openai(value, text):
    assert duration(value) == text


def test_the_redis_client_is_imported_only_when_redis_is_used():
    # Each worker would carry some 20 MB of Redis client imports it never uses.
    code = (
        "import sys\n"
        "from app import create_app\n"
        "create_app({'TESTING': True})\n"
        "assert 'redis' not in sys.modules, 'redis imported without REDIS_URL'\n"
        "from app.ratelimit.hooks import make_store\n"
        "make_store({'REDIS_URL': 'redis://127.0.0.1:1/0'})\n"
        "assert 'redis' in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
