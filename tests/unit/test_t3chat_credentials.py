"""t3chat credentials: settings first, `<cookies>:<session>` keys, redaction, session cache."""

from __future__ import annotations

import threading

import pytest

from app.backends.t3chat.credentials import (
    MISSING_CREDENTIALS,
    Credentials,
    from_token,
    partially_configured,
    resolve,
)
from app.backends.t3chat.sessions import SessionPool
from app.errors import AuthenticationError
from tests.fakes.t3chat import COOKIES, SESSION_ID

ENV = {"T3_COOKIES": "env=cookie-value-1", "T3_CONVEX_SESSION_ID": "env-session-1"}


def test_settings_win_over_the_key():
    credentials = resolve(ENV, f"{COOKIES}:{SESSION_ID}")
    assert (credentials.cookies, credentials.session_id) == ("env=cookie-value-1", "env-session-1")
    assert credentials.source == "settings"


def test_key_is_split_on_its_last_colon():
    credentials = resolve({"T3_COOKIES": "", "T3_CONVEX_SESSION_ID": ""}, f"{COOKIES}:{SESSION_ID}")
    assert ":" in COOKIES
    assert (credentials.cookies, credentials.session_id) == (COOKIES, SESSION_ID)
    assert credentials.source == "key"


@pytest.mark.parametrize(
    "token", [None, "", "sk-plain-key", ":session-only", "cookies-only:", " : "]
)
def test_missing_credentials_say_how_to_provide_them(token):
    with pytest.raises(AuthenticationError) as info:
        resolve({}, token)
    assert info.value.status == 401
    assert info.value.message == MISSING_CREDENTIALS
    assert "COOKIES" in info.value.message and "<cookies>:<convexSessionId>" in info.value.message


def test_half_configured_settings_fall_back_to_the_key():
    settings = {"T3_COOKIES": "only=cookies", "T3_CONVEX_SESSION_ID": ""}
    assert partially_configured(settings)
    assert not partially_configured(ENV)
    assert resolve(settings, "a=b:sess").cookies == "a=b"


def test_credentials_never_show_in_repr():
    credentials = from_token(f"{COOKIES}:{SESSION_ID}")
    assert SESSION_ID not in repr(credentials)
    assert "sealed" not in repr(credentials) and "clear:ance" not in repr(credentials)


def test_redact_scrubs_whole_values_and_cookie_values():
    credentials = from_token(f"{COOKIES}:{SESSION_ID}")
    text = f"bad session {SESSION_ID}; cookie clear:ance-0042 and {COOKIES}; theme=dark"
    redacted = credentials.redact(text)
    for secret in (SESSION_ID, "clear:ance-0042", "Fe26.2**fake:sealed:value"):
        assert secret not in redacted
    assert "theme=dark" in redacted  # short values are too common to scrub


def test_fingerprint_is_stable_and_distinct():
    a, b = Credentials("c=1", "s1"), Credentials("c=1", "s2")
    assert a.fingerprint == Credentials("c=1", "s1").fingerprint
    assert a.fingerprint != b.fingerprint
    assert "c=1" not in a.fingerprint


def test_one_session_per_credential_set_with_lru_eviction():
    pool = SessionPool("t3", "https://t3.test", {"max_sessions": 2})
    a, b, c = Credentials("c=a", "sa"), Credentials("c=b", "sb"), Credentials("c=c", "sc")
    session_a = pool.get(a)
    assert pool.get(a) is session_a
    assert session_a.session.headers["Cookie"] == "c=a"
    assert pool.get(b).session.headers["Cookie"] == "c=b"
    pool.get(a)  # a is now the most recent, so c evicts b
    pool.get(c)
    assert len(pool) == 2
    assert pool.get(a) is session_a
    pool.close()
    assert len(pool) == 0


def test_concurrent_callers_share_one_session_per_credentials():
    pool = SessionPool("t3", "https://t3.test", {})
    credentials = Credentials("c=x", "sx")
    seen, barrier = [], threading.Barrier(8)

    def worker():
        barrier.wait()
        seen.append(pool.get(credentials))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len({id(s) for s in seen}) == 1
    pool.close()
