"""The demo accounts database: ~20 fictional Acme Cloud customers shipped as ``assets/accounts.json``,
loaded into a small SQLite file the app owns (``<data dir>/apps/support/accounts.db``), not a core table.

The support flow's ``lookup_account`` step is a tool over it: find an account by id (``acct-1006``) or
by email, and read its plan, seats, status (active, trial, past_due, locked, suspended, cancelled) and notes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from stackwright.core.errors import NotFound

ASSETS = Path(__file__).parent / "assets"
ACCOUNTS_FILE = ASSETS / "accounts.json"
COLUMNS = ("id", "name", "email", "plan", "seats", "status", "notes", "customer_since")


def shipped_accounts() -> list[dict[str, Any]]:
    """The fictional accounts shipped with the app."""
    return json.loads(ACCOUNTS_FILE.read_text(encoding="utf-8"))["accounts"]


def default_path(home: Path) -> Path:
    return Path(home) / "apps" / "support" / "accounts.db"


class AccountsDB:
    """The app's own SQLite file of demo accounts (created and filled on first use; idempotent)."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        target = str(self.path) if self.path is not None else ":memory:"
        self._conn = sqlite3.connect(target, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        with self._lock, self._conn:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,"
                " plan TEXT NOT NULL, seats INTEGER NOT NULL, status TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '',"
                " customer_since TEXT NOT NULL)"
            )
            self._conn.executemany(
                f"INSERT OR IGNORE INTO accounts ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [tuple(a[c] for c in COLUMNS) for a in shipped_accounts()],
            )

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0])

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._conn.execute("SELECT * FROM accounts ORDER BY id")]

    def find(self, ref: str) -> dict[str, Any]:
        """The account with this id or email; NotFound (with the known ids) otherwise."""
        key = (ref or "").strip()
        if not key:
            raise NotFound("No account was given.", hint="Pass an account id such as acct-1001, or an email.")
        with self._lock:
            row = self._conn.execute("SELECT * FROM accounts WHERE id = ? OR lower(email) = lower(?)", (key, key)).fetchone()
        if row is None:
            raise NotFound(
                f"No demo account {key!r}.",
                hint="Demo accounts are acct-1001 to acct-1020 (see `stackwright demo accounts`).",
                details={"account": key},
            )
        return dict(row)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
