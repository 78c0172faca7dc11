"""Stream-level checks: one id, roles first, tool-call deltas in order, one finish, usage last."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from openai.types import Completion, ErrorObject

from tests.support.body_checks import (
    check_chat_chunk,
    check_choice_semantics,
    check_error,
    expected_choices,
    sdk_strict,
)
from tests.support.spec import assert_matches_spec

DONE = "[DONE]"


@dataclass
class _Choice:
    """What the deltas of one choice add up to."""

    index: int
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    function_call: dict[str, str] | None = None
    deltas: int = 0
    finish_reason: str | None = None

    def message(self) -> dict[str, Any]:
        """The assistant message the deltas add up to."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.content) if self.content else None,
            "refusal": "".join(self.refusal) if self.refusal else None,
        }
        if self.calls:
            message["tool_calls"] = self.calls
        if self.function_call is not None:
            message["function_call"] = self.function_call
        return message


def _apply_tool_delta(state: _Choice, item: dict[str, Any]) -> None:
    where = f"choice {state.index} tool_calls[{item['index']}]"
    if item["index"] == len(state.calls):
        # A new call: OpenAI sends its id, type and name once, in its first delta.
        assert item.get("id") and item.get("type") == "function", f"{where}: no id/type: {item}"
        assert (item.get("function") or {}).get("name"), f"{where}: first delta has no name"
        state.calls.append(
            {
                "id": item["id"],
                "type": "function",
                "function": {"name": item["function"]["name"], "arguments": ""},
            }
        )
    else:
        assert 0 <= item["index"] < len(state.calls), f"{where}: index skips ahead of the calls"
        assert "id" not in item and "type" not in item, f"{where}: id/type repeated: {item}"
        assert "name" not in (item.get("function") or {}), f"{where}: name repeated: {item}"
    state.calls[item["index"]]["function"]["arguments"] += (item.get("function") or {}).get(
        "arguments"
    ) or ""


def _apply_function_delta(state: _Choice, delta: dict[str, Any], where: str) -> None:
    """The deprecated `function_call` (answer to `functions`): name first, then arguments."""
    if state.function_call is None:
        assert delta.get("name"), f"{where}: first function_call delta has no name"
        state.function_call = {"name": delta["name"], "arguments": ""}
    else:
        assert "name" not in delta, f"{where}: function_call name repeated"
    state.function_call["arguments"] += delta.get("arguments") or ""


def _apply_delta(state: _Choice, choice: dict[str, Any], position: int) -> None:
    where = f"chunk {position}, choice {state.index}"
    assert state.finish_reason is None, f"{where}: delta after finish_reason"
    delta = choice["delta"]
    if state.deltas == 0:
        assert delta.get("role") == "assistant", f"{where}: first delta has no role: {delta}"
    else:
        assert "role" not in delta, f"{where}: role repeated: {delta}"
    state.deltas += 1
    if delta.get("content") is not None:
        state.content.append(delta["content"])
    if delta.get("refusal") is not None:
        state.refusal.append(delta["refusal"])
    for item in delta.get("tool_calls") or []:
        _apply_tool_delta(state, item)
    if "function_call" in delta:
        _apply_function_delta(state, delta["function_call"], where)
    state.finish_reason = choice["finish_reason"]


def assemble_chat_stream(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The `chat.completion` a stream adds up to, checking the delta rules on the way."""
    states: dict[int, _Choice] = {}
    for position, chunk in enumerate(chunks):
        seen = [choice["index"] for choice in chunk["choices"]]
        assert len(seen) == len(set(seen)), f"chunk {position}: a choice index repeats: {seen}"
        for choice in chunk["choices"]:
            state = states.setdefault(choice["index"], _Choice(choice["index"]))
            _apply_delta(state, choice, position)
    choices = []
    for index in sorted(states):
        state = states[index]
        assert state.finish_reason is not None, f"choice {index} never got a finish_reason"
        choices.append(
            {
                "index": index,
                "message": state.message(),
                "logprobs": None,
                "finish_reason": state.finish_reason,
            }
        )
    first = chunks[0]
    body = {key: first[key] for key in ("id", "created", "model")}
    body.update(object="chat.completion", choices=choices)
    if chunks[-1].get("usage") is not None:
        body["usage"] = chunks[-1]["usage"]
    return body


def _check_envelope(chunks: list[dict[str, Any]], request: dict[str, Any] | None) -> None:
    assert chunks, "the stream has no chunks"
    for key in ("id", "created", "model", "object"):
        values = {chunk[key] for chunk in chunks}
        assert len(values) == 1, f"chunks disagree on `{key}`: {sorted(map(str, values))}"
    if request is not None:
        assert chunks[0]["model"] == request["model"], "chunks name another model"


def _check_usage_placement(
    chunks: list[dict[str, Any]], include_usage: bool, *, null_usage: bool = True
) -> None:
    """The usage chunk comes last, alone, and only when asked for.

    Chat chunks then carry `usage: null` until the last one, as the spec describes; legacy
    completion chunks cannot (their schema has no null usage), so they leave the key out.
    """
    *body, last = chunks
    if not include_usage:
        assert not any("usage" in chunk for chunk in chunks), "usage sent without include_usage"
        assert all(chunk["choices"] for chunk in chunks), "a chunk with empty choices"
        return
    if null_usage:
        assert all("usage" in chunk for chunk in body), "include_usage: a chunk lacks `usage`"
    assert all(chunk.get("usage") is None for chunk in body), "usage before the last chunk"
    assert all(chunk["choices"] for chunk in body), "empty choices before the usage chunk"
    assert last["choices"] == [] and last["usage"] is not None, "last chunk is not the usage one"
    usage = last["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"], usage


def _include_usage(chunks: list[dict[str, Any]], request: dict[str, Any] | None) -> bool:
    if request is None:
        return chunks[-1].get("usage") is not None
    return bool((request.get("stream_options") or {}).get("include_usage"))


def check_chat_stream(
    chunks: list[dict[str, Any]], request: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every chunk, and the stream as a whole; returns the assembled `chat.completion`."""
    for chunk in chunks:
        check_chat_chunk(chunk)
    _check_envelope(chunks, request)
    _check_usage_placement(chunks, _include_usage(chunks, request))
    assembled = assemble_chat_stream(chunks)
    indexes = [choice["index"] for choice in assembled["choices"]]
    expected = len(indexes) if request is None else expected_choices(request, "chat")
    assert indexes == list(range(expected)), f"choices {indexes}, expected {expected}"
    if request is not None:
        check_choice_semantics(assembled["choices"], request)
    return assembled


def _sse_chunks(events: list[str]) -> list[dict[str, Any]]:
    assert events and events[-1] == DONE, f"the stream does not end with [DONE]: {events[-1:]}"
    assert events.count(DONE) == 1, "[DONE] sent more than once"
    chunks = [json.loads(event) for event in events[:-1]]
    for chunk in chunks:
        assert isinstance(chunk, dict) and "error" not in chunk, f"unexpected event {chunk}"
    return chunks


def check_chat_sse(events: list[str], request: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `data:` payloads of a chat stream: chunks, then exactly one final `[DONE]`."""
    return check_chat_stream(_sse_chunks(events), request)


def check_error_sse(events: list[str], operation: str = "chat") -> ErrorObject:
    """A stream cut by an error: chunks, then one error event, and no `[DONE]`."""
    assert events and DONE not in events, "an interrupted stream must not claim [DONE]"
    *chunks, last = [json.loads(event) for event in events]
    for chunk in chunks:
        assert "error" not in chunk, "more than one error event"
        if operation == "chat":
            check_chat_chunk(chunk)
        else:
            _check_completion_chunk(chunk)
    return check_error(last)


def _check_completion_chunk(chunk: dict[str, Any]) -> None:
    # One schema serves both modes, but a streamed choice carries finish_reason null until
    # its last chunk (as OpenAI sends it); validate the rest of the chunk unchanged.
    shown = {
        **chunk,
        "choices": [{**c, "finish_reason": c["finish_reason"] or "stop"} for c in chunk["choices"]],
    }
    assert_matches_spec("CreateCompletionResponse", shown)
    sdk_strict(Completion, shown)


def check_completion_stream(
    chunks: list[dict[str, Any]], request: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A legacy completion stream; returns the assembled `text_completion`."""
    for chunk in chunks:
        _check_completion_chunk(chunk)
    _check_envelope(chunks, request)
    _check_usage_placement(chunks, _include_usage(chunks, request), null_usage=False)
    texts: dict[int, list[str]] = {}
    finish: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            assert choice["index"] not in finish, f"choice {choice['index']}: text after finish"
            texts.setdefault(choice["index"], []).append(choice["text"])
            if choice["finish_reason"] is not None:
                finish[choice["index"]] = choice["finish_reason"]
    expected = len(texts) if request is None else expected_choices(request, "completion")
    assert sorted(texts) == sorted(finish) == list(range(expected)), "choices unfinished"
    choices = [
        {"index": i, "text": "".join(texts[i]), "logprobs": None, "finish_reason": finish[i]}
        for i in sorted(texts)
    ]
    return {**{k: chunks[0][k] for k in ("id", "object", "created", "model")}, "choices": choices}


def check_completion_sse(events: list[str], request: dict[str, Any] | None = None) -> dict:
    """The `data:` payloads of a legacy completion stream, ending with `[DONE]`."""
    return check_completion_stream(_sse_chunks(events), request)
