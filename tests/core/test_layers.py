"""Layers plug in through one registration: the built-ins through entry points, an outside layer the same
way (here registered at run time), and create_app, the CLI and Alembic loop over them."""

from __future__ import annotations

import asyncio

import pytest
import typer
from fastapi import APIRouter
from typer.testing import CliRunner

from stackwright.core import layers as layer_registry
from stackwright.core.errors import StackwrightError
from stackwright.core.layers import AppContext, Layer

BUILT_IN = ["core", "auth", "monitoring", "tracing", "gateway", "local", "prompts", "retrieval", "datasets", "evals",
            "releases", "guardrails", "jobs", "insights", "server", "ui", "apps"]  # fmt: skip


def test_built_in_layers_are_registered_by_entry_point_lowest_first():
    found = layer_registry.layers()
    assert [layer.name for layer in found] == BUILT_IN
    assert [layer.rank for layer in found] == sorted(layer.rank for layer in found)
    sources = layer_registry.registry.describe()
    assert sources["gateway"] == "entry point stackwright.gateway.layer:layer"


def test_every_layers_tables_are_on_the_target_metadata():
    tables = set(layer_registry.target_metadata().tables)
    for table in ("projects", "spans", "prompt_versions", "eval_runs", "jobs", "guardrail_policies"):
        assert table in tables, table
    assert "retrieval_chunks_fts" not in tables  # an index object the retrieval layer manages itself


def test_the_retrieval_layer_keeps_its_search_index_out_of_alembics_comparison():
    assert layer_registry.include_object(None, "retrieval_chunks_fts", "table", True, None) is False
    assert layer_registry.include_object(None, "projects", "table", True, None) is True


@pytest.fixture
def outside_layer():
    """A layer as an outside package would write it: a table-free router, a command, a task and a gateway hook."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/outside/ping")
    def ping() -> dict:
        return {"pong": True}

    group = typer.Typer(help="An outside layer's commands.", no_args_is_help=True)

    @group.command("hello")
    def hello() -> None:
        typer.echo("hello from outside")

    events: list[str] = []

    class Task:
        def start(self) -> None:
            events.append("start")

        async def stop(self) -> None:
            events.append("stop")

    def setup(ctx: AppContext) -> None:
        assert ctx.state.gateway is not None  # lower layers are set up first
        ctx.tasks.append(ctx.publish("outside_task", Task()))

    def install(hooks) -> None:
        events.append(f"hooked {type(hooks).__name__}")

    layer = Layer(
        name="outside", rank=150, routers=lambda: [router], commands=lambda root: root.add_typer(group, name="outside"),
        setup=setup, extends={"gateway-test-point": install},
    )  # fmt: skip
    layer_registry.registry.register("outside", layer)
    try:
        yield events
    finally:
        layer_registry.registry.unregister("outside")


def test_an_outside_layer_adds_routes_tasks_and_hooks(outside_layer, settings, prepared):
    from starlette.testclient import TestClient

    from stackwright.server.app import create_app

    app = create_app(settings, prepared)
    with TestClient(app) as client:
        assert client.get("/api/v1/outside/ping").json() == {"pong": True}
        assert outside_layer == ["start"]
    assert outside_layer == ["start", "stop"]
    layer_registry.extend("gateway-test-point", object())
    assert outside_layer[-1] == "hooked object"


def test_an_outside_layer_adds_commands(outside_layer):
    root = typer.Typer()
    for layer in layer_registry.layers():
        if layer.name == "outside":
            layer.commands(root)
    root.command("noop")(lambda: None)  # a second command, so Typer keeps the group
    result = CliRunner().invoke(root, ["outside", "hello"])
    assert result.exit_code == 0, result.output
    assert "hello from outside" in result.output


def test_without_the_built_in_layers_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setattr(layer_registry.registry, "names", lambda: [])
    with pytest.raises(StackwrightError) as caught:
        layer_registry.layers()
    assert "pip install -e ." in caught.value.message


def test_the_gateway_reaches_upper_layers_only_through_its_hooks():
    from stackwright.gateway.hooks import GatewayHooks, gateway_hooks

    hooks = gateway_hooks()
    assert hooks.prompt_renderer is not None and hooks.route_resolver is not None and hooks.call_guard is not None
    bare = GatewayHooks()
    with pytest.raises(StackwrightError) as caught:
        asyncio.run(bare.resolver()(None, "p", "r", "e", None))
    assert caught.value.code == "layer_missing"
