"""The text-or-tokens union of `prompt` and `input`: a string, strings, tokens, or token arrays."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.schemas import problems
from app.schemas.base import JSONField

_EXPECTED = (
    "one of a string, an array of strings, an array of integers (tokens) "
    "or an array of arrays of integers"
)
# Token ids are unsigned 32-bit in every tokenizer; larger numbers cannot be tokens.
MAX_TOKEN_ID = 2**32 - 1


def _is_int(value: Any) -> bool:
    return type(value) is int


def _at(index: int, problem: Any) -> ma.ValidationError:
    """An error for item `index`, so that the `param` path names it (`prompt[1]`)."""
    return ma.ValidationError({index: problem if isinstance(problem, dict) else [problem]})


class TextOrTokens(JSONField):
    """`string | string[] | integer[] | integer[][]`, kept as sent.

    The first item of an array decides which kind of array it is. `max_items` caps arrays of
    strings and of token arrays (each item is one input); a single token array is one input,
    so its length is left to the model's context limit.
    """

    expected = _EXPECTED

    def __init__(self, *, max_items: int = 2048, allow_empty_text: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_items = max_items
        self.allow_empty_text = allow_empty_text

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is str:
            self._check_text(value)
            return value
        if type(value) is not list:
            raise self.type_error(value)
        if not value:
            raise ma.ValidationError(problems.too_short_array(0, 1))
        if _is_int(value[0]):
            self._check_tokens(value)
            return value
        if len(value) > self.max_items:
            raise ma.ValidationError(problems.too_long_array(len(value), self.max_items))
        if type(value[0]) is str:
            for index, item in enumerate(value):
                if type(item) is not str:
                    raise _at(index, problems.wrong_type("a string", item))
                if not item and not self.allow_empty_text:
                    raise _at(index, self._empty())
        elif type(value[0]) is list:
            for index, item in enumerate(value):
                self._check_token_array(index, item)
        else:
            raise _at(0, problems.wrong_type("one of a string, an integer or an array", value[0]))
        return value

    def _empty(self) -> problems.Problem:
        return problems.invalid("empty string. Expected a string with at least one character.")

    def _check_text(self, text: str) -> None:
        if not text and not self.allow_empty_text:
            raise ma.ValidationError(self._empty())

    @staticmethod
    def _check_tokens(tokens: list[Any]) -> None:
        for index, token in enumerate(tokens):
            if not _is_int(token):
                raise _at(index, problems.wrong_type("an integer", token))
            if not 0 <= token <= MAX_TOKEN_ID:
                above = token > MAX_TOKEN_ID
                bound = MAX_TOKEN_ID if above else 0
                raise _at(index, problems.out_of_range("integer", token, bound, above))

    def _check_token_array(self, index: int, tokens: Any) -> None:
        if type(tokens) is not list:
            raise _at(index, problems.wrong_type("an array of integers", tokens))
        if not tokens:
            raise _at(index, problems.too_short_array(0, 1))
        try:
            self._check_tokens(tokens)
        except ma.ValidationError as exc:
            raise _at(index, exc.messages) from exc
