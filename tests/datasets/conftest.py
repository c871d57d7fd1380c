"""Dataset test helpers: case files, importing them over the API, and a fingerprint of the dataset tables."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from stackwright.core.db import Database
from stackwright.datasets.models import Dataset, DatasetItem, DatasetVersion, DatasetVersionItem
from tests.auth.conftest import OtherProject, client_for, default, make_key, other  # noqa: F401  (fixtures)

CASES = [
    {"input": {"question": "How long do refunds take?"}, "expected": "5 days", "metadata": {"topic": "billing"}},
    {"input": {"question": "Do you ship to Canada?"}, "expected": "Yes", "metadata": {"topic": "shipping"}},
    {"input": {"question": "Can I change my password?"}, "expected": ["Settings", "Security"]},
]


def jsonl(items: list[dict[str, Any]]) -> str:
    return "".join(orjson.dumps(item).decode() + "\n" for item in items)


def import_jsonl(client: httpx.Client, name: str, items: list[dict[str, Any]], status: int | None = None, **params: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/datasets/{name}/import", content=jsonl(items), headers={"Content-Type": "application/x-ndjson"}, params=params)
    if status is not None:
        assert response.status_code == status, response.text
    else:
        assert response.status_code in (200, 201), response.text
    return response.json()


def items_of(client: httpx.Client, name: str, version: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/datasets/{name}/versions/{version}/items", params={"limit": 500})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def contents(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"input": i["input"], "expected": i["expected"], "metadata": i["metadata"]} for i in items]


def fingerprint(db: Database) -> dict[str, int]:
    """Row counts of the dataset tables: unchanged after a refused request."""
    with db.read() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Dataset, DatasetVersion, DatasetItem, DatasetVersionItem)}  # fmt: skip
