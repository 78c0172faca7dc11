"""Looking up what an upstream Claude model can do: by the longest prefix of its id in a table
(thinking.py, structured.py), or by a backend option where the ids are not Anthropic's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def by_prefix(table: Mapping[str, T], model: str, default: T) -> T:
    """The value of the longest key of `table` that `model` starts with; `default` for none."""
    matches = [prefix for prefix in table if model.startswith(prefix)]
    return table[max(matches, key=len)] if matches else default


def choice_option(
    name: str, options: Mapping[str, Any], key: str, choices: Mapping[str, Any]
) -> Any:
    """The value `choices` gives the backend option `key`, or None when it is not set; a value
    that is not one of the choices is a ValueError naming the backend."""
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"backend `{name}`: {key} must be one of {', '.join(choices)}")
    return choices[value]
