"""LlamaIndex's OpenAI integrations (OpenAILike, OpenAI, OpenAIEmbedding) against a real gunicorn
gateway serving the mock model.

LlamaIndex needs openai<3 and the project venv pins openai 3, so LlamaIndex lives in a venv of
its own (.llamaindex/venv, built once from requirements-llamaindex.txt and reused while that
file is unchanged). Each test runs one scenario of tests/support/llamaindex_client.py in it and
checks the JSON the scenario prints.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_KEY
from tests.support.servers import ROOT

# The first test also builds the venv (about 20 s of pip install, more on a slow machine), and
# pytest-timeout counts fixture setup against the test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

REQUIREMENTS = ROOT / "requirements-llamaindex.txt"
CLIENT = ROOT / "tests" / "support" / "llamaindex_client.py"
LLAMAINDEX_DIR = ROOT / ".llamaindex"
VENV = LLAMAINDEX_DIR / "venv"
STAMP = LLAMAINDEX_DIR / "requirements.sha256"
PIP_LOG = LLAMAINDEX_DIR / "pip-install.log"
INSTALL_TIMEOUT = 300.0
SCENARIO_TIMEOUT = 60.0

PROMPT = "Say hi to LlamaIndex"
REPLY_PREFIX = f'This is a mock reply to "{PROMPT}": '
CHAT = "POST /v1/chat/completions"

Scenario = Callable[[str], dict[str, Any]]


def _fail_with_log(message: str, log: str) -> None:
    """Fail the test with `message` and the end of a log (pip's can be long)."""
    tail = "\n".join(log.splitlines()[-150:])
    pytest.fail(f"{message}\n--- last lines ---\n{tail}", pytrace=False)


def _isolated_env() -> dict[str, str]:
    """The environment for the LlamaIndex venv's processes, without settings that would reach
    into the project venv or point the openai SDK elsewhere."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "OPENAI_")) and name != "VIRTUAL_ENV"
    }


def build_llamaindex_venv() -> Path:
    """Create the LlamaIndex venv unless the stamp says it matches requirements-llamaindex.txt;
    return its python."""
    python = VENV / "bin" / "python"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    LLAMAINDEX_DIR.mkdir(exist_ok=True)
    # Two pytest runs in the same checkout must not build the same venv at once.
    with open(LLAMAINDEX_DIR / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and STAMP.exists() and STAMP.read_text().strip() == digest:
            return python
        STAMP.unlink(missing_ok=True)
        shutil.rmtree(VENV, ignore_errors=True)
        created = subprocess.run(
            [sys.executable, "-m", "venv", str(VENV)],
            capture_output=True,
            text=True,
            env=_isolated_env(),
            timeout=60,
        )
        if created.returncode != 0:
            _fail_with_log("could not create the LlamaIndex venv", created.stdout + created.stderr)
        command = [str(python), "-m", "pip", "install", "-r", str(REQUIREMENTS)]
        with open(PIP_LOG, "wb") as log:
            try:
                installed = subprocess.run(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=_isolated_env(),
                    timeout=INSTALL_TIMEOUT,
                ).returncode
            except subprocess.TimeoutExpired:
                installed = None
        if installed != 0:
            outcome = f"exit code {installed}" if installed is not None else "timed out"
            _fail_with_log(
                f"{' '.join(command)} failed ({outcome}); full log: {PIP_LOG}",
                PIP_LOG.read_text(errors="replace"),
            )
        STAMP.write_text(digest + "\n")
    return python


@pytest.fixture(scope="session")
def llamaindex_python() -> Path:
    """The python of a venv with requirements-llamaindex.txt installed (built once, then
    reused)."""
    return build_llamaindex_venv()


@pytest.fixture(scope="module")
def scenario(llamaindex_python, gateway_server) -> Scenario:
    """Run a scenario of the LlamaIndex client against the session's gateway; its JSON result."""

    def run(name: str) -> dict[str, Any]:
        # -I keeps tests/support (the script's folder) off sys.path, so that no project module
        # shadows a library module.
        url = f"{gateway_server.url}/v1"
        command = [str(llamaindex_python), "-I", str(CLIENT), url, CLIENT_KEY, name]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=_isolated_env(),
                timeout=SCENARIO_TIMEOUT,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(
                f"scenario {name} still running after {SCENARIO_TIMEOUT}s\n"
                f"stdout: {error.stdout!r}\nstderr: {error.stderr!r}\n"
                f"gateway log:\n{gateway_server.output()[-4000:]}",
                pytrace=False,
            )
        if done.returncode != 0:
            pytest.fail(
                f"scenario {name} exited with {done.returncode}\nstdout:\n{done.stdout}\n"
                f"stderr:\n{done.stderr}\ngateway log:\n{gateway_server.output()[-4000:]}",
                pytrace=False,
            )
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


def _check_stream(deltas: list[str], whole: str) -> None:
    """A stream came in several pieces and adds up to the non-streamed answer."""
    assert len([delta for delta in deltas if delta]) > 5, deltas
    assert "".join(deltas) == whole


def test_openai_like_chat_and_stream_chat(scenario):
    result = scenario("chat")
    assert result["requests"] == [f"{CHAT} 200"] * 2
    assert result["content"].startswith(REPLY_PREFIX)
    assert len(result["content"]) > len(REPLY_PREFIX) + 20
    assert result["role"] == "assistant" and result["finish_reason"] == "stop"
    usage = result["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    # The mock is deterministic, so the stream carries the same text as the plain answer.
    _check_stream(result["deltas"], result["content"])


def test_openai_like_completion_model_uses_legacy_endpoint(scenario):
    result = scenario("completion")
    assert result["requests"] == ["POST /v1/completions 200"] * 2
    assert result["object"] == "text_completion"
    assert result["text"].startswith(REPLY_PREFIX.rstrip())
    # OpenAILike sends no max_tokens (it has no tokenizer to infer one), and the legacy
    # endpoint then stops after 16 tokens, as OpenAI's does.
    assert result["finish_reason"] == "length"
    _check_stream(result["deltas"], result["text"])


def test_function_tool_calls(scenario):
    result = scenario("tools")
    weather = {"name": "get_weather", "kwargs": {"city": "Paris"}}
    assert result["predict_and_call"] == "Sunny in Paris, 21 degrees."
    assert result["sources"] == [{"tool_name": "get_weather", "kwargs": {"city": "Paris"}}]
    assert result["streamed_calls"] == [weather]
    [call] = result["calls"]
    assert call["id"].startswith("call_")
    assert {"name": call["name"], "kwargs": call["kwargs"]} == weather
    assert result["first_finish_reason"] == "tool_calls"
    # The tool message LlamaIndex sends back reaches the model, which quotes the result.
    assert result["final"].startswith(
        'This is a mock reply based on the tool results: get_weather returned "Sunny in Paris'
    )
    assert result["final_calls"] == 0
    assert result["requests"] == [f"{CHAT} 200"] * 4


def test_structured_predict(scenario):
    result = scenario("structured")
    assert result["city"] == {"name": "Paris", "country": "France"}
    assert result["requests"] == [f"{CHAT} 200"]


def test_openai_class_with_api_base_async(scenario):
    result = scenario("openai_async")
    assert result["content"].startswith(REPLY_PREFIX)
    assert result["sync_content"] == result["content"]
    _check_stream(result["deltas"], result["content"])
    assert result["requests"] == [f"{CHAT} 200"] * 3


def test_openai_embedding(scenario):
    result = scenario("embeddings")
    # single, again, the batch of three in two requests (embed_batch_size=2), query, 256 dims.
    assert result["requests"] == ["POST /v1/embeddings 200"] * 6
    assert result["lengths"] == [1536] * 6 + [256]
    assert all(math.isclose(norm, 1.0, abs_tol=1e-6) for norm in result["norms"])
    assert result["same_text_same_vector"] and result["other_text_other_vector"]
    assert result["query_equals_text"]


def _check_error(outcome: dict[str, Any], exception: str, status: int, code: str) -> None:
    """LlamaIndex let the openai SDK's own exception through, with the gateway's error body."""
    assert outcome["raised"], outcome
    assert outcome["exception"] == exception and "APIStatusError" in outcome["bases"]
    assert outcome["status"] == status and outcome["code"] == code
    assert outcome["type"] == "invalid_request_error" and outcome["param"] is None


def test_wrong_key_is_an_authentication_error(scenario):
    result = scenario("bad_key")
    assert result["requests"] == [f"{CHAT} 401", "POST /v1/embeddings 401"]
    for outcome in (result["chat"], result["embedding"]):
        _check_error(outcome, "AuthenticationError", 401, "invalid_api_key")
        assert outcome["message"] == (
            "Incorrect API key provided. Check the key you configured for this gateway."
        )


def test_unknown_model_is_not_found(scenario):
    result = scenario("unknown_model")
    assert result["requests"] == [
        f"{CHAT} 404",
        f"{CHAT} 404",
        "POST /v1/completions 404",
        "POST /v1/embeddings 404",
    ]
    for outcome in (result[name] for name in ("chat", "stream_chat", "complete", "embedding")):
        _check_error(outcome, "NotFoundError", 404, "model_not_found")
        assert outcome["message"] == (
            "The model `no-such-model` does not exist or you do not have access to it."
        )
