"""The datasets layer's logic (no HTTP): look up versions, save new versions, list, page items.

Every query is scoped by ``project_id``: another project's dataset answers NotFound, never its data.
Versions are immutable: every change (import, add, update, remove, add from traces) saves a new version
whose membership lists the items in order; unchanged items are shared, never copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.errors import Conflict, InvalidInput, NotFound
from stackwright.datasets.items import check_name
from stackwright.datasets.models import Dataset, DatasetItem, DatasetVersion, DatasetVersionItem

_SHOWN = 10  # how many names a NotFound message lists
_CHUNK = 500  # ids per IN (...) lookup


@dataclass(frozen=True)
class DatasetVersionView:
    """One immutable dataset version with its items in order: each ``{"id", "input", "expected", "metadata"}``."""

    name: str
    version: int
    content_hash: str
    items: list[dict[str, Any]]
    dataset_id: int
    version_id: int
    item_count: int
    message: str
    author: str
    parent_version: int | None
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


# -- references and lookups ---------------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``name`` (latest), ``name@latest`` or ``name@3`` as (name, version or None)."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput("A dataset reference is empty.", hint="Use NAME or NAME@VERSION, e.g. support-cases@3.")
    name, sep, version = ref.strip().partition("@")
    check_name(name)
    if not sep or version == "latest":
        return name, None
    if not (version.isascii() and version.isdigit()) or not 1 <= int(version) <= 2**31 - 1:
        raise InvalidInput(f"Dataset reference {ref[:140]!r} has a bad version {version[:20]!r}.", hint="Use NAME@N with N a version number (1, 2, 3...), e.g. support-cases@3.")
    return name, int(version)


def get_dataset(session: Session, project_id: str, name: str) -> Dataset:
    """The project's dataset called ``name``, or NotFound listing the datasets there are."""
    check_name(name)
    dataset = session.scalar(select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name))
    if dataset is None:
        known = list(session.scalars(select(Dataset.name).where(Dataset.project_id == project_id).order_by(Dataset.name).limit(_SHOWN)))
        hint = f"Datasets in this project: {', '.join(known)}." if known else "This project has no datasets yet; import one with `stackwright datasets import NAME FILE`."
        raise NotFound(f"No dataset named {name!r}.", hint=hint)
    return dataset


def _versions_hint(session: Session, dataset: Dataset) -> str:
    numbers = list(session.scalars(select(DatasetVersion.version).where(DatasetVersion.dataset_id == dataset.id).order_by(DatasetVersion.version)))
    if not numbers:
        return "It has no versions yet; import items with `stackwright datasets import`."
    shown = ", ".join(str(n) for n in numbers[-_SHOWN:])
    more = f" (and {len(numbers) - _SHOWN} older)" if len(numbers) > _SHOWN else ""
    return f"Its versions: {shown}{more}; {dataset.name} (latest) is version {dataset.latest_version}."


def version_row(session: Session, dataset: Dataset, version: int | None) -> DatasetVersion:
    """The version ``version`` of ``dataset`` (None: latest), or NotFound listing the versions there are."""
    number = dataset.latest_version if version is None else version
    row = None
    if number:
        row = session.scalar(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.version == number))
    if row is None:
        what = f"Dataset {dataset.name!r} has no version {version}." if version is not None else f"Dataset {dataset.name!r} has no versions yet."
        raise NotFound(what, hint=_versions_hint(session, dataset))
    return row


def version_items(session: Session, version_id: int, *, after: int = -1, limit: int | None = None) -> list[dict[str, Any]]:
    """A version's items in order, each with its ``position``; ``after``/``limit`` page by position."""
    query = (
        select(DatasetVersionItem.position, DatasetItem.item_id, DatasetItem.input, DatasetItem.expected, DatasetItem.meta)
        .join(DatasetItem, (DatasetItem.dataset_id == DatasetVersionItem.dataset_id) & (DatasetItem.item_id == DatasetVersionItem.item_id))
        .where(DatasetVersionItem.version_id == version_id, DatasetVersionItem.position > after)
        .order_by(DatasetVersionItem.position)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        {"id": r.item_id, "input": r.input, "expected": r.expected, "metadata": r.meta if r.meta is not None else {}, "position": r.position}
        for r in session.execute(query)
    ]


def view_of(session: Session, dataset: Dataset, row: DatasetVersion, *, with_items: bool = True) -> DatasetVersionView:
    items = []
    if with_items:
        items = [{k: v for k, v in item.items() if k != "position"} for item in version_items(session, row.id)]
    return DatasetVersionView(
        name=dataset.name, version=row.version, content_hash=row.content_hash, items=items, dataset_id=dataset.id,
        version_id=row.id, item_count=row.item_count, message=row.message, author=row.author,
        parent_version=row.parent_version, created_at=row.created_at,
    )  # fmt: skip


def get_dataset_version(session: Session, project_id: str, ref: str, *, with_items: bool = True) -> DatasetVersionView:
    """The version ``ref`` names: ``name`` or ``name@latest`` (the latest version) or ``name@3``.

    ``.items`` lists ``{"id", "input", "expected", "metadata"}`` in order (empty when ``with_items`` is
    False). InvalidInput for a malformed reference; NotFound naming the dataset or version and listing
    what exists (also for another project's dataset).
    """
    name, version = parse_ref(ref)
    dataset = get_dataset(session, project_id, name)
    return view_of(session, dataset, version_row(session, dataset, version), with_items=with_items)


# -- saving versions ----------------------------------------------------------------------------------


def lock_dataset(session: Session, project_id: str, name: str) -> Dataset | None:
    """The dataset row, locked until commit (Postgres ``FOR UPDATE``; SQLite serializes writers)."""
    query = (
        select(Dataset)
        .where(Dataset.project_id == project_id, Dataset.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalar(query)


def lock_or_create(session: Session, project_id: str, name: str, *, description: str = "") -> tuple[Dataset, bool]:
    """The locked dataset, created first if it does not exist (a concurrent creator wins; we lock its row)."""
    check_name(name)
    dataset = lock_dataset(session, project_id, name)
    if dataset is not None:
        return dataset, False
    now = utcnow()
    try:
        with session.begin_nested():
            dataset = Dataset(project_id=project_id, name=name, description=description, latest_version=0, created_at=now, updated_at=now)
            session.add(dataset)
        return dataset, True
    except IntegrityError:
        dataset = lock_dataset(session, project_id, name)
        if dataset is None:
            raise
        return dataset, False


def get_locked(session: Session, project_id: str, name: str) -> Dataset:
    check_name(name)
    dataset = lock_dataset(session, project_id, name)
    return dataset if dataset is not None else get_dataset(session, project_id, name)  # raises NotFound


def current_items(session: Session, dataset: Dataset) -> list[dict[str, Any]]:
    """The latest version's items (``id``, input, expected, metadata), or [] before the first version."""
    if not dataset.latest_version:
        return []
    row = version_row(session, dataset, None)
    return [{k: v for k, v in item.items() if k != "position"} for item in version_items(session, row.id)]


def _store_items(session: Session, dataset_id: int, items: list[dict[str, Any]]) -> int:
    """Insert the items this dataset does not hold yet; returns how many were new."""
    ids = list(dict.fromkeys(item["id"] for item in items))
    existing: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        existing.update(session.scalars(select(DatasetItem.item_id).where(DatasetItem.dataset_id == dataset_id, DatasetItem.item_id.in_(chunk))))
    now = utcnow()
    new_rows, seen = [], set(existing)
    for item in items:
        if item["id"] not in seen:
            seen.add(item["id"])
            new_rows.append({"dataset_id": dataset_id, "item_id": item["id"], "input": item["input"], "expected": item["expected"],
                             "metadata": item["metadata"], "created_at": now})  # fmt: skip
    for start in range(0, len(new_rows), _CHUNK):
        session.execute(insert(DatasetItem.__table__), new_rows[start : start + _CHUNK])
    return len(new_rows)


def save_version(
    session: Session, actor: Actor, project_id: str, dataset: Dataset, items: list[dict[str, Any]], *, message: str = "", action: str
) -> dict[str, Any]:
    """Make ``items`` (each with its ``id``, in order) the dataset's latest version; the caller holds the lock and commits.

    The same content as an existing version is that version (nothing new is stored; it becomes the latest
    again if it was not). Returns {name, version, ref, created, content_hash, item_count, parent_version}.
    """
    from stackwright.auth import audit
    from stackwright.datasets.items import content_hash

    if len(message) > 2000:
        raise InvalidInput(f"The version message is {len(message)} characters long; the limit is 2000.")
    digest = content_hash([item["id"] for item in items])
    parent = dataset.latest_version or None
    row = session.scalar(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.content_hash == digest))
    created = row is None
    if row is None:
        highest = session.scalar(select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset.id)) or 0
        _store_items(session, dataset.id, items)
        row = DatasetVersion(dataset_id=dataset.id, version=highest + 1, content_hash=digest, item_count=len(items), message=message,
                             author=actor.label[:200], parent_version=parent, created_at=utcnow())  # fmt: skip
        session.add(row)
        session.flush()
        members = [{"version_id": row.id, "position": i, "dataset_id": dataset.id, "item_id": item["id"]} for i, item in enumerate(items)]
        for start in range(0, len(members), _CHUNK):
            session.execute(insert(DatasetVersionItem.__table__), members[start : start + _CHUNK])
    moved = dataset.latest_version != row.version
    if created or moved:
        dataset.latest_version = row.version
        dataset.updated_at = utcnow()
        session.flush()
        audit.record(session, actor, action, "dataset", dataset.name, project_id=project_id,
                     before={"latest_version": parent} if parent else None,
                     after={"version": row.version, "created": created, "content_hash": digest, "item_count": row.item_count})  # fmt: skip
    return {
        "name": dataset.name,
        "version": row.version,
        "ref": f"{dataset.name}@{row.version}",
        "created": created,
        "content_hash": digest,
        "item_count": row.item_count,
        "parent_version": parent if created else row.parent_version,
    }


def create_dataset(session: Session, actor: Actor, project_id: str, name: str, description: str = "") -> dict[str, Any]:
    """A new, empty dataset (no versions until items arrive); Conflict if the name is taken."""
    from stackwright.auth import audit

    if len(description) > 10_000:
        raise InvalidInput("The description is longer than 10,000 characters.")
    dataset, created = lock_or_create(session, project_id, name, description=description)
    if not created:
        raise Conflict(f"A dataset named {name!r} already exists.", hint="Pick another name, or import into it with `stackwright datasets import`.")
    session.flush()
    audit.record(session, actor, "dataset.create", "dataset", name, project_id=project_id, after={"description": description})
    return dataset_payload(dataset, None)


# -- reading ------------------------------------------------------------------------------------------


def dataset_payload(dataset: Dataset, item_count: int | None) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "description": dataset.description,
        "latest_version": dataset.latest_version or None,
        "item_count": item_count or 0,
        "created_at": dataset.created_at,
        "updated_at": dataset.updated_at,
    }


def version_payload(name: str, row: DatasetVersion, latest: int | None = None) -> dict[str, Any]:
    return {
        "name": name, "version": row.version, "ref": f"{name}@{row.version}", "content_hash": row.content_hash,
        "item_count": row.item_count, "message": row.message, "author": row.author, "parent_version": row.parent_version,
        "latest": row.version == latest, "created_at": row.created_at,
    }  # fmt: skip


def list_datasets(session: Session, project_id: str, *, cursor: str | None = None, limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
    """The project's datasets, newest first, with their latest version and its item count."""
    from stackwright.core.cursors import decode_id_cursor, encode_id_cursor

    query = select(Dataset).where(Dataset.project_id == project_id).order_by(Dataset.id.desc()).limit(limit + 1)
    before = decode_id_cursor("d", cursor)
    if before is not None:
        query = query.where(Dataset.id < before)
    rows = list(session.scalars(query))
    next_cursor = encode_id_cursor("d", rows[limit - 1].id) if len(rows) > limit else None
    rows = rows[:limit]
    counts = dict(
        session.execute(
            select(DatasetVersion.dataset_id, DatasetVersion.item_count)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(DatasetVersion.dataset_id.in_([d.id for d in rows]), DatasetVersion.version == Dataset.latest_version)
        ).all()
    )
    return [dataset_payload(d, counts.get(d.id)) for d in rows], next_cursor


def list_versions(
    session: Session, project_id: str, name: str, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """One dataset's versions, newest first."""
    from stackwright.core.cursors import decode_id_cursor, encode_id_cursor

    dataset = get_dataset(session, project_id, name)
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id).order_by(DatasetVersion.version.desc()).limit(limit + 1)
    before = decode_id_cursor("v", cursor)
    if before is not None:
        query = query.where(DatasetVersion.version < before)
    rows = list(session.scalars(query))
    next_cursor = encode_id_cursor("v", rows[limit - 1].version) if len(rows) > limit else None
    return [version_payload(dataset.name, r, dataset.latest_version) for r in rows[:limit]], next_cursor


def describe(session: Session, project_id: str, name: str, *, versions: int = 20) -> dict[str, Any]:
    """A dataset with its latest version's summary and its newest ``versions`` versions."""
    dataset = get_dataset(session, project_id, name)
    rows, next_cursor = list_versions(session, project_id, name, limit=versions)
    latest = next((r for r in rows if r["latest"]), None)
    if latest is None and dataset.latest_version:
        latest = version_payload(dataset.name, version_row(session, dataset, None), dataset.latest_version)
    payload = dataset_payload(dataset, latest["item_count"] if latest else 0)
    payload["latest"] = latest
    payload["versions"] = rows
    payload["more_versions"] = next_cursor is not None
    return payload


def items_page(
    session: Session, project_id: str, ref: str, *, cursor: str | None = None, limit: int = 100
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """(version summary, one page of its items in order, next cursor)."""
    from stackwright.core.cursors import decode_id_cursor, encode_id_cursor

    name, version = parse_ref(ref)
    dataset = get_dataset(session, project_id, name)
    row = version_row(session, dataset, version)
    after = decode_id_cursor("i", cursor)
    items = version_items(session, row.id, after=-1 if after is None else after, limit=limit + 1)
    next_cursor = encode_id_cursor("i", items[limit - 1]["position"]) if len(items) > limit else None
    return version_payload(dataset.name, row, dataset.latest_version), items[:limit], next_cursor
