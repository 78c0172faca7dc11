"""The mock's literal extraction: numbers, quoted strings, formats and enum mentions in text."""

from __future__ import annotations

from app.backends.mock.extract import Literals, parse


def test_numbers_come_in_text_order_and_skip_quoted_and_dated_ones():
    lits = Literals('Book "Room 12" for 4 people on 2024-05-01, budget 1,250.50 and -3.')
    assert [lits.take_number(lambda v: True) for _ in range(4)] == [4, 1250.5, -3, None]


def test_numbers_are_taken_only_where_they_fit():
    lits = Literals("first 2.5 then 7")
    assert lits.take_number(lambda v: isinstance(v, int)) == 7
    assert lits.take_number(lambda v: True) == 2.5


def test_quoted_strings_in_every_quote_style():
    text = "Say \"one\", 'two', `three`, “four” and ‘five’ — but don't split it's words."
    assert [lit.value for lit in parse(text) if lit.kind == "quoted"] == [
        "one",
        "two",
        "three",
        "four",
        "five",
    ]


def test_unquoted_formats_are_recognised():
    text = (
        "Mail bob@example.com at 2024-05-01T10:30 about https://example.com/a?b=1, "
        "ticket 123e4567-e89b-12d3-a456-426614174000 due 2024-06-30."
    )
    kinds = {lit.kind: lit.value for lit in parse(text)}
    assert kinds == {
        "email": "bob@example.com",
        "date-time": "2024-05-01T10:30:00Z",
        "uri": "https://example.com/a?b=1",
        "uuid": "123e4567-e89b-12d3-a456-426614174000",
        "date": "2024-06-30",
    }


def test_enum_mentions_are_taken_in_text_order():
    lits = Literals("Convert from Celsius to fahrenheit, then to new york time")
    options = ["fahrenheit", "celsius"]
    assert lits.take_mention(options) == "celsius"
    assert lits.take_mention(options) == "fahrenheit"
    assert lits.take_mention(options) is None
    assert lits.take_mention(["new_york", "paris"]) == "new_york"


def test_a_mentioned_quoted_enum_value_is_not_reused_as_a_string():
    lits = Literals("use 'metric' for \"Oslo\"")
    assert lits.take_mention(["metric", "imperial"]) == "metric"
    assert lits.take_string(lambda v: True) == "Oslo"
