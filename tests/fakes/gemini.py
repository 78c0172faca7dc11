"""A fake Gemini API (v1beta): checks requests like the real one and answers deterministically.

The last user turn decides: function responses are echoed back as text; with tools (mode not
NONE) it calls the first allowed function, or every one when the text says "all tools", with
arguments built from the schema; with a response schema it answers a matching JSON object;
otherwise it echoes the text. Markers in the text trigger failures: `[block]` (prompt blocked),
`[safety]` (candidate stopped by SAFETY), `[no-text]` (MAX_TOKENS spent on thoughts, no
parts), `[ratelimit]` (429 with RetryInfo), `[unavailable]`
(503), `[midstream-error]` (an error event after some text) and `[cut]` (the stream stops early).
With `responseLogprobs` each candidate carries the logprobsResult of its text.
Also usable as a library of wire-format builders for unit tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.fakes.gemini_checks import BadRequest, check_request

API_KEY = "AIzaFakeGeminiKey0123456789"
app = Flask(__name__)
_last: dict[str, Any] = {}


def error_body(code: int, status: str, message: str, details: list | None = None) -> dict:
    """A google.rpc error body as the Gemini API sends it."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def usage_metadata(prompt: int, candidates: int, thoughts: int = 0) -> dict[str, Any]:
    """A usageMetadata object."""
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    usage["totalTokenCount"] = prompt + candidates + thoughts
    return usage


def candidate(parts: list[dict], finish: str | None = "STOP", index: int = 0) -> dict[str, Any]:
    """One candidate; `finish=None` for a streamed piece that is not the last one."""
    item: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish is not None:
        item["finishReason"] = finish
    item["index"] = index
    return item


def _token(value: str, logprob: float, token_id: int) -> dict[str, Any]:
    # Proto3 JSON leaves out default values: a log probability of 0 is not sent.
    return {"token": value, "tokenId": token_id, **({"logProbability": logprob} if logprob else {})}


def logprobs_result(text: str, top: int = 0) -> dict[str, Any]:
    """A logprobsResult for `text`: a decoding step per word (with the spaces after it), its
    chosen token first among `top` candidates."""
    steps = [(w, -0.5 * (n % 3)) for n, w in enumerate(re.findall(r"\S+\s*", text))]
    result: dict[str, Any] = {
        "chosenCandidates": [_token(w, p, n) for n, (w, p) in enumerate(steps)]
    }
    if top:
        result["topCandidates"] = [
            {
                "candidates": [
                    _token(w, p, n),
                    *(_token(f" alt{k}", p - k, k) for k in range(1, top)),
                ]
            }
            for n, (w, p) in enumerate(steps)
        ]
    return result


def with_logprobs(item: dict[str, Any], top: int | None) -> dict[str, Any]:
    """The candidate with the logprobsResult of its text (`top` None: not asked for)."""
    if top is not None:
        text = "".join(p.get("text", "") for p in item.get("content", {}).get("parts", []))
        item["logprobsResult"] = logprobs_result(text, top)
    return item


def response(candidates: list[dict], usage: dict | None = None, **extra: Any) -> dict[str, Any]:
    """A GenerateContentResponse."""
    body: dict[str, Any] = {"candidates": candidates}
    if usage is not None:
        body["usageMetadata"] = usage
    body.update({"modelVersion": "gemini-2.5-flash", "responseId": "fake-response-id", **extra})
    return body


def sse(*payloads: dict[str, Any]) -> bytes:
    """An `alt=sse` body: one `data:` event per payload, CRLF line ends as Google sends them."""
    return b"".join(b"data: " + json.dumps(p).encode() + b"\r\n\r\n" for p in payloads)


def _fail(code: int, status: str, message: str, details: list | None = None) -> Response:
    answer = jsonify(error_body(code, status, message, details))
    answer.status_code = code
    return answer


def _words(text: str) -> int:
    return len(re.findall(r"\S+", text))


def _sample(schema: dict[str, Any], name: str = "value") -> Any:
    """A value that satisfies a Gemini (or plain JSON) schema."""
    if schema.get("anyOf"):
        return _sample(schema["anyOf"][0], name)
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type", "OBJECT" if "properties" in schema else "STRING")).upper()
    if kind == "OBJECT":
        return {key: _sample(sub, key) for key, sub in (schema.get("properties") or {}).items()}
    if kind == "ARRAY":
        return [_sample(schema.get("items") or {}, name)] * max(1, schema.get("minItems", 1))
    samples = {"INTEGER": 42, "NUMBER": 21.5, "BOOLEAN": True}
    if kind in samples:
        return samples[kind]
    return "Paris" if name in ("city", "location") else f"{name}-value"


def _turn_text(turn: dict[str, Any]) -> str:
    return " ".join(p["text"] for p in turn["parts"] if "text" in p)


def _calls(body: dict[str, Any], text: str) -> list[dict[str, Any]]:
    declarations = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations", [])]
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if not declarations or calling.get("mode") == "NONE":
        return []
    allowed = calling.get("allowedFunctionNames")
    chosen = [d for d in declarations if allowed is None or d["name"] in allowed]
    chosen = chosen if "all tools" in text else chosen[:1]
    calls = []
    for number, declaration in enumerate(chosen):
        schema = declaration.get("parameters") or declaration.get("parametersJsonSchema") or {}
        args = _sample(schema) if schema else {}
        part = {"functionCall": {"name": declaration["name"], "args": args}}
        if number == 0:
            part["thoughtSignature"] = "c2lnbmF0dXJl"
        calls.append(part)
    return calls


def answer_parts(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The reply parts and finish reason for a checked request."""
    turn = body["contents"][-1]
    results = [p["functionResponse"] for p in turn["parts"] if "functionResponse" in p]
    if results:
        echoed = "; ".join(f"{r['name']} -> {json.dumps(r['response'])}" for r in results)
        return [{"text": f"Tool results: {echoed}"}], "STOP"
    text = _turn_text(turn)
    if "[safety]" in text:
        return [], "SAFETY"
    if "[no-text]" in text:
        return [], "MAX_TOKENS"
    calls = _calls(body, text)
    if calls:
        return calls, "STOP"
    config = body.get("generationConfig") or {}
    schema = config.get("responseSchema") or config.get("responseJsonSchema")
    if schema:
        return [{"text": json.dumps(_sample(schema))}], "STOP"
    if config.get("responseMimeType") == "application/json":
        return [{"text": json.dumps({"echo": text})}], "STOP"
    return [{"text": f"Gemini fake reply to: {text} ✓ café"}], "STOP"


def _embedding(text: str, dimensions: int | None) -> dict[str, list[float]]:
    digest = hashlib.sha256(text.encode()).digest()
    return {"values": [round(b / 255, 6) for b in digest[: dimensions or 8]]}


@app.post("/v1beta/models/<path:target>")
def models_action(target: str) -> Response:
    """`models/{model}:{method}` for generateContent, streaming and embeddings."""
    if "key" in request.args:
        return _fail(400, "INVALID_ARGUMENT", "The API key must not be sent in the URL.")
    key = request.headers.get("x-goog-api-key")
    if not key:
        return _fail(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity)."
            " Please use API Key or other form of API consumer identity to call this API.",
        )
    if key != os.environ.get("FAKE_GEMINI_KEY", API_KEY):
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        return _fail(
            400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [info]
        )
    model, _, method = target.partition(":")
    body = request.get_json(force=True)
    _last.clear()
    _last.update({"model": model, "method": method, "body": body, "args": dict(request.args)})
    if method == "embedContent":
        return jsonify(
            {"embedding": _embedding(_turn_text(body["content"]), body.get("outputDimensionality"))}
        )
    if method == "batchEmbedContents":
        items = [
            _embedding(_turn_text(r["content"]), r.get("outputDimensionality"))
            for r in body["requests"]
        ]
        return jsonify({"embeddings": items})
    try:
        check_request(body, model)
    except BadRequest as exc:
        return _fail(400, "INVALID_ARGUMENT", str(exc))
    text = _turn_text(body["contents"][-1])
    if "[ratelimit]" in text:
        retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
        return _fail(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", [retry])
    if "[unavailable]" in text:
        return _fail(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    prompt_tokens = sum(_words(_turn_text(c)) for c in body["contents"])
    if "[block]" in text:
        blocked = {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": usage_metadata(prompt_tokens, 0),
        }
        return (
            Response(sse(blocked), mimetype="text/event-stream")
            if method == "streamGenerateContent"
            else jsonify(blocked)
        )
    config = body.get("generationConfig") or {}
    count = config.get("candidateCount", 1)
    top = config.get("logprobs", 0) if config.get("responseLogprobs") else None
    parts, finish = answer_parts(body)
    out_tokens = sum(_words(p.get("text", "")) for p in parts)
    usage = usage_metadata(prompt_tokens, out_tokens, thoughts=3)
    if method == "generateContent":
        items = [with_logprobs(candidate(parts, finish, i), top) for i in range(count)]
        return jsonify(response(items, usage))
    if method == "streamGenerateContent" and request.args.get("alt") == "sse":
        events = _stream(parts, finish, usage, count, text, top)
        return Response(events, mimetype="text/event-stream")
    return _fail(404, "NOT_FOUND", f"Method {method} is not found.")


def _stream(parts, finish, usage, count, text, top) -> Iterator[bytes]:
    pieces: list[list[dict[str, Any]]] = [[p] for p in parts if "text" not in p]
    for part in (p for p in parts if "text" in p):
        pieces += [[{"text": w}] for w in re.findall(r"\S+\s*", part["text"])]
    for n, piece in enumerate(pieces or [[]]):
        last = n == len(pieces or [[]]) - 1
        if "[cut]" in text and last:
            yield b'data: {"candidates": [{"content": {"parts": [{"te'
            return
        yield sse(
            response(
                [
                    with_logprobs(candidate(piece, finish if last else None, i), top)
                    for i in range(count)
                ],
                usage if last else None,
            )
        )
        if "[midstream-error]" in text:
            yield sse(error_body(500, "INTERNAL", "An internal error has occurred."))
            return


@app.get("/v1beta/models")
def list_models() -> Response:
    """Two generation models and one embedding model."""
    names = ["gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004"]
    return jsonify({"models": [{"name": f"models/{n}", "displayName": n} for n in names]})


@app.get("/_last")
def last_request() -> Response:
    """The last request the fake received (for end-to-end assertions)."""
    return jsonify(_last)


def gateway_models(base_url: str, key_env: str, **options: Any) -> dict[str, Any]:
    """A models mapping with one `gemini` backend, for apps built in unit tests."""
    backend = {"type": "gemini", "api_key_env": key_env, "base_url": base_url, **options}
    return {
        "backends": {"gemini": backend},
        "models": [
            {"id": "gpt-4o", "backend": "gemini", "model": "gemini-2.5-flash"},
            {"id": "text-embedding-3-small", "backend": "gemini", "model": "gemini-embedding-001"},
            {"id": "gemini-*", "backend": "gemini"},
        ],
    }
