"""`stackwright users set-password EMAIL`: the new password from a prompt or --password-stdin, never an argument."""

from __future__ import annotations

from sqlalchemy import select

from stackwright.auth.models import AuditEntry, User
from stackwright.auth.security import verify_password
from tests.cli.conftest import Cli
from tests.conftest import TEST_ADMIN_EMAIL


def test_the_cli_sets_a_password_from_stdin_or_a_prompt_only(cli_ready: Cli) -> None:
    cli_ready.ok("users", "set-password", TEST_ADMIN_EMAIL, "--password-stdin", input="a brand new password\n")
    with cli_ready.db.read() as s:
        user = s.scalar(select(User).where(User.email == TEST_ADMIN_EMAIL))
        assert verify_password(user.password_hash, "a brand new password")
        assert s.scalar(select(AuditEntry.actor).where(AuditEntry.action == "user.password_reset")).startswith("cli:")
    cli_ready.fails("users", "set-password", TEST_ADMIN_EMAIL, "--password-stdin", input="short\n", needle="at least 8")
    cli_ready.fails("users", "set-password", TEST_ADMIN_EMAIL, input="", needle="--password-stdin")
    cli_ready.fails("users", "set-password", "nobody@example.com", "--password-stdin", input="long enough pw\n", needle="No user")
