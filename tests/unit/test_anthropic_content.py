"""Anthropic backend: request content Anthropic checks more strictly than OpenAI does."""

from __future__ import annotations

import base64
import re

import pytest

from tests.support import anthropic_requests
from tests.support.anthropic_requests import sent, user

# The shared fixtures, bound here so that pytest finds them.
config = anthropic_requests.config
upstream = anthropic_requests.upstream

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8 "
TOOL_ID = re.compile(r"[a-zA-Z0-9_-]+")


def image_sent(client, upstream, url: str) -> dict:
    """The `source` of the image block sent for an `image_url` part with `url`."""
    part = {"type": "image_url", "image_url": {"url": url}}
    payload = sent(client, upstream, messages=[{"role": "user", "content": [part]}])
    return payload["messages"][0]["content"][0]["source"]


@pytest.mark.parametrize(
    ("declared", "data", "expected"),
    [
        ("image/jpg", JPEG, "image/jpeg"),
        ("image/jpeg", PNG, "image/png"),
        ("image/png", JPEG, "image/jpeg"),
        ("image/png", GIF, "image/gif"),
        ("image/gif", WEBP, "image/webp"),
    ],
)
def test_the_image_media_type_is_the_one_of_its_bytes(client, upstream, declared, data, expected):
    # Anthropic refuses "image/jpg" and a type that does not match the bytes; OpenAI reads them.
    encoded = base64.b64encode(data).decode()
    source = image_sent(client, upstream, f"data:{declared};base64,{encoded}")
    assert source == {"type": "base64", "media_type": expected, "data": encoded}


def test_an_image_of_an_unknown_format_keeps_its_declared_type(client, upstream):
    encoded = base64.b64encode(b"BM\x00\x00\x00\x00\x00\x00").decode()
    source = image_sent(client, upstream, f"data:image/bmp;base64,{encoded}")
    assert source["media_type"] == "image/bmp"


def tool_history(*call_ids: str) -> list[dict]:
    """A user question, an assistant turn calling `f` once per id, and a result for each."""
    calls = [
        {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
        for call_id in call_ids
    ]
    results = [
        {"role": "tool", "tool_call_id": call_id, "content": f"result {i}"}
        for i, call_id in enumerate(call_ids)
    ]
    return [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *results,
    ]


TOOLS = [{"type": "function", "function": {"name": "f"}}]


def sent_ids(client, upstream, *call_ids: str) -> tuple[list[str], list[str]]:
    """(tool_use ids, tool_result ids) sent for a history with `call_ids`."""
    messages = sent(client, upstream, messages=tool_history(*call_ids), tools=TOOLS)["messages"]
    uses = [b["id"] for b in messages[1]["content"]]
    results = [b["tool_use_id"] for b in messages[2]["content"]]
    return uses, results


def test_tool_call_ids_anthropic_refuses_are_rewritten_in_pairs(client, upstream):
    # Other providers' ids ("functions.f:0", "call|1") reach Anthropic in replayed histories.
    uses, results = sent_ids(client, upstream, "functions.f:0", "call|1", "a b", "call_2\n")
    assert uses == results
    assert all(TOOL_ID.fullmatch(call_id) for call_id in uses)
    assert len(set(uses)) == 4


def test_ids_differing_only_in_refused_characters_stay_apart(client, upstream):
    uses, results = sent_ids(client, upstream, "call.1", "call:1", "call_1")
    assert uses == results
    assert len(set(uses)) == 3
    assert uses[2] == "call_1"


def test_valid_tool_call_ids_are_sent_unchanged(client, upstream):
    assert sent_ids(client, upstream, "toolu_01A-b", "call_xyz") == (
        ["toolu_01A-b", "call_xyz"],
        ["toolu_01A-b", "call_xyz"],
    )


def test_the_question_is_still_sent_first(client, upstream):
    messages = sent(client, upstream, messages=tool_history("x.y"), tools=TOOLS)["messages"]
    assert messages[0] == user("Go")
