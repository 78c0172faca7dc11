"""Structured outputs and prompt caching on Claude end to end: openai SDK and LangChain → gunicorn
gateway (the preset with `prompt_caching: true`) → fake Anthropic, which keeps the documented rules
of both (tests/fakes/anthropic_structured.py, tests/fakes/anthropic_caching.py)."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
import yaml
from langchain_openai import ChatOpenAI

from tests.e2e.test_anthropic_e2e import CLIENT_KEY, start_fake
from tests.fakes.anthropic import API_KEY, REFUSAL
from tests.support.provider_e2e import (
    HI,
    PERSON,
    Person,
    client_fixtures,
    last_upstream,
    make_llm,
    server_fixtures,
)
from tests.support.servers import ROOT, ServerProcess, start_gateway

pytestmark = pytest.mark.slow

SONNET = "claude-sonnet-4-5"
ZOE = Person(name="name-value", age=42)
RULES = {"role": "system", "content": "Answer as the house style guide says. " * 200}


def start_caching_gateway(tmp_path: Path, fake: ServerProcess) -> ServerProcess:
    """The shipped preset pointed at the fake, with prompt caching on."""
    data = yaml.safe_load((ROOT / "config/presets/anthropic.yaml").read_text())
    data["backends"]["anthropic"].update(
        base_url=fake.url, api_key_env="E2E_ANTHROPIC_KEY", prompt_caching=True
    )
    env = {"GATEWAY_API_KEYS": CLIENT_KEY, "E2E_ANTHROPIC_KEY": API_KEY}
    return start_gateway(tmp_path, data, env=env)


fake, gateway = server_fixtures("anthropic_structured", start_fake, start_caching_gateway)
gateway_server, sdk, plain_sdk = client_fixtures(CLIENT_KEY)


def sent_format(fake: ServerProcess) -> dict:
    return last_upstream(fake)["body"]["output_config"]["format"]


@pytest.mark.parametrize("effort", [None, "low"])
def test_parse_with_a_pydantic_model(sdk, fake, effort):
    extra = {"reasoning_effort": effort} if effort else {}
    completion = sdk.chat.completions.parse(
        model=SONNET, messages=HI, response_format=Person, **extra
    )
    message = completion.choices[0].message
    assert message.parsed == ZOE and not message.tool_calls
    assert completion.choices[0].finish_reason == "stop"
    schema = sent_format(fake)["schema"]
    assert schema["properties"].keys() == {"name", "age"}
    assert schema["additionalProperties"] is False
    assert ("thinking" in last_upstream(fake)["body"]) is bool(effort)


def test_stream_with_a_pydantic_model(sdk, fake):
    with sdk.chat.completions.stream(
        model="claude-opus-4-6",
        messages=HI,
        response_format=Person,
        reasoning_effort="medium",
        stream_options={"include_usage": True},
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert len(deltas) > 1 and Person.model_validate_json("".join(deltas)) == ZOE
    assert final.choices[0].message.parsed == ZOE
    assert final.usage.completion_tokens_details.reasoning_tokens > 0
    assert last_upstream(fake)["body"]["output_config"]["effort"] == "medium"


def test_a_refusal_is_a_content_filter_finish(sdk):
    messages = [{"role": "user", "content": "[refuse] this"}]
    with pytest.raises(openai.ContentFilterFinishReasonError):
        sdk.chat.completions.parse(model=SONNET, messages=messages, response_format=Person)
    plain = sdk.chat.completions.create(model=SONNET, messages=messages, response_format=PERSON)
    assert plain.choices[0].message.content == REFUSAL


def test_older_models_answer_through_the_forced_tool(sdk, fake):
    completion = sdk.chat.completions.parse(
        model="claude-3-haiku", messages=HI, response_format=Person
    )
    assert completion.choices[0].message.parsed == ZOE
    assert last_upstream(fake)["body"]["tool_choice"] == {"type": "tool", "name": "Person"}


def test_langchain_structured_output(gateway, recorder, fake):
    llm: ChatOpenAI = make_llm(gateway, recorder, CLIENT_KEY, SONNET)
    structured = llm.with_structured_output(Person, method="json_schema")
    assert structured.invoke("Who?") == ZOE
    assert sent_format(fake)["type"] == "json_schema"


def test_a_long_chat_reads_its_prefix_from_the_cache(sdk, fake):
    messages = [RULES, {"role": "user", "content": "First question"}]
    first = sdk.chat.completions.create(model=SONNET, messages=messages)
    sent = last_upstream(fake)["body"]
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "user", "content": "Second question"},
    ]
    stream = sdk.chat.completions.create(
        model=SONNET, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    usage = list(stream)[-1].usage
    assert usage.prompt_tokens_details.cached_tokens == first.usage.prompt_tokens
    assert usage.prompt_tokens > first.usage.prompt_tokens
    messages += [
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Third question"},
    ]
    third = sdk.chat.completions.create(model=SONNET, messages=messages)
    assert third.usage.prompt_tokens_details.cached_tokens == usage.prompt_tokens
