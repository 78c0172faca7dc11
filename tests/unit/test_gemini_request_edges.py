"""Gemini backend: OpenAI-valid requests whose values Gemini takes in another form."""

from __future__ import annotations

import pytest

from tests.fakes.gemini_checks import BadRequest, check_request
from tests.support.openai_checks import check_error
from tests.unit.gemini_helpers import OK, URL, chat, gemini_client, sent, tool_call

INT32 = range(-(2**31), 2**31)
JPEG = "/9j/4AAQSkZJRgABAQ=="  # FF D8 FF E0 ...
PNG = "iVBORw0KGgoAAAANSUhEUg=="
WEBP = "UklGRiQAAABXRUJQVlA4IA=="  # RIFF....WEBPVP8


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


@pytest.mark.parametrize("seed", [2**40, 2**63 - 1, -(2**63), 2**31, -(2**31) - 1])
def test_a_seed_beyond_int32_is_folded_into_gemini_s_range(client, upstream, seed):
    upstream.post(URL, json=OK)
    upstream.post(URL, json=OK)
    assert chat(client, seed=seed).status_code == 200
    assert chat(client, seed=seed).status_code == 200
    first, second = sent(upstream, 0), sent(upstream, 1)
    check_request(first)
    assert first["generationConfig"]["seed"] in INT32
    # The same seed still gives the same Gemini seed, so repeated requests stay reproducible.
    assert first["generationConfig"]["seed"] == second["generationConfig"]["seed"]


@pytest.mark.parametrize("seed", [0, 7, -5, 2**31 - 1, -(2**31)])
def test_a_seed_within_int32_is_sent_unchanged(client, upstream, seed):
    upstream.post(URL, json=OK)
    assert chat(client, seed=seed).status_code == 200
    assert sent(upstream)["generationConfig"]["seed"] == seed


def test_fake_gemini_refuses_a_seed_beyond_int32():
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    with pytest.raises(BadRequest):
        check_request({**body, "generationConfig": {"seed": 2**40}})


def image_message(url: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]


@pytest.mark.parametrize(
    ("url", "mime"),
    [
        (f"data:image/jpg;base64,{JPEG}", "image/jpeg"),  # a common misspelling
        (f"data:image/jpg;base64,{PNG[:8]}", "image/jpeg"),  # bytes unknown: spelling fixed
        (f"data:image/JPEG;base64,{JPEG}", "image/jpeg"),
        (f"data:image/png;base64,{JPEG}", "image/jpeg"),  # the bytes say what it is
        (f"data:image/jpeg;base64,{PNG}", "image/png"),
        (f"data:image/png;base64,{WEBP}", "image/webp"),
        (f"data:image/webp;base64,{WEBP}", "image/webp"),
    ],
)
def test_image_media_types_are_sent_as_gemini_accepts_them(client, upstream, url, mime):
    upstream.post(URL, json=OK)
    assert chat(client, messages=image_message(url)).status_code == 200
    body = sent(upstream)
    check_request(body)
    assert body["contents"][0]["parts"][0]["inlineData"]["mimeType"] == mime


@pytest.mark.parametrize(
    ("file_data", "mime"),
    [
        (f"data:image/jpg;base64,{JPEG}", "image/jpeg"),
        (f"data:image/jpeg;base64,{PNG}", "image/png"),
        ("data:application/pdf;base64,JVBERi0xLjQK", "application/pdf"),
    ],
)
def test_images_sent_as_file_parts_are_typed_alike(client, upstream, file_data, mime):
    upstream.post(URL, json=OK)
    part = {"type": "file", "file": {"file_data": file_data, "filename": "x"}}
    assert chat(client, messages=[{"role": "user", "content": [part]}]).status_code == 200
    body = sent(upstream)
    check_request(body)
    assert body["contents"][0]["parts"][0]["inlineData"]["mimeType"] == mime


def test_fake_gemini_refuses_the_image_jpg_spelling():
    part = {"inlineData": {"mimeType": "image/jpg", "data": JPEG}}
    with pytest.raises(BadRequest):
        check_request({"contents": [{"role": "user", "parts": [part]}]})


def function(parameters: dict) -> dict:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": [{"a": 1}, "a"]},
        {"properties": "a", "allOf": [{"properties": {"a": {"type": "string"}}}]},
        {"properties": {"a": {"type": "string"}}, "allOf": [{"required": [["a"]]}]},
        {"properties": {"a": {"type": "string"}}, "required": "a", "allOf": [{"required": ["a"]}]},
        {"allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": [1]}]},
    ],
)
def test_malformed_schema_keywords_are_no_server_error(client, upstream, parameters):
    upstream.post(URL, json=OK)
    answer = chat(client, tools=[function(parameters)])
    assert answer.status_code == 200, answer.json
    body = sent(upstream)
    check_request(body)
    assert body["tools"][0]["functionDeclarations"][0]["parameters"]["properties"] == {
        "a": {"type": "STRING"}
    }


def test_custom_tool_calls_in_the_history_are_refused_clearly(client):
    custom = {"id": "call_1", "type": "custom", "custom": {"name": "grep", "input": "x"}}
    messages = [
        {"role": "user", "content": "Find x"},
        {"role": "assistant", "tool_calls": [tool_call("call_0", "f", "{}"), custom]},
    ]
    answer = chat(client, messages=messages)
    assert answer.status_code == 400
    error = check_error(answer.json)
    assert error.param == "messages[1].tool_calls[1].type"
    assert error.type == "invalid_request_error"


@pytest.mark.parametrize("system", [[], [{"role": "system", "content": "Be brief."}]])
def test_a_history_opening_with_tool_calls_gets_a_user_turn_first(client, upstream, system):
    upstream.post(URL, json=OK)
    messages = [
        *system,
        {"role": "assistant", "tool_calls": [tool_call("call_1", "f", '{"q":"x"}')]},
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        {"role": "user", "content": "Summarise"},
    ]
    assert chat(client, messages=messages, tools=[function({})]).status_code == 200
    body = sent(upstream)
    check_request(body)
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": "f", "args": {"q": "x"}}}]


def test_fake_gemini_refuses_a_function_call_turn_first():
    call = {"functionCall": {"name": "f", "args": {}}}
    with pytest.raises(BadRequest):
        check_request({"contents": [{"role": "model", "parts": [call]}]})


EMPTY = [
    {"role": "user", "content": ""},
    {"role": "user", "content": [{"type": "text", "text": ""}]},
    {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": ""}]},
]
HELLO = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


@pytest.mark.parametrize("empty", EMPTY)
@pytest.mark.parametrize(
    ("before", "turns"),
    [
        ([], [{"role": "user", "parts": [{"text": " "}]}]),
        (
            [{"role": "system", "content": "Be brief."}],
            [{"role": "user", "parts": [{"text": " "}]}],
        ),
        (
            HELLO,
            [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello!"}]},
                {"role": "user", "parts": [{"text": " "}]},
            ],
        ),
    ],
)
def test_an_empty_user_message_keeps_its_turn(client, upstream, empty, before, turns):
    upstream.post(URL, json=OK)
    assert chat(client, messages=[*before, empty]).status_code == 200
    body = sent(upstream)
    check_request(body)
    # Gemini refuses empty text: one space keeps the user's (empty) turn in its place.
    assert body["contents"] == turns
    if before and before[0]["role"] == "system":
        assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


@pytest.mark.parametrize(
    "messages",
    [
        [EMPTY[0], {"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "Hi"}, EMPTY[1]],
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": ""}, {"type": "text", "text": "Hi"}],
            }
        ],
    ],
)
def test_an_empty_message_beside_other_user_content_adds_nothing(client, upstream, messages):
    upstream.post(URL, json=OK)
    assert chat(client, messages=messages).status_code == 200
    assert sent(upstream)["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]


def test_an_empty_message_after_a_tool_result_adds_nothing(client, upstream):
    upstream.post(URL, json=OK)
    messages = [
        {"role": "user", "content": "Look it up"},
        {"role": "assistant", "tool_calls": [tool_call("call_1", "f", "{}")]},
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        EMPTY[0],
    ]
    assert chat(client, messages=messages, tools=[function({})]).status_code == 200
    body = sent(upstream)
    check_request(body)
    response = {"functionResponse": {"name": "f", "response": {"output": "found"}}}
    assert body["contents"][-1] == {"role": "user", "parts": [response]}


def test_an_assistant_only_history_is_sent_as_before(client, upstream):
    upstream.post(URL, json=OK)
    messages = [{"role": "assistant", "content": "Hello!"}, {"role": "assistant", "content": ""}]
    assert chat(client, messages=messages).status_code == 200
    assert sent(upstream)["contents"] == [{"role": "model", "parts": [{"text": "Hello!"}]}]


def test_fake_gemini_refuses_empty_text():
    with pytest.raises(BadRequest):
        check_request({"contents": [{"role": "user", "parts": [{"text": ""}]}]})
