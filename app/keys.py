"""Client keys: what one key may do, and the optional keys file (YAML) that lists them.

The keys file never holds a plain key. Each entry gives the key's SHA-256 digest
(`key_sha256`) or the name of an environment variable that holds it (`key_env`):

    keys:
      - name: team-a
        key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        models: [gpt-4o, "mock/*"]
        rpm: 60
        tpm: 100000
      - name: ci
        key_env: CI_GATEWAY_KEY

Any mistake in the file stops the gateway at start with a `KeysFileError` naming the entry.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import config

_FIELDS = {"name", "key_sha256", "key_env", "models", "rpm", "tpm"}
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


class KeysFileError(ValueError):
    """The keys file cannot be used as written."""


@dataclass(frozen=True)
class ClientKey:
    """A key the gateway accepts; only its name, SHA-256 digest and permissions are kept."""

    name: str
    digest: bytes
    # Model ids and glob patterns the key may use; None allows every model.
    models: tuple[str, ...] | None = None
    # Requests and tokens per rate-limit window; None takes the gateway default, 0 is no limit.
    rpm: int | None = None
    tpm: int | None = None

    @property
    def bucket(self) -> str:
        """The key's rate-limit counter id: from its digest, not its name.

        Keys of GATEWAY_API_KEYS are named by position (key-1, key-2...), so two instances
        listing them in another order, or a deploy adding one, would share one key's counts
        with another key.
        """
        return self.digest.hex()[:32]

    def allows(self, model: str) -> bool:
        """True when `model` is one of the key's ids or matches one of its patterns."""
        if self.models is None:
            return True
        return any(
            model == allowed or fnmatch.fnmatchcase(model, allowed) for allowed in self.models
        )

    def with_defaults(self, rpm: int, tpm: int) -> ClientKey:
        """This key with the gateway's default limits where it sets none of its own."""
        return dataclasses.replace(
            self,
            rpm=rpm if self.rpm is None else self.rpm,
            tpm=tpm if self.tpm is None else self.tpm,
        )


def digest(secret: str) -> bytes:
    """The SHA-256 digest keys are matched by."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def load_keys_file(path: str | Path) -> list[ClientKey]:
    """Read the keys file; a missing file or a bad entry raises KeysFileError."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise KeysFileError(f"keys file {path}: cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise KeysFileError(f"keys file {path}: not valid YAML ({exc})") from exc
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise KeysFileError(f"keys file {path}: expected a mapping with a `keys:` list")
    keys = []
    for i, entry in enumerate(entries):
        try:
            keys.append(_entry(entry))
        except KeysFileError as exc:
            name = entry.get("name") if isinstance(entry, dict) else None
            where = f"keys[{i}]" + (f" ({name})" if isinstance(name, str) else "")
            raise KeysFileError(f"keys file {path}: {where}: {exc}") from None
    return keys


def check_unique(keys: Iterable[ClientKey], where: str) -> None:
    """Names and keys must each appear once (plain keys are named key-1, key-2, ...); an
    error starts with `where` the keys came from."""
    names: set[str] = set()
    digests: dict[bytes, str] = {}
    for key in keys:
        if key.name in names:
            raise KeysFileError(f"{where}: client key name `{key.name}` is used twice")
        names.add(key.name)
        if key.digest in digests:
            raise KeysFileError(
                f"{where}: client keys `{digests[key.digest]}` and `{key.name}` are the same key"
            )
        digests[key.digest] = key.name


def _entry(entry: Any) -> ClientKey:
    if not isinstance(entry, dict):
        raise KeysFileError("each entry must be a mapping")
    if "key" in entry:
        raise KeysFileError("plain keys do not belong in the file; use key_sha256 or key_env")
    unknown = sorted(set(map(str, entry)) - _FIELDS)
    if unknown:
        raise KeysFileError(f"unknown field(s) {', '.join(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise KeysFileError("`name` must be a non-empty string")
    return ClientKey(
        name=name.strip(),
        digest=_key_digest(entry),
        models=_models(entry.get("models")),
        rpm=_limit(entry, "rpm"),
        tpm=_limit(entry, "tpm"),
    )


def _key_digest(entry: dict[str, Any]) -> bytes:
    if ("key_sha256" in entry) == ("key_env" in entry):
        raise KeysFileError("give exactly one of key_sha256 and key_env")
    if "key_sha256" in entry:
        value = entry["key_sha256"]
        if not isinstance(value, str) or not _HEX_DIGEST.fullmatch(value.strip()):
            raise KeysFileError("key_sha256 must be 64 hexadecimal characters (a SHA-256 digest)")
        return bytes.fromhex(value.strip())
    variable = entry["key_env"]
    if not isinstance(variable, str) or not variable.strip():
        raise KeysFileError("key_env must name an environment variable")
    secret = config.secret_from_env(variable.strip())
    if not secret or not secret.strip():
        raise KeysFileError(f"environment variable {variable.strip()} is not set")
    return digest(secret.strip())


def _models(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise KeysFileError("`models` must be a non-empty list (leave it out to allow every model)")
    if not all(isinstance(model, str) and model for model in value):
        raise KeysFileError("`models` must list model ids or glob patterns as strings")
    return tuple(value)


def _limit(entry: dict[str, Any], field: str) -> int | None:
    value = entry.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise KeysFileError(f"`{field}` must be a whole number, 0 or more (0 is no limit)")
    return value
