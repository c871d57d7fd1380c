"""Changing a dataset: import (replace or append), add, update and remove items. Each change saves a new version.

The caller commits; an error leaves nothing written. The dataset row is locked first, so two changes of
one dataset never interleave and version numbers never collide.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stackwright.auth.actors import Actor
from stackwright.core.errors import Conflict, InvalidInput, NotFound
from stackwright.datasets import service
from stackwright.datasets.items import check_item_id, normalize_item, with_ids

MODES = ("replace", "append")


def import_items(
    session: Session,
    actor: Actor,
    project_id: str,
    name: str,
    items: list[dict[str, Any]],
    places: list[str],
    *,
    mode: str = "replace",
    message: str = "",
    create: bool = True,
    action: str = "dataset.import",
) -> dict[str, Any]:
    """Save checked ``items`` (from ``importing``) as the new content (replace) or after the current items (append).

    Append skips items the latest version already holds (``skipped`` counts them). Identical items in
    the input are refused, naming both places. Creates the dataset unless ``create`` is False.
    """
    if mode not in MODES:
        raise InvalidInput(f"Import mode {mode!r} is not valid.", hint="Use replace (the file is the new content) or append.")
    new = with_ids(items, places)
    if create:
        dataset, _ = service.lock_or_create(session, project_id, name)
    else:
        dataset = service.get_locked(session, project_id, name)
    skipped = 0
    if mode == "append":
        current = service.current_items(session, dataset)
        held = {item["id"] for item in current}
        fresh = [item for item in new if item["id"] not in held]
        skipped = len(new) - len(fresh)
        new = with_ids([_content(i) for i in current + fresh], [f"item {i['id']}" for i in current + fresh])
    result = service.save_version(session, actor, project_id, dataset, new, message=message, action=action)
    return {**result, "mode": mode, "imported": len(items) - skipped, "skipped": skipped}


def _check_base(dataset: Any, expected_version: int | None) -> None:
    """Conflict when the caller edited version ``expected_version`` but the dataset has moved on since."""
    if expected_version is not None and (dataset.latest_version or 0) != expected_version:
        raise Conflict(
            f"{dataset.name} changed meanwhile: its latest version is now {dataset.latest_version}, not {expected_version}.",
            hint="Open the latest version, check the item and make the change again.",
        )


def _content(item: dict[str, Any]) -> dict[str, Any]:
    return {"input": item["input"], "expected": item["expected"], "metadata": item["metadata"]}


def _save(session: Session, actor: Actor, project_id: str, dataset: Any, items: list[dict[str, Any]], message: str, action: str) -> dict[str, Any]:
    checked = with_ids([_content(i) for i in items], [f"item {i['id']}" if i.get('id') else 'the new or changed item' for i in items])
    return service.save_version(session, actor, project_id, dataset, checked, message=message, action=action)


def add_item(session: Session, actor: Actor, project_id: str, name: str, raw: Any, *, message: str = "",
             expected_version: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Append one item (creating the dataset if needed); Conflict if the latest version already holds it, or
    is not ``expected_version`` when that is given."""
    actor.require_scope("write", "Changing a dataset")
    item = normalize_item(raw, "The item")
    dataset, _ = service.lock_or_create(session, project_id, name)
    _check_base(dataset, expected_version)
    current = service.current_items(session, dataset)
    new = with_ids([item], ["The item"])[0]
    if any(i["id"] == new["id"] for i in current):
        raise Conflict(f"{name}@{dataset.latest_version} already holds this item ({new['id']}).", hint="Change its input, expected or metadata to add another.")
    result = _save(session, actor, project_id, dataset, [*current, new], message or "add item", "dataset.add_item")
    return {**result, "item_id": new["id"]}


def _find(current: list[dict[str, Any]], dataset: Any, item_id: str) -> int:
    ident = check_item_id(item_id)
    for index, item in enumerate(current):
        if item["id"] == ident:
            return index
    raise NotFound(
        f"{dataset.name}@{dataset.latest_version} has no item {ident!r}." if dataset.latest_version else f"Dataset {dataset.name!r} has no items yet.",
        hint=f"List its items with `stackwright datasets show {dataset.name}`.",
    )


def update_item(
    session: Session, actor: Actor, project_id: str, name: str, item_id: str, changes: dict[str, Any], *, message: str = "",
    expected_version: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Replace some of an item's fields (``changes``: any of input, expected, metadata); the item keeps its place.

    The changed item gets a new id (its content changed); an unchanged item makes no new version. Conflict when
    ``expected_version`` is given and is no longer the latest.
    """
    actor.require_scope("write", "Changing a dataset")
    unknown = [key for key in changes if key not in ("input", "expected", "metadata")]
    if unknown:
        raise InvalidInput(f"Unknown item field {unknown[0]!r}.", hint="An item has the fields input, expected and metadata.")
    if not changes:
        raise InvalidInput("Nothing to update.", hint="Give a new input, expected or metadata.")
    dataset = service.get_locked(session, project_id, name)
    _check_base(dataset, expected_version)
    current = service.current_items(session, dataset)
    index = _find(current, dataset, item_id)
    item = normalize_item({**_content(current[index]), **changes}, "The updated item")
    items = [*current[:index], item, *current[index + 1 :]]
    result = _save(session, actor, project_id, dataset, items, message or f"update item {current[index]['id']}", "dataset.update_item")
    return {**result, "old_item_id": current[index]["id"], "item_id": with_ids([item], ["item"])[0]["id"]}


def remove_item(session: Session, actor: Actor, project_id: str, name: str, item_id: str, *, message: str = "",
                expected_version: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Drop one item from the latest version (older versions keep it); Conflict as ``update_item``."""
    actor.require_scope("write", "Changing a dataset")
    dataset = service.get_locked(session, project_id, name)
    _check_base(dataset, expected_version)
    current = service.current_items(session, dataset)
    index = _find(current, dataset, item_id)
    removed = current.pop(index)
    result = _save(session, actor, project_id, dataset, current, message or f"remove item {removed['id']}", "dataset.remove_item")
    return {**result, "item_id": removed["id"]}
