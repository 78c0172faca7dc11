"""Run one LlamaIndex scenario against a gateway and print its outcome as JSON.

Usage: python llamaindex_client.py BASE_URL API_KEY SCENARIO

It runs inside the LlamaIndex venv that tests/e2e/test_llamaindex.py builds from
requirements-llamaindex.txt (LlamaIndex needs openai<3, the project venv pins openai 3), so it
imports nothing from the project. BASE_URL ends in /v1. Every scenario reports the requests it
made (`METHOD /path status`), so that the test can tell which endpoint LlamaIndex used.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Callable
from typing import Any

import httpx
import openai
from llama_index.core.llms import ChatMessage
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI
from llama_index.llms.openai_like import OpenAILike
from pydantic import BaseModel

CHAT_MODEL = "gpt-4o"
COMPLETION_MODEL = "gpt-3.5-turbo-instruct"
EMBEDDING_MODEL = "text-embedding-3-small"
PROMPT = "Say hi to LlamaIndex"
WEATHER_PROMPT = "What is the weather in 'Paris'?"

Result = dict[str, Any]


class Recorder:
    """httpx clients whose responses are logged as `METHOD /path status`."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def _sync_hook(self, response: httpx.Response) -> None:
        self.requests.append(
            f"{response.request.method} {response.request.url.path} {response.status_code}"
        )

    async def _async_hook(self, response: httpx.Response) -> None:
        self._sync_hook(response)

    def client(self) -> httpx.Client:
        """A sync client that records its responses."""
        return httpx.Client(timeout=30, event_hooks={"response": [self._sync_hook]})

    def async_client(self) -> httpx.AsyncClient:
        """An async client that records its responses."""
        return httpx.AsyncClient(timeout=30, event_hooks={"response": [self._async_hook]})


def get_weather(city: str) -> str:
    """Weather forecast for a city."""
    return f"Sunny in {city}, 21 degrees."


class City(BaseModel):
    """A city and its country."""

    name: str
    country: str


def chat_llm(base_url: str, key: str, recorder: Recorder, **options: Any) -> OpenAILike:
    """An `OpenAILike` chat model on the gateway; no retries, so that errors surface at once."""
    settings: dict[str, Any] = {
        "model": CHAT_MODEL,
        "api_base": base_url,
        "api_key": key,
        "is_chat_model": True,
        "is_function_calling_model": True,
        "max_retries": 0,
        "http_client": recorder.client(),
        "async_http_client": recorder.async_client(),
    }
    return OpenAILike(**{**settings, **options})


def embedder(base_url: str, key: str, recorder: Recorder, **options: Any) -> OpenAIEmbedding:
    """An `OpenAIEmbedding` on the gateway; no retries, so that errors surface at once."""
    settings: dict[str, Any] = {
        "model_name": EMBEDDING_MODEL,
        "api_base": base_url,
        "api_key": key,
        "max_retries": 0,
        "http_client": recorder.client(),
    }
    return OpenAIEmbedding(**{**settings, **options})


def scenario_chat(base_url: str, key: str, recorder: Recorder) -> Result:
    """`chat` and `stream_chat` with the same prompt."""
    llm = chat_llm(base_url, key, recorder)
    messages = [ChatMessage(role="user", content=PROMPT)]
    reply = llm.chat(messages)
    deltas = [chunk.delta or "" for chunk in llm.stream_chat(messages)]
    return {
        "content": reply.message.content,
        "role": str(reply.message.role.value),
        "finish_reason": reply.raw.choices[0].finish_reason,
        "usage": reply.raw.usage.model_dump() if reply.raw.usage else None,
        "deltas": deltas,
    }


def scenario_completion(base_url: str, key: str, recorder: Recorder) -> Result:
    """`complete` and `stream_complete` of a non-chat model (the legacy completions endpoint)."""
    llm = chat_llm(base_url, key, recorder, model=COMPLETION_MODEL, is_chat_model=False)
    reply = llm.complete(PROMPT)
    deltas = [chunk.delta or "" for chunk in llm.stream_complete(PROMPT)]
    return {
        "text": reply.text,
        "object": reply.raw.object,
        "finish_reason": reply.raw.choices[0].finish_reason,
        "deltas": deltas,
    }


def scenario_tools(base_url: str, key: str, recorder: Recorder) -> Result:
    """A FunctionTool through `predict_and_call`, `stream_chat_with_tools`, and a manual loop
    that sends the tool's result back for the final answer."""
    llm = chat_llm(base_url, key, recorder)
    tool = FunctionTool.from_defaults(fn=get_weather)
    output = llm.predict_and_call([tool], WEATHER_PROMPT)

    # Each streamed response holds everything so far; the last one has the whole tool call.
    *_, last = llm.stream_chat_with_tools([tool], user_msg=WEATHER_PROMPT)
    streamed = llm.get_tool_calls_from_response(last, error_on_no_tool_call=False)

    history = [ChatMessage(role="user", content=WEATHER_PROMPT)]
    first = llm.chat_with_tools([tool], chat_history=history)
    calls = llm.get_tool_calls_from_response(first, error_on_no_tool_call=False)
    history.append(first.message)
    for call in calls:
        history.append(
            ChatMessage(
                role="tool",
                content=str(tool(**call.tool_kwargs)),
                additional_kwargs={"tool_call_id": call.tool_id, "name": call.tool_name},
            )
        )
    final = llm.chat_with_tools([tool], chat_history=history)
    return {
        "predict_and_call": output.response,
        "sources": [
            {"tool_name": source.tool_name, "kwargs": source.raw_input.get("kwargs")}
            for source in output.sources
        ],
        "streamed_calls": [{"name": c.tool_name, "kwargs": c.tool_kwargs} for c in streamed],
        "calls": [{"id": c.tool_id, "name": c.tool_name, "kwargs": c.tool_kwargs} for c in calls],
        "first_finish_reason": first.raw.choices[0].finish_reason,
        "final": final.message.content,
        "final_calls": len(llm.get_tool_calls_from_response(final, error_on_no_tool_call=False)),
    }


def scenario_structured(base_url: str, key: str, recorder: Recorder) -> Result:
    """`structured_predict` into a pydantic model (LlamaIndex uses a forced function call)."""
    llm = chat_llm(base_url, key, recorder)
    city = llm.structured_predict(City, PromptTemplate("Name the city 'Paris' in 'France'."))
    return {"city": city.model_dump()}


def scenario_openai_async(base_url: str, key: str, recorder: Recorder) -> Result:
    """LlamaIndex's own `OpenAI` class (not OpenAILike) with `api_base`, async chat and stream."""
    llm = OpenAI(
        model=CHAT_MODEL,
        api_base=base_url,
        api_key=key,
        max_retries=0,
        http_client=recorder.client(),
        async_http_client=recorder.async_client(),
    )
    messages = [ChatMessage(role="user", content=PROMPT)]

    async def run() -> Result:
        reply = await llm.achat(messages)
        deltas = [chunk.delta or "" async for chunk in await llm.astream_chat(messages)]
        return {"content": reply.message.content, "deltas": deltas}

    return {**asyncio.run(run()), "sync_content": llm.chat(messages).message.content}


def scenario_embeddings(base_url: str, key: str, recorder: Recorder) -> Result:
    """`get_text_embedding`, `get_text_embedding_batch` (in two requests), the query embedding,
    and `dimensions`."""
    # A batch size of 2 makes the three-text batch below take two requests.
    embed = embedder(base_url, key, recorder, embed_batch_size=2)
    single = embed.get_text_embedding("hello gateway")
    again = embed.get_text_embedding("hello gateway")
    batch = embed.get_text_embedding_batch(["hello gateway", "something else", "hello gateway"])
    query = embed.get_query_embedding("hello gateway")
    short = embedder(base_url, key, recorder, dimensions=256).get_text_embedding("hello gateway")
    vectors = [single, again, *batch, query, short]
    return {
        "lengths": [len(vector) for vector in vectors],
        "norms": [math.sqrt(sum(x * x for x in vector)) for vector in vectors],
        "same_text_same_vector": single == again == batch[0] == batch[2],
        "other_text_other_vector": batch[1] != batch[0],
        "query_equals_text": query == single,
    }


def error_outcome(call: Callable[[], Any]) -> Result:
    """What `call` raised, if it was an OpenAI API error."""
    try:
        call()
    except openai.APIStatusError as error:
        body = error.body if isinstance(error.body, dict) else {}
        return {
            "raised": True,
            "exception": type(error).__name__,
            "bases": [cls.__name__ for cls in type(error).__mro__],
            "status": error.status_code,
            "code": error.code,
            "type": error.type,
            "param": error.param,
            "message": body.get("message"),
        }
    return {"raised": False}


def scenario_bad_key(base_url: str, key: str, recorder: Recorder) -> Result:
    """A chat and an embedding with a key the gateway does not know."""
    wrong = "sk-not-a-gateway-key"
    llm = chat_llm(base_url, wrong, recorder)
    embed = embedder(base_url, wrong, recorder)
    return {
        "chat": error_outcome(lambda: llm.chat([ChatMessage(role="user", content=PROMPT)])),
        "embedding": error_outcome(lambda: embed.get_text_embedding("hello")),
    }


def scenario_unknown_model(base_url: str, key: str, recorder: Recorder) -> Result:
    """Chat, completion and embedding with a model the gateway does not route."""
    llm = chat_llm(base_url, key, recorder, model="no-such-model")
    legacy = chat_llm(base_url, key, recorder, model="no-such-model", is_chat_model=False)
    embed = embedder(base_url, key, recorder, model_name="no-such-model")
    return {
        "chat": error_outcome(lambda: llm.chat([ChatMessage(role="user", content=PROMPT)])),
        "stream_chat": error_outcome(
            lambda: list(llm.stream_chat([ChatMessage(role="user", content=PROMPT)]))
        ),
        "complete": error_outcome(lambda: legacy.complete(PROMPT)),
        "embedding": error_outcome(lambda: embed.get_text_embedding("hello")),
    }


SCENARIOS: dict[str, Callable[[str, str, Recorder], Result]] = {
    "chat": scenario_chat,
    "completion": scenario_completion,
    "tools": scenario_tools,
    "structured": scenario_structured,
    "openai_async": scenario_openai_async,
    "embeddings": scenario_embeddings,
    "bad_key": scenario_bad_key,
    "unknown_model": scenario_unknown_model,
}


def main(argv: list[str]) -> int:
    """Run the scenario named on the command line; print its result as one JSON object."""
    if len(argv) != 3 or argv[2] not in SCENARIOS:
        print(f"usage: llamaindex_client.py BASE_URL API_KEY {{{','.join(SCENARIOS)}}}")
        return 2
    base_url, key, name = argv
    recorder = Recorder()
    result = SCENARIOS[name](base_url, key, recorder)
    print(json.dumps({**result, "requests": recorder.requests}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
