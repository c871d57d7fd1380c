"""File formats without a database: JSONL and CSV parsing (line numbers in errors), the CSV mapping, export round trips."""

from __future__ import annotations

import pytest

from stackwright.core.errors import InvalidInput
from stackwright.datasets.importing import format_of, parse_csv, parse_jsonl, to_csv, to_jsonl
from stackwright.datasets.items import content_hash, item_id, normalize_item, with_ids


def test_item_ids_are_content_addresses():
    a = normalize_item({"input": {"q": 1, "r": 2}, "expected": "x"}, "a")
    b = normalize_item({"expected": "x", "input": {"r": 2, "q": 1}, "metadata": {}}, "b")
    assert item_id(a) == item_id(b) and len(item_id(a)) == 32  # key order does not matter
    assert item_id(a) != item_id({**a, "expected": "y"})
    assert content_hash([item_id(a)]) != content_hash([item_id(a), item_id(a)])
    with pytest.raises(InvalidInput, match="x line 2 is identical to x line 1"):
        with_ids([a, b], ["x line 1", "x line 2"])


def test_csv_mapping():
    text = (
        "input.question,input.context,expected:json,metadata.topic,metadata.n:json\n"
        'Refunds?,"Refunds take 5 days, always.","[""5 days""]",billing,3\n'
        "Hours?,,,,\n"
    )
    items, places = parse_csv(text, "cases.csv")
    assert items == [
        {"input": {"question": "Refunds?", "context": "Refunds take 5 days, always."}, "expected": ["5 days"], "metadata": {"topic": "billing", "n": 3}},
        {"input": {"question": "Hours?", "context": ""}, "expected": None, "metadata": {}},
    ]
    assert places == ["cases.csv line 2", "cases.csv line 3"]
    plain, _ = parse_csv("input,expected\nhello,world\n", "p.csv")
    assert plain == [{"input": "hello", "expected": "world", "metadata": {}}]


def test_csv_line_numbers_count_multiline_cells():
    text = 'input,expected\n"two\nlines",ok\nbad\n'
    with pytest.raises(InvalidInput, match="c.csv line 4 has 1 cells; the header has 2"):
        parse_csv(text, "c.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "c.csv is empty"),
        ("expected\nx\n", "no input column"),
        ("input,input\nx,y\n", "column input appears twice"),
        ("metadata\nx\n", "unknown column 'metadata'"),
        ("input.\nx\n", "unknown column 'input.'"),
        ("input\n", "holds no items"),
    ],
)
def test_bad_csv(text, message):
    with pytest.raises(InvalidInput, match=message):
        parse_csv(text, "c.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"input": 1}\n{"input": NaN}\n', "c.jsonl line 2 is not valid JSON"),
        ('{"input": 1}\n{"input": 1, "extra": 2}\n', "c.jsonl line 2: unknown key 'extra'"),
        ('{"input": null}\n', "c.jsonl line 1: input is missing"),
        ("5\n", "c.jsonl line 1: an item must be a JSON object"),
        ('{"input": "a\\u0000b"}\n', "c.jsonl line 1: input contains a NUL"),
        ("[" * 70 + "]" * 70 + "\n", "line 1"),
    ],
)
def test_bad_jsonl(text, message):
    with pytest.raises(InvalidInput, match=message):
        parse_jsonl(text, "c.jsonl")


def test_byte_order_mark_and_crlf_are_accepted():
    assert parse_jsonl('\ufeff{"input": 1}\r\n{"input": 2}\r\n', "x")[0] == [{"input": 1, "expected": None, "metadata": {}}, {"input": 2, "expected": None, "metadata": {}}]
    assert parse_csv("\ufeffinput,expected\r\na,b\r\n", "x")[0] == [{"input": "a", "expected": "b", "metadata": {}}]


def test_format_of():
    assert format_of("a.jsonl") == "jsonl" and format_of("a.NDJSON") == "jsonl" and format_of("a.csv") == "csv"
    assert format_of("a.txt", "csv") == "csv"
    with pytest.raises(InvalidInput, match="Cannot tell the format"):
        format_of("a.txt")
    with pytest.raises(InvalidInput, match="Format 'xls' is not supported"):
        format_of("a.csv", "xls")


ROUND_TRIPS = [
    [{"input": {"q": "a"}, "expected": "x", "metadata": {"t": "1"}}, {"input": {"q": "b"}, "expected": None, "metadata": {}}],
    [{"input": "text", "expected": "", "metadata": {"n": 1, "s": ""}}, {"input": "", "expected": [1, 2], "metadata": {"n": None}}],
    [{"input": {"q": "a", "extra": [1]}, "expected": {"a": 1}, "metadata": {}}, {"input": {"q": "b"}, "expected": {"a": 2}, "metadata": {}}],
    [{"input": {}, "expected": True, "metadata": {" padded": "x", "k:json": "y"}}],
    [{"input": 3.5, "expected": 0, "metadata": {"nested": {"a": [None]}}}],
    [{"input": "line\u2028separator\r\nand\x85more", "expected": "tab\tquote\"comma,", "metadata": {}}],
]


@pytest.mark.parametrize("items", ROUND_TRIPS)
def test_export_then_import_gives_the_same_items(items):
    assert parse_jsonl(to_jsonl(items), "x")[0] == items
    assert parse_csv(to_csv(items), "x")[0] == items
