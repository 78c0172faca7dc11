"""Helpers for the client-key and rate-limit tests: keys files, hashed keys, one-shot calls."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {"model": "mock", "prompt": "Say hi", "max_tokens": 5}
EMBEDDING = {"model": "mock/text-embedding-3-small", "input": "hello there"}
ENDPOINTS = [
    ("/v1/chat/completions", CHAT),
    ("/v1/completions", COMPLETION),
    ("/v1/embeddings", EMBEDDING),
]


def sha256_hex(key: str) -> str:
    """The hex digest a keys file holds for `key`."""
    return hashlib.sha256(key.encode()).hexdigest()


def write_keys_file(tmp_path: Path, entries: list[dict[str, Any]] | Any) -> str:
    """Write a keys file (`keys:` + entries, or any raw data) and return its path."""
    data = {"keys": entries} if isinstance(entries, list) else entries
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(path)


def post(client, path: str, body: Any, key: str | None):
    """POST, read the whole body and close the response (which runs the observers)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.post(path, json=body, headers=headers)
    response.get_data()
    response.close()
    return response


def get(client, path: str, key: str | None):
    """GET with the key, closed like `post`."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.get(path, headers=headers)
    response.close()
    return response
