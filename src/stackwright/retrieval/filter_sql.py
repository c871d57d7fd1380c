"""Compile a parsed filter (stackwright.retrieval.filters) to a SQL condition on ``retrieval_documents``.

The condition is text with named bind parameters, for SQLite (``json_extract``/``json_type``) or Postgres
(``jsonb_extract_path``/``jsonb_typeof``). Comparisons are typed the same way on both:

- a string value matches JSON strings (ranges compare code points, ``COLLATE "C"`` on Postgres);
- a number matches JSON numbers and strings holding a plain JSON number ("2020"), compared as numbers;
- true/false match JSON booleans;
- ``!=`` is the negation of ``=`` and so also matches documents without the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stackwright.retrieval.filters import BUILTIN_FIELDS, Cond, Expr

_SQL_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_PG_NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$"


@dataclass
class Compiled:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


class _Compiler:
    def __init__(self, dialect: str, alias: str, prefix: str):
        self.pg = dialect == "postgresql"
        self.alias = alias
        self.prefix = prefix
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def expr(self, node: Expr) -> str:
        if isinstance(node, Cond):
            return self.cond(node)
        if node.kind == "not":
            return f"(NOT {self._definite(self.expr(node.children[0]))})"
        joiner = " AND " if node.kind == "and" else " OR "
        return "(" + joiner.join(self._definite(self.expr(c)) for c in node.children) + ")"

    def _definite(self, sql: str) -> str:
        """Never NULL: a missing field makes a comparison false, not unknown (so NOT works)."""
        return f"COALESCE({sql}, {'FALSE' if self.pg else '0'})"

    def cond(self, cond: Cond) -> str:
        if cond.op == "ne":
            return f"(NOT {self._definite(self.cond(Cond(cond.field, 'eq', cond.value)))})"
        if cond.op == "in":
            return "(" + " OR ".join(self._definite(self.cond(Cond(cond.field, "eq", v))) for v in cond.value) + ")"  # type: ignore[union-attr]
        builtin = BUILTIN_FIELDS.get(cond.field)
        if builtin is not None:
            return self._column(f"{self.alias}.{builtin}", cond.op, cond.value)
        key = cond.field.removeprefix("metadata.") if cond.field.startswith("metadata.") else cond.field
        return self._metadata(key.split("."), cond.op, cond.value)

    def _column(self, column: str, op: str, value: Any) -> str:
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        collate = ' COLLATE "C"' if self.pg and op != "eq" else ""
        return f"({column}{collate} {_SQL_OPS[op]} {self.bind(text)})"

    def _metadata(self, path: list[str], op: str, value: Any) -> str:
        sql_op = _SQL_OPS[op]
        if self.pg:
            keys = ", ".join(self.bind(k) for k in path)
            json = f"jsonb_extract_path({self.alias}.metadata, {keys})"
            kind = f"jsonb_typeof({json})"
            text = f"jsonb_extract_path_text({self.alias}.metadata, {keys})"
            if isinstance(value, bool):
                return f"({kind} = 'boolean' AND {text} = {self.bind('true' if value else 'false')})"
            if isinstance(value, str):
                collate = ' COLLATE "C"' if op != "eq" else ""
                return f"({kind} = 'string' AND {text}{collate} {sql_op} {self.bind(value)})"
            number = (
                f"(CASE WHEN {kind} = 'number' THEN CAST({text} AS NUMERIC) "
                f"WHEN {kind} = 'string' AND {text} ~ '{_PG_NUMBER}' THEN CAST({text} AS NUMERIC) END)"
            )
            return f"({number} {sql_op} CAST({self.bind(value)} AS NUMERIC))"
        json_path = self.bind("$" + "".join(f'."{k}"' for k in path))
        kind = f"json_type({self.alias}.metadata, {json_path})"
        raw = f"json_extract({self.alias}.metadata, {json_path})"
        if isinstance(value, bool):
            return f"({kind} = {self.bind('true' if value else 'false')})"
        if isinstance(value, str):
            return f"({kind} = 'text' AND {raw} {sql_op} {self.bind(value)})"
        number = (
            f"(CASE WHEN {kind} IN ('integer', 'real') THEN {raw} WHEN {kind} = 'text' THEN "
            f"CASE WHEN json_valid({raw}) THEN CASE WHEN json_type({raw}) IN ('integer', 'real') "
            f"THEN CAST({raw} AS REAL) END END END)"
        )
        return f"({number} {sql_op} {self.bind(value)})"


def compile_filter(expr: Expr | None, dialect: str, alias: str = "d", prefix: str = "f") -> Compiled:
    """SQL for ``expr`` on the documents table aliased ``alias`` (``1=1`` when there is no filter)."""
    if expr is None:
        return Compiled("1=1")
    compiler = _Compiler(dialect, alias, prefix)
    return Compiled(compiler._definite(compiler.expr(expr)), compiler.params)


def acl_condition(principals: list[str] | None, dialect: str, alias: str = "d", prefix: str = "p") -> Compiled:
    """Who may read: public documents, plus those whose ACL names one of ``principals``; ``*`` sees all."""
    principals = principals or []
    true = "TRUE" if dialect == "postgresql" else "1"
    if "*" in principals:
        return Compiled("1=1")
    if not principals:
        return Compiled(f"({alias}.public = {true})")
    params = {f"{prefix}{i}": p for i, p in enumerate(sorted(set(principals)))}
    names = ", ".join(f":{name}" for name in params)
    sql = (
        f"({alias}.public = {true} OR EXISTS (SELECT 1 FROM retrieval_document_acl acl "
        f"WHERE acl.document_id = {alias}.id AND acl.principal IN ({names})))"
    )
    return Compiled(sql, params)
