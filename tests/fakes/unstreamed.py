"""A fake OpenAI-compatible upstream that ignores `stream`: every chat or legacy completion is
answered with one complete JSON body (as some servers and proxies do), a tool call when the
request declares tools."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

app = Flask(__name__)
USAGE = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}


@app.post("/v1/chat/completions")
def chat() -> Any:
    """A complete `chat.completion`, whatever `stream` says."""
    body = request.get_json()
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    if body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        call = {"name": name, "arguments": '{"city":"Paris"}'}
        message["tool_calls"] = [{"id": "call_1", "type": "function", "function": call}]
        finish = "tool_calls"
    else:
        message["content"] = "Echo: " + str(body["messages"][-1]["content"])
        finish = "stop"
    return jsonify(
        {
            "id": "chatcmpl-unstreamed",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body["model"],
            "system_fingerprint": "fp_unstreamed",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": USAGE,
        }
    )


@app.post("/v1/completions")
def completion() -> Any:
    """A complete `text_completion`, whatever `stream` says."""
    body = request.get_json()
    choice = {"text": " upon a time", "index": 0, "logprobs": None, "finish_reason": "length"}
    return jsonify(
        {
            "id": "cmpl-unstreamed",
            "object": "text_completion",
            "created": 1700000000,
            "model": body["model"],
            "choices": [choice],
            "usage": USAGE,
        }
    )


@app.get("/v1/models")
def models() -> Any:
    """Readiness: an empty model list."""
    return jsonify({"object": "list", "data": []})
