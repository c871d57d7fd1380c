"""What the trace page's "Add to dataset" form needs from the datasets layer: the project's datasets to pick
from, and the confirmation shown after adding (checked against the stored version, so an edited link shows none).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.core.errors import InvalidInput, NotFound
from stackwright.datasets import service
from stackwright.datasets.items import ITEM_ID_PATTERN
from stackwright.datasets.models import DatasetVersionItem

CHOICES = 200  # newest datasets offered in the select; any other is typed by name


def dataset_choices(session: Session, project_id: str) -> list[str]:
    data, _ = service.list_datasets(session, project_id, limit=CHOICES)
    return sorted(d["name"] for d in data)


def added_notice(session: Session, project_id: str, ref: str, item_id: str) -> dict[str, Any] | None:
    """{name, version, ref, item_id} when version ``ref`` of the project's dataset holds ``item_id``, else None."""
    if not ref or not ITEM_ID_PATTERN.fullmatch(item_id):
        return None
    try:
        view = service.get_dataset_version(session, project_id, ref, with_items=False)
    except (InvalidInput, NotFound):
        return None
    held = session.scalar(select(DatasetVersionItem.position).where(DatasetVersionItem.version_id == view.version_id, DatasetVersionItem.item_id == item_id))
    if held is None:
        return None
    return {"name": view.name, "version": view.version, "ref": view.ref, "item_id": item_id}
