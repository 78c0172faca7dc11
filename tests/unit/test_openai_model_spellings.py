"""The client's `model` replaces the upstream's in every legal JSON spelling, stream or not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.backends.openai.rewrite import ModelRewriter
from tests.support.openai_upstream import CHAT_URL, UPSTREAM, chat_body, make_app, sse_payloads

SECRET = "secret-up"
# What comes before `choices` in an answer or a chunk, as upstreams may spell `model`.
SPELLINGS = {
    "repeated": f'"model":"first","model":"{SECRET}",',
    "absent": "",
    "null": '"model":null,',
    "number": '"model":7,',
    "escaped key": f'"mod\\u0065l":"{SECRET}",',
    "escaped key after": f'"model":"first","m\\u006Fdel":"{SECRET}",',
    "escaped key before": f'"\\u006dodel":"{SECRET}","model":"second",',
    "key ending in a quote": f'"note\\"model":"hello","model":"{SECRET}",',
    "nested only": '"meta":{"model":"inner"},',
}
ANSWER = (
    '{"id":"c","object":"chat.completion","created":1,%s"choices":[{"index":0,"message":'
    '{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
)
CHUNK = (
    '{"id":"c","object":"chat.completion.chunk","created":1,%s"choices":[{"index":0,"delta":'
    '{"content":"hi"},"logprobs":null,"finish_reason":null}]}'
)


def top_level_models(text: str | bytes) -> list[Any]:
    """Every top-level `model` value of a JSON object, repeated keys included."""
    pairs = json.loads(text, object_pairs_hook=lambda items: items)
    return [value for key, value in pairs if key == "model"]


@pytest.fixture
def client(monkeypatch):
    return make_app(monkeypatch).test_client()


# -- the rewriter ---------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_spelling_ends_with_one_top_level_model(spelling):
    out = ModelRewriter("gw")((CHUNK % spelling).encode())
    assert top_level_models(out) == ["gw"]
    assert SECRET.encode() not in out
    assert ModelRewriter("gw").splice((CHUNK % spelling).encode()) is None


def test_the_usual_event_is_spliced_even_with_escapes_in_its_text():
    data = CHUNK % '"model" : "up\\"1",'
    data = data.replace('"hi"', '"a\\nb \\"model\\" \\u00e9 \\\\"').encode()
    expected = data.replace(b'"model" : "up\\"1"', b'"model":"gw"')
    assert ModelRewriter("gw").splice(data) == expected
    assert ModelRewriter("gw")(data) == expected


def test_a_letter_escaped_in_the_text_only_costs_a_parse():
    data = (CHUNK % f'"model":"{SECRET}",').replace('"hi"', '"\\u0061"').encode()
    out = ModelRewriter("gw")(data)
    assert json.loads(out) == {**json.loads(data), "model": "gw"}


def test_a_lone_surrogate_survives_the_parse():
    data = (CHUNK % '"model":null,').replace('"hi"', '"\\ud800"').encode()
    assert json.loads(ModelRewriter("gw")(data))["choices"][0]["delta"]["content"] == "\ud800"


# -- through the gateway --------------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_a_stream_shows_only_the_client_model(client, upstream, spelling):
    event = CHUNK % spelling
    body = f"data: {event}\n\ndata: {event}\n\ndata: [DONE]\n\n".encode()
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    relayed = client.post("/v1/chat/completions", json=chat_body(stream=True)).get_data()
    assert SECRET.encode() not in relayed
    blocks = [b.removeprefix(b"data: ") for b in relayed.split(b"\n\n") if b][:-1]
    assert [top_level_models(b) for b in blocks] == [["gw"], ["gw"]]
    assert sse_payloads(relayed)[-1] == "[DONE]"


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_an_answer_shows_only_the_client_model(client, upstream, spelling):
    upstream.post(CHAT_URL, body=ANSWER % spelling, content_type="application/json")
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 200
    assert SECRET.encode() not in response.get_data()
    assert top_level_models(response.get_data()) == ["gw"]


def test_the_usual_answer_keeps_the_upstream_bytes(client, upstream):
    answer = ANSWER % '"model": "up-1", '
    upstream.post(CHAT_URL, body=answer, content_type="application/json")
    body = client.post("/v1/chat/completions", json=chat_body()).get_data()
    assert body == answer.replace('"model": "up-1"', '"model":"gw"').encode()


def test_a_byte_order_mark_before_the_answer_is_dropped(client, upstream):
    answer = ANSWER % '"model":"up-1",'
    upstream.post(CHAT_URL, body=b"\xef\xbb\xbf" + answer.encode(), content_type="application/json")
    body = client.post("/v1/chat/completions", json=chat_body()).get_data()
    assert body == answer.replace('"model":"up-1"', '"model":"gw"').encode()


def test_embeddings_with_model_after_data_are_encoded_anew(client, upstream):
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
        "model": SECRET,
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    upstream.post(UPSTREAM + "/embeddings", body=json.dumps(answer, indent=1))
    response = client.post("/v1/embeddings", json={"model": "gw", "input": "hi"})
    assert response.get_json() == {**answer, "model": "gw"}
    assert b"\n" not in response.get_data().strip()  # compact: not the upstream's bytes
