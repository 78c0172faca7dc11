"""Servers for the Gemini end-to-end tests: the fake Gemini API and a gateway in front of it."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.fakes.gemini import API_KEY
from tests.support.servers import ROOT, ServerProcess, gunicorn_app, start_gateway

CLIENT_KEY = "sk-gw-gemini-e2e"
WRONG_KEY = "AIzaWrongKeyForTheE2ETests"


def start_fake(tmp_path: Path) -> ServerProcess:
    """The fake Gemini API, ready to answer."""
    return gunicorn_app("tests.fakes.gemini:app", tmp_path).wait_ready("/v1beta/models")


def start_gemini_gateway(tmp_path: Path, fake: ServerProcess) -> ServerProcess:
    """The shipped preset pointed at the fake, plus a `wrong-key` route with a bad key."""
    data = yaml.safe_load((ROOT / "config/presets/gemini.yaml").read_text())
    base_url = fake.url + "/v1beta"
    data["backends"]["gemini"].update(base_url=base_url, api_key_env="E2E_GEMINI_KEY")
    data["backends"]["wrong_key"] = {
        "type": "gemini",
        "base_url": base_url,
        "api_key_env": "E2E_GEMINI_WRONG_KEY",
    }
    data["models"].insert(0, {"id": "wrong-key", "backend": "wrong_key", "model": "gemini-x"})
    env = {
        "GATEWAY_API_KEYS": CLIENT_KEY,
        "E2E_GEMINI_KEY": API_KEY,
        "E2E_GEMINI_WRONG_KEY": WRONG_KEY,
    }
    return start_gateway(tmp_path, data, env=env)
