"""The support demo on Postgres: seed (idempotent) and one question through the whole stack."""

from __future__ import annotations

from stackwright.core.config import Settings


def test_seed_and_ask_on_postgres(new_postgres_db: str, tmp_path) -> None:
    from stackwright.apps.support import ask
    from stackwright.apps.support.seed import seed

    settings = Settings(home=tmp_path / "home", database_url=new_postgres_db, log_format="text")
    report = seed(settings, requests=6, evals=False)
    assert not report.skipped and report.steps["traffic"]["errors"] == 0
    assert seed(settings).skipped is True
    result = ask("How do I reset my password?", user_id="acct-1001", settings=settings)
    assert result.stored is True and "account-password-reset.md" in [c["source"] for c in result.retrieved]
