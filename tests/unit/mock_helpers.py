"""Helpers shared by the mock backend unit tests: tool models, chat calls and streamed answers."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, Field

from tests.support.body_checks import check_chat_completion
from tests.support.stream_checks import check_chat_sse


class Location(BaseModel):
    city: str
    country: str | None = None


class GetWeather(BaseModel):
    """Get the weather forecast."""

    location: Location
    days: Annotated[int, Field(ge=1, le=14)]
    unit: Annotated[str, Field(json_schema_extra={"enum": ["celsius", "fahrenheit"]})] = "celsius"


class Joke(BaseModel):
    setup: str
    punchline: str
    rating: int | None = None


def tool(model: type[BaseModel]) -> dict:
    """The OpenAI function tool whose parameters are `model`'s JSON schema."""
    return {
        "type": "function",
        "function": {
            "name": model.__name__,
            "description": model.__doc__ or "",
            "parameters": model.model_json_schema(),
        },
    }


WEATHER = tool(GetWeather)
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
ASK = "What's the weather in 'Paris', 'France' for 3 days in fahrenheit?"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def chat(client, **body) -> dict:
    body.setdefault("model", "mock")
    body.pop("stream_options", None)  # only allowed with `stream`
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    check_chat_completion(answer, body)
    return answer


def stream(client, **body) -> tuple[list[dict], dict]:
    """The chunks of a streamed answer, and the chat.completion they add up to."""
    body.setdefault("model", "mock")
    response = client.post("/v1/chat/completions", json={**body, "stream": True})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    events = [
        block.removeprefix("data: ")
        for block in response.get_data(as_text=True).split("\n\n")
        if block.strip()
    ]
    assembled = check_chat_sse(events, {**body, "stream": True})
    return [json.loads(event) for event in events[:-1]], assembled


def messages_of(answer: dict) -> list[dict]:
    return [choice["message"] for choice in answer["choices"]]
