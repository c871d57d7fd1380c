"""Layers plug in through one registration each, and the app, the CLI and Alembic loop over them.

A layer package exports a ``Layer`` (``stackwright/<layer>/layer.py``) and names it in the
``stackwright.layers`` entry-point group, exactly as an outside package would::

    [project.entry-points."stackwright.layers"]
    billing = "stackwright_billing.layer:layer"

The registration names what the layer adds to the whole: its tables, its HTTP routers, its commands, the
services and background tasks it starts with an app, and the hooks it adds to lower layers (``extends``:
a hook point's name -> a function given the lower layer's object, e.g. ``"gateway"`` -> the Gateway).
Everything a layer names is imported when it is used, never when the registration is read, so
``stackwright --help`` stays fast and a broken optional layer cannot take the others down.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from stackwright.core.errors import StackwrightError
from stackwright.core.plugins import Registry

if TYPE_CHECKING:  # the CLI reads registrations before it needs SQLAlchemy
    from sqlalchemy import MetaData

    from stackwright.core.config import Settings
    from stackwright.core.db import Database


class BackgroundTask(Protocol):
    """What create_app starts with the app and stops at shutdown (``core.periodic.PeriodicTask`` is one)."""

    def start(self) -> Any: ...

    async def stop(self) -> None: ...


@dataclass
class AppContext:
    """What each layer's ``setup`` is given while an app is built. Layers are set up from the lowest up, so a
    layer finds the services of the layers below it on ``state`` (``ctx.state.gateway``)."""

    settings: Settings
    db: Database
    state: Any  # the app's state: services by name, read by routers as ``request.app.state.<name>``
    tasks: list[BackgroundTask] = field(default_factory=list)  # started in order, stopped in reverse
    on_start: list[Callable[[], None]] = field(default_factory=list)  # run once the tasks have started
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)  # run in reverse, after the tasks stop

    def publish(self, name: str, service: Any) -> Any:
        """Put a service on the app's state under ``name`` and return it."""
        setattr(self.state, name, service)
        return service


@dataclass(frozen=True)
class Layer:
    """One layer's registration. Every field but ``name`` and ``rank`` is optional."""

    name: str
    rank: int  # position in the layer order (core 0 ... apps 100): lower layers are set up and mounted first
    tables: tuple[str, ...] = ()  # modules whose import defines the layer's tables on core.db.Base
    routers: Callable[[], Sequence[Any]] | None = None  # the layer's APIRouters, in mount order
    route_priority: int | None = None  # mount before lower ranks (routes match in order); default: rank
    commands: Callable[[Any], None] | None = None  # adds the layer's command groups to the root Typer app
    setup: Callable[[AppContext], None] | None = None  # builds services and background tasks for one app
    extends: Mapping[str, Callable[[Any], None]] = field(default_factory=dict)  # hook point -> installer
    schema_filter: Callable[..., bool] | None = None  # Alembic include_object for objects the tables do not describe


registry: Registry[Layer] = Registry("layers", "Layers of the stack: tables, routers, commands, tasks and hooks.")


def layers() -> list[Layer]:
    """Every registered layer, lowest first."""
    found = [registry.get(name) for name in registry.names()]
    if not any(layer.name == "core" for layer in found):
        raise StackwrightError(
            "No Stackwright layers are registered: the package's entry points are missing.",
            hint="Install the package (`pip install -e .` or `make install`) instead of running it from a source path.",
            code="config_error",
        )
    return sorted(found, key=lambda layer: (layer.rank, layer.name))


def extend(point: str, target: Any) -> None:
    """Let every layer that hooks into ``point`` install its hooks on ``target`` (lowest layer first)."""
    for layer in layers():
        installer = layer.extends.get(point)
        if installer is not None:
            installer(target)


def target_metadata() -> MetaData:
    """The whole schema: every layer's tables on one MetaData (what Alembic and the tests compare against)."""
    from stackwright.core.db import Base

    for layer in layers():
        for module in layer.tables:
            importlib.import_module(module)
    return Base.metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's filter: False for database objects a layer manages outside its tables (search indexes)."""
    return all(
        layer.schema_filter(obj, name, type_, reflected, compare_to) for layer in layers() if layer.schema_filter is not None
    )


def routers_in_mount_order() -> list[Any]:
    ordered = sorted(layers(), key=lambda layer: (layer.rank if layer.route_priority is None else layer.route_priority))
    return [router for layer in ordered if layer.routers is not None for router in layer.routers()]
