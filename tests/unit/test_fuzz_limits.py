"""The configurable request limits: body size, message count, nesting depth and `n`.

Each limit is set through its environment variable, then probed just inside and just past
it, and with hypothesis at random sizes and depths: past a limit the answer is a 4xx in the
OpenAI envelope naming the parameter where one applies, never a 500 or a RecursionError.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import create_app
from tests.conftest import MOCK_MODELS
from tests.support.fuzz import CHAT, COMPLETIONS, FUZZ, check_answer

LIMITS = {
    "GATEWAY_MAX_BODY_BYTES": "65536",
    "GATEWAY_MAX_MESSAGES": "3",
    "GATEWAY_MAX_JSON_DEPTH": "16",
    "GATEWAY_MAX_N": "2",
}
HI = {"role": "user", "content": "hi"}
# Where a nested value is put, and how many levels lie above that value.
PLACES = {
    "vendor_extra": 1,
    "messages[0].content": 3,
    "tools[0].function.parameters": 4,
}


@pytest.fixture(scope="module")
def client():
    """An app whose limits come from the environment variables in LIMITS."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LIMITS.items():
            patch.setenv(name, value)
        app = create_app({"TESTING": True, "MODELS": MOCK_MODELS, "GATEWAY_API_KEYS": []})
    return app.test_client()


def post(client, raw: str | bytes, path: str = CHAT):
    return client.post(path, data=raw, headers={"Content-Type": "application/json"})


def nested(kind: str, depth: int) -> str:
    """A JSON value `depth` levels deep, as text (built without recursion)."""
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def placed(place: str, value: str) -> str:
    """A chat request with `value` (JSON text) at `place`."""
    body: dict = {"model": "mock", "messages": [dict(HI)]}
    if place == "vendor_extra":
        body["vendor_extra"] = "@@"
    elif place == "messages[0].content":
        body["messages"][0]["content"] = "@@"
    else:
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": "@@"}}]
    return json.dumps(body).replace('"@@"', value)


@FUZZ
@given(
    place=st.sampled_from(sorted(PLACES)),
    kind=st.sampled_from(["array", "object"]),
    depth=st.integers(min_value=1, max_value=3000) | st.integers(min_value=10, max_value=20),
)
def test_nesting_depth(client, place, kind, depth):
    response = post(client, placed(place, nested(kind, depth)))
    error = check_answer(response)
    too_deep = PLACES[place] + depth > int(LIMITS["GATEWAY_MAX_JSON_DEPTH"])
    if too_deep:
        assert response.status_code == 400
        # Also past the depth at which the parser's own recursion gives up.
        assert error.code == "nesting_too_deep", error
        assert error.param.startswith(place)
    else:
        assert error is None or error.code != "nesting_too_deep", error


@pytest.mark.parametrize("depth", [15, 16, 17])
def test_nesting_limit_is_exact(client, depth):
    # The body is level 1, `vendor_extra` level 2: 15 more levels reach 17.
    error = check_answer(post(client, placed("vendor_extra", nested("array", depth))))
    if 1 + depth > 16:
        assert (error.code, error.param) == ("nesting_too_deep", "vendor_extra" + "[0]" * 15)
    else:
        assert error is None


@FUZZ
@given(size=st.integers(min_value=0, max_value=150_000))
def test_huge_strings(client, size):
    raw = json.dumps({"model": "mock", "messages": [{"role": "user", "content": "x" * size}]})
    response = post(client, raw)
    error = check_answer(response)
    if len(raw) > int(LIMITS["GATEWAY_MAX_BODY_BYTES"]):
        assert (response.status_code, error.code) == (413, "request_too_large")
    else:
        assert response.status_code == 200


@FUZZ
@given(count=st.integers(min_value=0, max_value=40_000), item=st.sampled_from([0, "", [], {}]))
def test_huge_arrays(client, count, item):
    raw = json.dumps({"model": "mock", "messages": [HI], "vendor_extra": [item] * count})
    response = post(client, raw)
    check_answer(response)
    if len(raw) > int(LIMITS["GATEWAY_MAX_BODY_BYTES"]):
        assert response.status_code == 413
    else:
        assert response.status_code == 200


@FUZZ
# 40-byte messages: 1,500 of them stay under the body limit.
@given(count=st.integers(min_value=0, max_value=1500))
def test_message_count(client, count):
    response = post(client, json.dumps({"model": "mock", "messages": [HI] * count}))
    error = check_answer(response)
    if count == 0 or count > int(LIMITS["GATEWAY_MAX_MESSAGES"]):
        assert error is not None and error.param == "messages", error
    else:
        assert response.status_code == 200


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
@pytest.mark.parametrize("n", [1, 2, 3, 10**6])
def test_n(client, path, n):
    body = {"model": "mock", "n": n}
    body.update({"messages": [HI]} if path == CHAT else {"prompt": "hi"})
    error = check_answer(post(client, json.dumps(body), path))
    if n > int(LIMITS["GATEWAY_MAX_N"]):
        assert (error.param, error.code) == ("n", "integer_above_max_value")
    else:
        assert error is None


def test_limits_have_defaults():
    app = create_app({"TESTING": True, "MODELS": MOCK_MODELS})
    config = app.config
    assert config["MAX_CONTENT_LENGTH"] == 8 * 1024 * 1024
    assert (config["GATEWAY_MAX_MESSAGES"], config["GATEWAY_MAX_N"]) == (2048, 16)
    assert config["GATEWAY_MAX_JSON_DEPTH"] == 64
