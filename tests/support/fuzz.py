"""Shared pieces of the bad-input suites: hypothesis settings, JSON strategies, valid requests,
and the invariant every answer must keep (never a 5xx, always the OpenAI envelope)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.support.openai_checks import check_error

# Deterministic (the same examples on every run and machine) and without a database on disk.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"

VALID: dict[str, dict[str, Any]] = {
    CHAT: {
        "model": "mock",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        "temperature": 0.5,
        "top_p": 1,
        "n": 1,
        "stop": ["x"],
        "max_tokens": 10,
        "logit_bias": {"50256": -100},
        "logprobs": True,
        "top_logprobs": 2,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "description": "d",
                    "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
                },
            }
        ],
        "tool_choice": "auto",
        "response_format": {"type": "text"},
        "stream": False,
        "user": "u",
        "metadata": {"k": "v"},
        "seed": 1,
    },
    COMPLETIONS: {"model": "mock", "prompt": ["hi", "there"], "max_tokens": 5, "n": 1, "stop": "x"},
    EMBEDDINGS: {
        "model": "mock/text-embedding-3-small",
        "input": ["hi", "there"],
        "encoding_format": "float",
        "dimensions": 8,
    },
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
endpoints = st.sampled_from([CHAT, COMPLETIONS, EMBEDDINGS])
# One strategy per JSON type; a value of any of them but a field's own type is a wrong type.
json_types: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "number": st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False),
    "string": st.text(max_size=20),
    "array": st.lists(json_values, max_size=3),
    "object": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
}
# Stands for "remove this key" in a mutation.
DELETE = object()


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (object keys and array indexes), the value's own excluded."""
    if not isinstance(value, dict | list):
        return
    for key, child in value.items() if isinstance(value, dict) else enumerate(value):
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (a key of `json_types`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def wrong_types(value: Any) -> st.SearchStrategy[dict[str, Any]]:
    """One value of each JSON type other than `value`'s, by type."""
    return st.fixed_dictionaries(
        {name: values for name, values in json_types.items() if name != json_type(value)}
    )


def param_name(path: tuple[Any, ...]) -> str:
    """A path as the errors' `param` names it: messages[0].content[1].image_url.url."""
    name = ""
    for key in path:
        name += f"[{key}]" if isinstance(key, int) else f".{key}" if name else key
    return name


def value_at(body: Any, path: tuple[Any, ...]) -> Any:
    """The value at `path` in `body`."""
    for key in path:
        body = body[key]
    return body


def replaced(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of `body` with the value at `path` replaced (or removed when `value` is DELETE)."""
    copied = copy.deepcopy(body)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copied


def check_answer(response: Any) -> Any:
    """Never a 5xx; a 200 is JSON or an SSE stream; anything else is the OpenAI envelope."""
    status = response.status_code
    raw = response.get_data()
    assert status < 500, f"{status}: {raw[:500]!r}"
    if status == 200:
        if response.mimetype == "text/event-stream":
            assert raw.endswith(b"data: [DONE]\n\n"), raw[-300:]
        else:
            json.loads(raw)
        return None
    assert response.mimetype == "application/json", response.mimetype
    return check_error(json.loads(raw), status)
