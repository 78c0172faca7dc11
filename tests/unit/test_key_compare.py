"""Client keys are compared in constant time: fixed-length digests, every key visited."""

from __future__ import annotations

import hmac

import pytest

from app import auth
from app.auth import KeyStore

KEYS = [f"sk-client-key-{i:04d}" for i in range(5)]


@pytest.fixture
def compared(monkeypatch):
    """The (left, right) pairs hmac.compare_digest was called with."""
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(left, right):
        calls.append((left, right))
        return original(left, right)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    return calls


@pytest.mark.parametrize("token", [KEYS[0], KEYS[-1], "sk-wrong", "x" * 10_000, ""])
def test_every_key_is_compared_whatever_matches(compared, token):
    store = KeyStore.from_plain(KEYS)
    found = store.match(token)
    assert (found is not None) == (token in KEYS)
    # One comparison per key, first match or none, so timing does not tell which key matched.
    assert len(compared) == len(KEYS)
    # Digests of equal length: the time does not depend on the length of the token either.
    assert {len(left) for left, _ in compared} | {len(right) for _, right in compared} == {32}


def test_no_plain_key_is_kept():
    store = KeyStore.from_plain(KEYS)
    assert all(KEYS[i].encode() not in repr(key).encode() for i, key in enumerate(store.keys))
