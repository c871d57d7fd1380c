"""JSON columns on SQLite keep any JSON value: declared JSON_TEXT (TEXT affinity), and numbers repaired.

A column declared ``JSON`` has NUMERIC affinity in SQLite, so the JSON text of a bare number (an item
input ``5``, an eval output ``0.25``) was stored as an INTEGER or REAL: reading it back failed, and every
read of the dataset or eval run holding it answered 500. This migration re-declares every ``JSON`` column
as ``JSON_TEXT`` (the declared type only: the stored records keep their format, so no table is rebuilt and
indexes, triggers and foreign keys stay as they are) and writes each numeric value back as JSON text.
Postgres stores JSONB, which holds any JSON value already: nothing to do there.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import json
import re

from alembic import op
from sqlalchemy.engine import Connection

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

OLD_TYPE = "JSON"
NEW_TYPE = "JSON_TEXT"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    columns = _columns_declared(conn, OLD_TYPE)
    _redeclare(conn, columns, OLD_TYPE, NEW_TYPE)
    for table, names in columns.items():
        _repair_numbers(conn, table, names)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _redeclare(conn, _columns_declared(conn, NEW_TYPE), NEW_TYPE, OLD_TYPE)


def _columns_declared(conn: Connection, declared: str) -> dict[str, list[str]]:
    """{table: [column, ...]} of the ordinary tables' columns declared with this type."""
    tables: list[str] = list(conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE TABLE%' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
    ).scalars())
    found: dict[str, list[str]] = {}
    for table in tables:
        names = [row[1] for row in conn.exec_driver_sql(f'PRAGMA table_info("{table}")') if row[2].upper() == declared]
        if names:
            found[table] = names
    return found


def _redeclare(conn: Connection, columns: dict[str, list[str]], old: str, new: str) -> None:
    """Change the declared type in each table's CREATE statement (SQLite's documented writable_schema
    procedure for changes that leave the stored records as they are), then bump the schema version."""
    if not columns:
        return
    version: int = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        for table, names in columns.items():
            sql: str = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar_one()
            for name in names:
                sql, count = re.subn(rf'(\n\s*"?{re.escape(name)}"?\s+){old}\b', rf"\g<1>{new}", sql, flags=re.IGNORECASE)
                if count != 1:
                    raise RuntimeError(f"Cannot find the declaration of {table}.{name} as {old} in its CREATE TABLE statement.")
            conn.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table))
        conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def _repair_numbers(conn: Connection, table: str, names: list[str]) -> None:
    """Write numbers SQLite stored as INTEGER or REAL back as their JSON text (one scan of the table)."""
    numeric = " OR ".join(f"typeof(\"{name}\") IN ('integer', 'real')" for name in names)
    selected = ", ".join(f'"{name}"' for name in names)
    rows = conn.exec_driver_sql(f'SELECT rowid, {selected} FROM "{table}" WHERE {numeric}').all()
    for rowid, *values in rows:
        fixed = {name: json.dumps(value) for name, value in zip(names, values, strict=True) if isinstance(value, (int, float))}
        assignments = ", ".join(f'"{name}" = ?' for name in fixed)
        conn.exec_driver_sql(f'UPDATE "{table}" SET {assignments} WHERE rowid = ?', (*fixed.values(), rowid))
