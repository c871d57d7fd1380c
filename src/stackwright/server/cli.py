"""`stackwright serve` and `stackwright init`."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import typer

from stackwright.core import command_helpers as common

if TYPE_CHECKING:
    from stackwright.auth.bootstrap import BootstrapResult


def _announce(result: BootstrapResult | None, log_format: str) -> None:
    """First-start credentials, once, to stderr: as text (secrets included), or, with
    STACKWRIGHT_LOG_FORMAT=json, as one JSON log record without the secrets, naming the 0600 file that holds them.
    ``auto`` keeps the text banner even without a terminal, so `make run` piped to a file still shows how to sign in."""
    from stackwright.core.logs import json_record

    if result is None:
        return
    if log_format == "json":
        generated = [name for name in ("admin_password", "api_key") if getattr(result, name)]
        names = " and ".join({"admin_password": "admin password", "api_key": "API key"}[name] for name in generated)
        where = f"; the generated {names} (not logged) are in {os.path.abspath(result.credentials_file)}, mode 0600" if generated and result.credentials_file else ""
        line = json_record(
            "stackwright.server", f"Stackwright first start: created the admin user, the default project and its admin key{where}",
            event="first_start", admin_email=result.admin_email, project=result.project, generated=generated,
            credentials_file=os.path.abspath(result.credentials_file) if result.credentials_file else None,
        )  # fmt: skip
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
        return
    lines = ["Stackwright first start: created the admin user, the default project and its admin key."]
    lines.append(f"  admin email:    {result.admin_email}")
    if result.admin_password:
        lines.append(f"  admin password: {result.admin_password}")
    lines.append(f"  project:        {result.project}")
    if result.api_key:
        lines.append(f"  API key:        {result.api_key}")
    if result.credentials_file:
        lines.append(f"  These are shown once and saved (mode 0600) in {result.credentials_file}")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def _check_can_listen(host: str, port: int) -> None:
    """Fail before migrating and bootstrapping if the address cannot be bound (port in use, unknown host)."""
    import socket

    from stackwright.core.errors import ConfigError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(address)
    except OSError as exc:
        raise ConfigError(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}).",
            hint="Another process may be using the port: stop it, or set STACKWRIGHT_PORT (or --port) to a free one; "
            "STACKWRIGHT_HOST (or --host) must be an address of this machine.",
        ) from None


def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, help="Address to bind (default STACKWRIGHT_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default STACKWRIGHT_PORT, 8600)."),
) -> None:
    """Run the server: API, OpenAI-compatible gateway, web UI. Migrates and bootstraps on first start."""
    import uvicorn

    from stackwright.core.logs import configure_logging
    from stackwright.server.app import SETTINGS_ENV, create_app
    from stackwright.server.startup import prepare
    from stackwright.server.workers import run_workers, tune_gc

    settings = common.settings(ctx, host=host, port=port)
    configure_logging(settings.log_level, settings.log_format)
    _check_can_listen(settings.host, settings.port)
    db, result = prepare(settings)
    _announce(result, settings.log_format)
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    if settings.workers == 1:
        app = create_app(settings, db)
        tune_gc()
        uvicorn.run(app, **options)
        return
    db.dispose()  # each worker process opens its own connections
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    # Building an app here (then dropping it) imports everything the workers need before they are forked.
    run_workers("stackwright.server.app:app_from_environment", settings.workers, preload=lambda: create_app(settings), **options)


def init(ctx: typer.Context) -> None:
    """Create the data dir and database, apply migrations and run the first-start bootstrap, then exit."""
    from stackwright.server.startup import prepare

    settings = common.settings(ctx)
    _, result = prepare(settings, migrate_now=True)  # init always migrates, whatever STACKWRIGHT_MIGRATE_ON_START says
    if result is None:
        typer.echo(f"Already initialised: {settings.home.resolve()}")
    _announce(result, settings.log_format)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(init)
