"""Metadata filters: one expression language for ``--filter`` and the API's ``filter``, compiled to SQL.

String form::

    lang=en            lang!=en           lang in (en, fr)        year>=2020
    a=1 and (b=2 or c<3)                  not (draft=true)        title='Reset your password'

JSON form (the API)::

    {"and": [{"lang": {"eq": "en"}}, {"or": [{"year": {"gte": 2020}}, {"pinned": true}]}]}

Operators: ``eq`` ``=``, ``ne`` ``!=``, ``in``, ``gt`` ``>``, ``gte`` ``>=``, ``lt`` ``<``, ``lte`` ``<=``.
Values: quoted strings ('x y' or "x y"), numbers, ``true``/``false``, or bare words (``en``, ``2024-05-01``).
Fields are keys of a document's metadata (``author.name`` reaches into nested objects; ``metadata.source``
names a metadata key that a built-in would shadow), plus the built-ins ``source``, ``document_id`` and ``title``.

Comparisons are typed: a number compares with numbers (and strings that are plain numbers, such as
``"2020"``) numerically, never as text; a string compares with strings; ``true``/``false`` with booleans.
A document without the field matches only ``!=``. Malformed expressions raise InvalidInput naming the
column and what was expected there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stackwright.core.errors import InvalidInput

BUILTIN_FIELDS = {"source": "source", "document_id": "id", "title": "title"}
OPERATORS = ("eq", "ne", "in", "gt", "gte", "lt", "lte")
_SYMBOLS = {"=": "eq", "==": "eq", "!=": "ne", "<>": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_SYMBOL_OF = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "in"}
MAX_EXPRESSION_CHARS = 4000
MAX_DEPTH = 32
MAX_CONDITIONS = 200
MAX_IN_VALUES = 1000
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-:]*(?:\.[A-Za-z0-9_\-:]+)*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_BARE = re.compile(r"[^\s()',\"=!<>]+")
_KEYWORDS = {"and", "or", "not", "in"}

Value = str | int | float | bool


@dataclass(frozen=True)
class Cond:
    field: str
    op: str
    value: Value | tuple[Value, ...]


@dataclass(frozen=True)
class Node:
    kind: str  # "and" | "or" | "not"
    children: tuple[Cond | Node, ...]


Expr = Cond | Node


def _fail(text: str, pos: int, what: str) -> InvalidInput:
    shown = text if len(text) <= 120 else text[: max(0, pos - 40)][-40:] + text[pos : pos + 80]
    return InvalidInput(
        f"filter: {what} at column {pos + 1}: {shown}",
        hint="Filters look like lang=en, year>=2020, lang in (en, fr), a=1 and (b=2 or c<3).",
        details={"column": pos + 1, "filter": text[:MAX_EXPRESSION_CHARS]},
    )


class _Parser:
    """Recursive descent: or_expr := and_expr ('or' and_expr)*; and_expr := unary ('and' unary)*;
    unary := 'not' unary | '(' or_expr ')' | comparison."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.conditions = 0

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _keyword(self, word: str) -> bool:
        self._skip()
        end = self.pos + len(word)
        if self.text[self.pos : end].lower() == word and (end == len(self.text) or not _is_word_char(self.text[end])):
            self.pos = end
            return True
        return False

    def _char(self, char: str) -> bool:
        self._skip()
        if self.text.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    def parse(self) -> Expr:
        self._skip()
        if self.pos == len(self.text):
            raise _fail(self.text, 0, "the filter is empty")
        expr = self._or(0)
        self._skip()
        if self.pos < len(self.text):
            raise _fail(self.text, self.pos, f"expected 'and', 'or' or the end, found {self._found()}")
        return expr

    def _found(self) -> str:
        self._skip()
        if self.pos >= len(self.text):
            return "the end"
        match = _BARE.match(self.text, self.pos)
        return repr(match.group(0) if match else self.text[self.pos])

    def _or(self, depth: int) -> Expr:
        parts = [self._and(depth)]
        while self._keyword("or"):
            parts.append(self._and(depth))
        return parts[0] if len(parts) == 1 else Node("or", tuple(parts))

    def _and(self, depth: int) -> Expr:
        parts = [self._unary(depth)]
        while self._keyword("and"):
            parts.append(self._unary(depth))
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def _unary(self, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise _fail(self.text, self.pos, f"nesting deeper than {MAX_DEPTH} levels")
        if self._keyword("not"):
            return Node("not", (self._unary(depth + 1),))
        start = self.pos
        if self._char("("):
            expr = self._or(depth + 1)
            if not self._char(")"):
                raise _fail(self.text, self.pos, f"expected ')' (to close the '(' of column {start + 1}), found {self._found()}")
            return expr
        return self._comparison()

    def _comparison(self) -> Cond:
        self._skip()
        match = _FIELD.match(self.text, self.pos)
        if not match or match.group(0).lower() in _KEYWORDS:
            raise _fail(self.text, self.pos, f"expected a field name (such as lang), found {self._found()}")
        field = match.group(0)
        self.pos = match.end()
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _fail(self.text, match.start(), f"more than {MAX_CONDITIONS} conditions")
        self._skip()
        op_start = self.pos
        if self._keyword("in"):
            return Cond(field, "in", self._list(op_start))
        symbol = re.match(r"==|!=|<>|>=|<=|=|>|<", self.text[self.pos :])
        if not symbol:
            raise _fail(self.text, self.pos, f"expected an operator (=, !=, >, >=, <, <=, in) after {field!r}, found {self._found()}")
        self.pos += len(symbol.group(0))
        value = self._value(f"after '{symbol.group(0)}'")
        op = _SYMBOLS[symbol.group(0)]
        _check_value(self.text, op_start, field, op, value)
        return Cond(field, op, value)

    def _list(self, op_start: int) -> tuple[Value, ...]:
        if not self._char("("):
            raise _fail(self.text, self.pos, f"expected '(' after 'in', found {self._found()}")
        values = [self._value("in the list")]
        while self._char(","):
            values.append(self._value("after ','"))
        if not self._char(")"):
            raise _fail(self.text, self.pos, f"expected ',' or ')' in the list, found {self._found()}")
        if len(values) > MAX_IN_VALUES:
            raise _fail(self.text, op_start, f"more than {MAX_IN_VALUES} values in one list")
        return tuple(values)

    def _value(self, where: str) -> Value:
        self._skip()
        start = self.pos
        if self.pos < len(self.text) and self.text[self.pos] in "'\"":
            return self._quoted()
        match = _BARE.match(self.text, self.pos)
        if not match or match.group(0).lower() in ("and", "or"):
            raise _fail(self.text, start, f"expected a value {where}")
        self.pos = match.end()
        return _typed(match.group(0))

    def _quoted(self) -> str:
        quote, start = self.text[self.pos], self.pos
        out: list[str] = []
        i = self.pos + 1
        while i < len(self.text):
            char = self.text[i]
            if char == "\\" and i + 1 < len(self.text):
                out.append(self.text[i + 1])
                i += 2
                continue
            if char == quote:
                self.pos = i + 1
                return "".join(out)
            out.append(char)
            i += 1
        raise _fail(self.text, start, f"unterminated string: add the closing {quote}")


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in "_-:."


def _typed(word: str) -> Value:
    lower = word.lower()
    if lower in ("true", "false"):
        return lower == "true"
    if _NUMBER.fullmatch(word):
        number = float(word)
        return int(word) if re.fullmatch(r"-?\d+", word) else number
    return word


def _check_value(text: str, pos: int, field: str, op: str, value: Any) -> None:
    if op in ("gt", "gte", "lt", "lte") and isinstance(value, bool):
        raise _fail(text, pos, f"'{_SYMBOL_OF[op]}' compares numbers or strings, not true/false ({field})")


def parse_filter(expression: str) -> Expr:
    """Parse the string form; InvalidInput with the column of the fault if it is malformed."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise InvalidInput(f"filter: longer than {MAX_EXPRESSION_CHARS} characters.", hint="Shorten the filter.")
    return _Parser(expression).parse()


# -- the JSON form ---------------------------------------------------------------------------------


def _json_fail(path: str, what: str) -> InvalidInput:
    return InvalidInput(
        f"filter{path}: {what}",
        hint='JSON filters look like {"lang": {"eq": "en"}}, {"and": [...]}, {"or": [...]}, {"not": {...}}.',
        details={"path": f"filter{path}"},
    )


def _json_value(path: str, value: Any) -> Value:
    if isinstance(value, bool | int | float | str):
        if isinstance(value, float) and value != value:  # NaN
            raise _json_fail(path, "NaN is not a value a filter can compare with")
        return value
    raise _json_fail(path, f"expected a string, number or true/false, got {type(value).__name__}")


class _JsonReader:
    def __init__(self) -> None:
        self.conditions = 0

    def read(self, value: Any, path: str, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise _json_fail(path, f"nesting deeper than {MAX_DEPTH} levels")
        if not isinstance(value, dict) or not value:
            raise _json_fail(path, "expected a non-empty object")
        parts = [self._entry(key, item, path, depth) for key, item in value.items()]
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def _entry(self, key: str, item: Any, path: str, depth: int) -> Expr:
        if key in ("and", "or"):
            if not isinstance(item, list) or not item:
                raise _json_fail(f"{path}.{key}", "expected a non-empty list of conditions")
            parts = tuple(self.read(child, f"{path}.{key}[{i}]", depth + 1) for i, child in enumerate(item))
            return parts[0] if len(parts) == 1 else Node(key, parts)
        if key == "not":
            return Node("not", (self.read(item, f"{path}.not", depth + 1),))
        if not _FIELD.fullmatch(key):
            raise _json_fail(f"{path}.{key}", "not a field name (letters, digits, _ - : and dots for nested keys)")
        return self._field(key, item, f"{path}.{key}")

    def _field(self, field: str, spec: Any, path: str) -> Expr:
        if not isinstance(spec, dict):
            spec = {"in": spec} if isinstance(spec, list) else {"eq": spec}
        if not spec:
            raise _json_fail(path, "expected an operator such as {\"eq\": \"en\"}")
        parts: list[Expr] = []
        for op, raw in spec.items():
            self.conditions += 1
            if self.conditions > MAX_CONDITIONS:
                raise _json_fail(path, f"more than {MAX_CONDITIONS} conditions")
            if op not in OPERATORS:
                raise _json_fail(f"{path}.{op}", f"unknown operator; use one of {', '.join(OPERATORS)}")
            if op == "in":
                if not isinstance(raw, list) or not raw or len(raw) > MAX_IN_VALUES:
                    raise _json_fail(f"{path}.in", f"expected a list of 1 to {MAX_IN_VALUES} values")
                value: Any = tuple(_json_value(f"{path}.in[{i}]", v) for i, v in enumerate(raw))
            else:
                value = _json_value(f"{path}.{op}", raw)
                if op in ("gt", "gte", "lt", "lte") and isinstance(value, bool):
                    raise _json_fail(f"{path}.{op}", "ranges compare numbers or strings, not true/false")
            parts.append(Cond(field, op, value))
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))


def parse_any(value: str | dict[str, Any] | None) -> Expr | None:
    """The filter in either form (None or an empty string: no filter)."""
    if value is None or (isinstance(value, str) and not value.strip()) or value == {}:
        return None
    if isinstance(value, str):
        return parse_filter(value)
    if isinstance(value, dict):
        return _JsonReader().read(value, "", 0)
    raise InvalidInput("filter: expected a string such as 'lang=en' or a JSON object such as {\"lang\": {\"eq\": \"en\"}}.")


def to_text(expr: Expr | None) -> str:
    """A canonical string form (for spans and messages)."""
    if expr is None:
        return ""
    if isinstance(expr, Cond):
        if expr.op == "in":
            return f"{expr.field} in ({', '.join(_literal(v) for v in expr.value)})"  # type: ignore[union-attr]
        return f"{expr.field}{_SYMBOL_OF[expr.op]}{_literal(expr.value)}"  # type: ignore[arg-type]
    if expr.kind == "not":
        return f"not ({to_text(expr.children[0])})"
    return f" {expr.kind} ".join(to_text(c) if isinstance(c, Cond) or c.kind == "not" else f"({to_text(c)})" for c in expr.children)


def _literal(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if _BARE.fullmatch(value) and _typed(value) == value and value.lower() not in _KEYWORDS:
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
