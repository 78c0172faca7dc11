"""Token counting: tiktoken from its cache folder, and the approximation when it cannot load."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import tiktoken

from app import tokens

SAMPLES = [
    "The gateway answers every request with a deterministic reply, so clients can be tested.",
    "What's the weather like in Paris today? Use celsius and give me 3 days.",
    '{"name": "Bob", "age": 42, "tags": ["a", "b"]}',
    "Übermäßig lange Wörter, 日本語のテキスト and emoji 🎉🎉 mixed   with  spaces\n\n",
]
CL100K_KEY = hashlib.sha1(
    b"https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
).hexdigest()


@pytest.fixture
def fresh(monkeypatch):
    """Forget loaded encodings for the test, so that it sees its own cache folder."""
    monkeypatch.setattr(tokens, "_encodings", {})


@pytest.fixture
def no_tiktoken(monkeypatch, tmp_path, fresh):
    """An empty cache folder, and a tiktoken that must not be asked for an encoding."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))

    def refuse(name):
        raise AssertionError(f"tiktoken.get_encoding({name!r}) called without a cached file")

    monkeypatch.setattr(tiktoken, "get_encoding", refuse)
    return tmp_path


@pytest.fixture
def real_tiktoken(fresh):
    """The shared offline cache (tests/conftest.py points TIKTOKEN_CACHE_DIR at it)."""
    cache = os.environ.get("TIKTOKEN_CACHE_DIR", "")
    if not cache or not os.path.isfile(os.path.join(cache, CL100K_KEY)):
        pytest.skip("no offline tiktoken cache on this machine")
    return tiktoken.get_encoding("cl100k_base")


def test_counts_come_from_tiktoken_when_its_file_is_cached(real_tiktoken):
    assert tokens.uses_tiktoken("gpt-4")
    for text in SAMPLES:
        assert tokens.count_text(text, "gpt-4") == len(real_tiktoken.encode(text))
        pieces = tokens.token_pieces(text, "gpt-4")
        assert "".join(piece for piece, _ in pieces) == text
        assert sum(count for _, count in pieces) == tokens.count_text(text, "gpt-4")


def test_gpt_4o_family_uses_o200k(real_tiktoken):
    o200k = tiktoken.get_encoding("o200k_base")
    text = SAMPLES[3]
    assert tokens.count_text(text, "gpt-4o-mini") == len(o200k.encode(text))
    assert tokens.decode_tokens(o200k.encode("hello world"), "gpt-4o") == "hello world"


def test_missing_file_falls_back_without_loading_tiktoken(no_tiktoken):
    assert not tokens.uses_tiktoken("gpt-4")
    for text in SAMPLES:
        assert tokens.count_text(text, "gpt-4") == tokens.approximate(text)
        assert "".join(tokens.split_tokens(text, "gpt-4")) == text
        assert len(tokens.split_tokens(text)) == tokens.count_text(text)
    assert tokens.decode_tokens([1, 2, 3]) is None


def test_a_corrupt_file_is_never_handed_to_tiktoken(no_tiktoken):
    # tiktoken would delete a file with the wrong hash and download it again.
    (no_tiktoken / CL100K_KEY).write_bytes(b"not a bpe file")
    assert tokens.cached_encoding_file("cl100k_base") is None
    assert tokens.count_text("hello world") == tokens.approximate("hello world")


def test_an_empty_cache_setting_disables_tiktoken(monkeypatch, fresh):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert tokens.cached_encoding_file("cl100k_base") is None


def test_data_gym_cache_dir_is_read_like_tiktoken_does(monkeypatch, tmp_path, real_tiktoken):
    source = Path(os.environ["TIKTOKEN_CACHE_DIR"], CL100K_KEY)
    (tmp_path / CL100K_KEY).write_bytes(source.read_bytes())
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(tmp_path))
    assert tokens.cached_encoding_file("cl100k_base") == str(tmp_path / CL100K_KEY)


def test_approximation_stays_close_to_tiktoken_on_english(real_tiktoken):
    english = " ".join(SAMPLES[:3]) * 5
    approx, exact = tokens.approximate(english), len(real_tiktoken.encode(english))
    assert abs(approx - exact) <= 0.2 * exact, (approx, exact)


def test_approximation_pieces():
    assert tokens.approximate("") == 0
    assert tokens.approximate("hello") == 1
    assert tokens.approximate("hello, world!") == 4
    # Long words and long numbers count more than one token.
    assert tokens.approximate("internationalization") == 3
    assert tokens.approximate("1234567") == 3


def test_messages_include_framing_and_functions(no_tiktoken):
    messages = [{"role": "user", "content": "hi there"}]
    assert tokens.count_messages(messages) == 3 + 3 + tokens.count_text("user hi there")
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}]
    assert tokens.count_messages(parts) == tokens.count_messages(messages)
    function = {"name": "f", "parameters": {"type": "object", "properties": {}}}
    assert tokens.count_functions([function]) > tokens.count_functions([])
