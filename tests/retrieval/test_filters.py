"""The filter language: parsing both forms, error positions, and typed SQL on SQLite and Postgres."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from stackwright.core.errors import InvalidInput
from stackwright.retrieval.filter_sql import acl_condition, compile_filter
from stackwright.retrieval.filters import Cond, Node, parse_any, parse_filter, to_text
from tests.retrieval.search_corpus import add_document, default_project_id, make_collection


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("lang=en", Cond("lang", "eq", "en")),
        ("lang == en", Cond("lang", "eq", "en")),
        ("lang!=en", Cond("lang", "ne", "en")),
        ("lang in (en, fr)", Cond("lang", "in", ("en", "fr"))),
        ("year>2020", Cond("year", "gt", 2020)),
        ("year>=2020", Cond("year", "gte", 2020)),
        ("year<2020.5", Cond("year", "lt", 2020.5)),
        ("year <= -3", Cond("year", "lte", -3)),
        ("title='Reset your password'", Cond("title", "eq", "Reset your password")),
        ('title="it\'s \\"quoted\\""', Cond("title", "eq", 'it\'s "quoted"')),
        ("draft=true", Cond("draft", "eq", True)),
        ("date>=2024-05-01", Cond("date", "gte", "2024-05-01")),
        ("author.name=Ann", Cond("author.name", "eq", "Ann")),
        ("a=1 AND b=2", Node("and", (Cond("a", "eq", 1), Cond("b", "eq", 2)))),
        ("not draft=true", Node("not", (Cond("draft", "eq", True),))),
    ],
)
def test_string_form_parses_each_operator_and_value_type(expression: str, expected: object) -> None:
    assert parse_filter(expression) == expected


def test_and_binds_tighter_than_or_and_parentheses_nest() -> None:
    assert parse_filter("a=1 or b=2 and c=3") == Node("or", (Cond("a", "eq", 1), Node("and", (Cond("b", "eq", 2), Cond("c", "eq", 3)))))
    nested = parse_filter("a=1 and (b=2 or (c<3 and not d=4))")
    assert to_text(nested) == "a=1 and (b=2 or (c<3 and not (d=4)))"
    assert parse_filter(to_text(nested)) == nested


@pytest.mark.parametrize(
    ("expression", "column", "fragment"),
    [
        ("year>= and lang=en", 8, "expected a value after '>='"),
        ("lang=", 6, "expected a value after '='"),
        ("(lang=en", 9, "expected ')'"),
        ("lang=en fr", 9, "expected 'and', 'or' or the end, found 'fr'"),
        ("=en", 1, "expected a field name"),
        ("lang ~ en", 6, "expected an operator"),
        ("lang in en", 9, "expected '(' after 'in'"),
        ("lang in (en, )", 14, "expected a value after ','"),
        ("lang in (en fr)", 13, "expected ',' or ')'"),
        ("title='open", 7, "unterminated string"),
        ("draft>true", 6, "compares numbers or strings, not true/false"),
        ("   ", 1, "the filter is empty"),
        ("a=1 and", 8, "expected a field name"),
    ],
)
def test_malformed_string_names_the_column_and_what_was_expected(expression: str, column: int, fragment: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_filter(expression)
    assert f"at column {column}:" in raised.value.message
    assert fragment in raised.value.message
    assert raised.value.details["column"] == column


def test_too_deep_or_too_long_filters_are_refused() -> None:
    with pytest.raises(InvalidInput, match="nesting deeper"):
        parse_filter("(" * 40 + "a=1" + ")" * 40)
    with pytest.raises(InvalidInput, match="longer than"):
        parse_filter("a=1 and " * 1000 + "a=1")


def test_json_form_reads_the_same_tree() -> None:
    tree = parse_any({"and": [{"lang": {"eq": "en"}}, {"or": [{"year": {"gte": 2020}}, {"pinned": True}]}]})
    assert tree == parse_filter("lang=en and (year>=2020 or pinned=true)")
    assert parse_any({"lang": ["en", "fr"]}) == Cond("lang", "in", ("en", "fr"))
    assert parse_any({"year": {"gte": 2000, "lt": 2010}}) == Node("and", (Cond("year", "gte", 2000), Cond("year", "lt", 2010)))
    assert parse_any({"not": {"draft": True}}) == Node("not", (Cond("draft", "eq", True),))
    assert parse_any(None) is None and parse_any("") is None and parse_any({}) is None


@pytest.mark.parametrize(
    ("value", "path", "fragment"),
    [
        ({"lang": {"equals": "en"}}, "filter.lang.equals", "unknown operator"),
        ({"and": []}, "filter.and", "non-empty list"),
        ({"or": {"a": 1}}, "filter.or", "non-empty list"),
        ({"and": [{"lang": None}]}, "filter.and[0].lang.eq", "expected a string, number or true/false"),
        ({"lang": {"in": []}}, "filter.lang.in", "list of 1 to"),
        ({"year": {"gt": True}}, "filter.year.gt", "not true/false"),
        ({"bad key!": 1}, "filter.bad key!", "not a field name"),
        ({"and": ["lang=en"]}, "filter.and[0]", "non-empty object"),
    ],
)
def test_malformed_json_names_the_path(value: dict, path: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_any(value)
    assert raised.value.message.startswith(path + ":")
    assert fragment in raised.value.message


def test_a_filter_of_another_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="expected a string"):
        parse_any(["lang=en"])  # type: ignore[arg-type]


# -- SQL on both backends ---------------------------------------------------------------------------

DOCS = {
    "a.md": {"lang": "en", "year": 2020, "draft": False, "author": {"name": "Ann"}},
    "b.md": {"lang": "fr", "year": "2019", "draft": True},
    "c.md": {"lang": "en", "year": 2023.5, "rank": "10"},
    "d.md": {"year": "abc", "rank": "9"},
    "e.md": {"rank": 9, "lang": "EN"},
}


@pytest.fixture
def docs_db(prepared):
    project_id = default_project_id(prepared)
    collection = make_collection(prepared, project_id)
    for source, metadata in DOCS.items():
        add_document(prepared, collection, source, [f"text of {source}"], metadata=metadata, title=source[0].upper(),
                     acl=["group:x"] if source == "e.md" else None)  # fmt: skip
    return prepared, collection


def _matching(db, collection, expression, principals=None) -> list[str]:
    with db.read() as session:
        dialect = session.get_bind().dialect.name
        flt = compile_filter(parse_any(expression), dialect)
        acl = acl_condition(principals, dialect)
        rows = session.execute(
            text(f"SELECT d.source FROM retrieval_documents d WHERE d.collection_id = :c AND {flt.sql} AND {acl.sql} ORDER BY d.source"),
            {"c": collection.id, **flt.params, **acl.params},
        )
        return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("expression", "sources"),
    [
        ("lang=en", ["a.md", "c.md"]),  # strings compare exactly (not "EN")
        ("lang!=en", ["b.md", "d.md", "e.md"]),  # != also matches documents without the field
        ("lang in (en, fr)", ["a.md", "b.md", "c.md"]),
        ("year>=2020", ["a.md", "c.md"]),  # numbers as numbers; "abc" is not a number
        ("year<2020", ["b.md"]),  # the string "2019" holds a plain number
        ("year=2019", ["b.md"]),
        ("year>'2019'", ["d.md"]),  # a quoted value compares with strings only
        ("rank>9", ["c.md"]),  # "10" > 9 numerically, not as text
        ("rank<=9", ["d.md", "e.md"]),
        ("draft=true", ["b.md"]),
        ("draft=false", ["a.md"]),
        ("not draft=true", ["a.md", "c.md", "d.md", "e.md"]),
        ("author.name=Ann", ["a.md"]),
        ("source>=c.md", ["c.md", "d.md", "e.md"]),
        ("title in (A, B)", ["a.md", "b.md"]),
        ("lang=en and (year>2021 or draft=false)", ["a.md", "c.md"]),
        ({"or": [{"lang": {"eq": "fr"}}, {"rank": {"gt": 9.5}}]}, ["b.md", "c.md"]),
        ({"year": {"gte": 2019, "lt": 2021}}, ["a.md", "b.md"]),
        ("nothere=1", []),
    ],
)
def test_filters_compile_to_typed_sql_on_both_backends(docs_db, expression, sources) -> None:
    db, collection = docs_db
    assert _matching(db, collection, expression, principals=["*"]) == sources


def test_document_id_builtin(docs_db) -> None:
    from tests.retrieval.search_corpus import document_id

    db, collection = docs_db
    assert _matching(db, collection, f"document_id={document_id(collection.id, 'c.md')}", ["*"]) == ["c.md"]


def test_acl_condition_public_principals_and_star(docs_db) -> None:
    db, collection = docs_db
    everyone = ["a.md", "b.md", "c.md", "d.md", "e.md"]
    assert _matching(db, collection, None) == everyone[:4]  # no principal: public only
    assert _matching(db, collection, None, ["group:other"]) == everyone[:4]
    assert _matching(db, collection, None, ["user:bob", "group:x"]) == everyone
    assert _matching(db, collection, None, ["*"]) == everyone


def test_values_are_bound_not_spliced(docs_db) -> None:
    db, collection = docs_db
    assert _matching(db, collection, "lang=\"en' OR 1=1 --\"", ["*"]) == []
    assert _matching(db, collection, {"lang": {"in": ["x'); DROP TABLE retrieval_documents; --"]}}, ["*"]) == []
    assert len(_matching(db, collection, None, ["*"])) == 5
