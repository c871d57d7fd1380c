"""`stackwright db ...` and `stackwright plugins ...`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from stackwright.core import command_helpers as common

if TYPE_CHECKING:
    from stackwright.core.db import Database

db_app = typer.Typer(help="Database schema: upgrade, downgrade, current revision.", no_args_is_help=True)
plugins_app = typer.Typer(help="Plugin registries and what is registered in them.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from stackwright.core import migrate

    db = _open(ctx)
    migrate.upgrade(db, revision)
    typer.echo(f"Database at {', '.join(sorted(migrate.current_revisions(db))) or 'base'}.")


def _open(ctx: typer.Context) -> Database:
    from stackwright.core.runtime import connect

    return connect(common.settings(ctx))


@db_app.command("downgrade")
def db_downgrade(ctx: typer.Context, revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Revert migrations down to REVISION. Data in dropped tables is lost."""
    from stackwright.core import migrate

    db = _open(ctx)
    migrate.downgrade(db, revision)
    typer.echo(f"Database at {', '.join(sorted(migrate.current_revisions(db))) or 'base'}.")


@db_app.command("current")
def db_current(ctx: typer.Context, as_json: bool = common.JSON_OPTION) -> None:
    """Show the database's revision and the code's head."""
    from stackwright.core import migrate
    from stackwright.core.db import redact_url

    db = _open(ctx)
    current, head = sorted(migrate.current_revisions(db)), sorted(migrate.head_revisions())
    info = {"url": redact_url(db.url), "current": current, "head": head, "up_to_date": current == head}
    if as_json:
        common.print_json(info)
    else:
        typer.echo(f"{info['url']}: at {info['current'] or 'base'}, head {info['head']}")


@plugins_app.command("list")
def plugins_list(as_json: bool = common.JSON_OPTION) -> None:
    """List every registry and the plugins registered in it."""
    from stackwright.core.plugins import all_registries

    rows = [
        {"registry": reg.kind, "name": name, "source": source}
        for reg in all_registries()
        for name, source in reg.describe().items()
    ]
    common.emit(rows, ["registry", "name", "source"], as_json, title="plugins")
