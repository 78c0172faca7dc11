"""Shared set-up and checks for the end-to-end tests of a provider preset behind a fake provider."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import requests
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, BaseMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.support.recording import RecordingTransport
from tests.support.servers import ServerProcess

HI = [{"role": "user", "content": "Hi there"}]
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
    },
}


def weather_tool(properties: dict[str, Any], **schema: Any) -> dict[str, Any]:
    """The SDK's `get_weather` tool, with these argument properties (`city` required)."""
    parameters = {"type": "object", "properties": properties, "required": ["city"], **schema}
    return {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": parameters,
        },
    }


# What `pytest.fixture` returns; pytest does not export its type. A test module binds the
# fixtures a factory below returns to module-level names of its own, where pytest finds them.
Fixture = Callable[..., Any]


def server_fixtures(
    name: str,
    start_fake: Callable[[Path], ServerProcess],
    start_gateway: Callable[[Path, ServerProcess], ServerProcess],
) -> tuple[Fixture, Fixture]:
    """Module-scoped `fake` and `gateway` fixtures: a fake provider and a gateway in front."""

    @pytest.fixture(scope="module")
    def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        """The fake provider API, ready to answer."""
        server = start_fake(tmp_path_factory.mktemp(f"fake_{name}"))
        yield server
        server.stop()

    @pytest.fixture(scope="module")
    def gateway(
        tmp_path_factory: pytest.TempPathFactory, fake: ServerProcess
    ) -> Iterator[ServerProcess]:
        """The gateway pointed at the fake."""
        server = start_gateway(tmp_path_factory.mktemp(f"{name}_gateway"), fake)
        yield server
        server.stop()

    return fake, gateway


def client_fixtures(client_key: str) -> tuple[Fixture, Fixture, Fixture]:
    """The `gateway_server`, `sdk` and `plain_sdk` fixtures for a gateway taking `client_key`."""

    @pytest.fixture(scope="module")
    def gateway_server(gateway: ServerProcess) -> ServerProcess:
        """This module's gateway, for the recording clients of tests/e2e/conftest.py."""
        return gateway

    @pytest.fixture
    def sdk(make_sdk: Callable[..., openai.OpenAI]) -> openai.OpenAI:
        """The recording SDK client (tests/e2e/conftest.py) with this module's gateway key."""
        return make_sdk(client_key)

    @pytest.fixture
    def plain_sdk(gateway: ServerProcess) -> Iterator[openai.OpenAI]:
        """A client for error cases, whose streams end in error events the recorder refuses."""
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=client_key, max_retries=0)
        yield client
        # An open keep-alive connection would hold up the gateway's graceful shutdown.
        client.close()

    return gateway_server, sdk, plain_sdk


def last_upstream(fake: ServerProcess) -> dict[str, Any]:
    """The last request the fake provider received, as it reports it on `/_last`."""
    return requests.get(fake.url + "/_last", timeout=5).json()


def streamed_tool_calls(client: openai.OpenAI, **request: Any) -> dict[int, dict[str, str]]:
    """Stream a chat request; its tool calls by index: the name and the joined argument deltas."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in client.chat.completions.create(**request, stream=True):
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"name": delta.function.name, "args": ""})
            entry["args"] += delta.function.arguments or ""
    return calls


def text_before_error(client: openai.OpenAI, model: str, content: str) -> str:
    """Stream a chat that must end in an `openai.APIError`; the text it gave before that."""
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}], stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    return "".join(received)


def make_llm(
    gateway: ServerProcess, recorder: RecordingTransport, client_key: str, model: str
) -> ChatOpenAI:
    """A LangChain `ChatOpenAI` for `model` on the gateway, its traffic recorded by `recorder`."""
    return ChatOpenAI(
        model=model,
        base_url=gateway.url + "/v1",
        api_key=client_key,
        max_retries=0,
        http_client=httpx.Client(transport=recorder),
    )


def streamed_message(llm: BaseChatModel, prompt: str) -> BaseMessageChunk:
    """Stream `prompt` with usage and add the chunks up into one message."""
    chunks = list(llm.stream(prompt, stream_usage=True))
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    return total


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"18°C in {city}"


def langchain_tool_round_trip(llm: BaseChatModel, prompt: str) -> BaseMessage:
    """Check that `prompt` gets a `get_weather` call for Paris, answer it, return the reply."""
    bound = llm.bind_tools([get_weather])
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    reply = bound.invoke(messages)
    assert reply.tool_calls[0]["name"] == "get_weather"
    assert reply.tool_calls[0]["args"] == {"city": "Paris"}
    result = get_weather.invoke(reply.tool_calls[0]["args"])
    messages += [reply, ToolMessage(result, tool_call_id=reply.tool_calls[0]["id"])]
    return bound.invoke(messages)


class Person(BaseModel):
    """A person."""

    name: str
    age: int
