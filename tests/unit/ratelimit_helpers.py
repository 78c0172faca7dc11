"""Shared setup for the in-process rate-limit tests: four limited keys, a hand clock, headers."""

from __future__ import annotations

import pytest

from tests.support.clock import Clock
from tests.unit.keys_helpers import sha256_hex, write_keys_file

RPM_KEY, TPM_KEY, BOTH_KEY, FREE_KEY = "sk-rpm-3f1", "sk-tpm-9c2", "sk-both-77d", "sk-free-0e4"
TPM = 1000
ENTRIES = [
    {"name": "rpm", "key_sha256": sha256_hex(RPM_KEY), "rpm": 3},
    {"name": "tpm", "key_sha256": sha256_hex(TPM_KEY), "tpm": TPM},
    {"name": "both", "key_sha256": sha256_hex(BOTH_KEY), "rpm": 2, "tpm": TPM},
    {"name": "free", "key_sha256": sha256_hex(FREE_KEY)},
]
CHAT_URL = "/v1/chat/completions"
LIMIT_HEADERS = ("limit", "remaining", "reset")


# A test module binds these fixtures to module-level names of its own, where pytest finds them.
@pytest.fixture
def config(config, tmp_path):
    """Four keys from a keys file: RPM 3, TPM 1000, both (2 / 1000), no limits."""
    return {**config, "KEYS_FILE": write_keys_file(tmp_path, ENTRIES)}


@pytest.fixture
def clock(app) -> Clock:
    """The in-process store's clock, under the test's control."""
    fake = Clock()
    app.extensions["gateway.ratelimit"].store.clock = fake
    return fake


def trio(response, kind: str) -> tuple[str | None, ...]:
    """The x-ratelimit limit, remaining and reset headers for `kind`."""
    return tuple(response.headers.get(f"x-ratelimit-{h}-{kind}") for h in LIMIT_HEADERS)
