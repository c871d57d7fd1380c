"""``client.datasets``: datasets, their immutable versions and items, written once for ``Client`` and
``AsyncClient`` (await the calls on the latter; the ``iter_*`` methods are then async iterators).

    client.datasets.create("support-cases", description="regression set")
    client.datasets.add_item("support-cases", {"question": "How long do refunds take?"}, expected="5 days")
    client.datasets.import_items("support-cases", [{"input": "hi", "expected": "hello"}], mode="append")
    for item in client.datasets.iter_items("support-cases", 2):
        ...
    jsonl = client.datasets.export("support-cases", format="jsonl")

Every change saves a new version and answers with its number and ``ref`` (``name@N``).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from stackwright.sdk.base import Call, compact, parse_page
from stackwright.sdk.resources import Resource, _path


def _dataset_path(name: str, tail: str = "") -> str:
    return _path("datasets", name) + tail


def _items_path(name: str, version: int) -> str:
    return _dataset_path(name, f"/versions/{int(version)}/items")


class Datasets(Resource):
    """Datasets of the key's project (reading needs read scope, changes write)."""

    def create(self, name: str, description: str = "") -> Any:
        return self._run(Call("POST", _path("datasets"), body={"name": name, "description": description}))

    def list(self, *, limit: int = 50, cursor: str | None = None) -> Any:
        """One ``Page`` of datasets, newest first, each with its latest version."""
        return self._run(self._pages(_path("datasets"), limit)(cursor))

    def iter(self, *, limit: int = 50) -> Any:
        return self._client._paginate(self._pages(_path("datasets"), limit))

    def get(self, name: str) -> Any:
        """The dataset with its latest version and newest versions."""
        return self._run(Call("GET", _dataset_path(name)))

    def versions(self, name: str, *, limit: int = 50, cursor: str | None = None) -> Any:
        """One ``Page`` of versions, newest first."""
        return self._run(self._pages(_dataset_path(name, "/versions"), limit)(cursor))

    def items(self, name: str, version: int, *, limit: int = 100, cursor: str | None = None) -> Any:
        """One page of a version's items in order: ``{"version": {...}, "data": [...], "next_cursor"}``."""
        return self._run(Call("GET", _items_path(name, version), params=compact({"limit": limit, "cursor": cursor})))

    def iter_items(self, name: str, version: int, *, limit: int = 100) -> Any:
        """Every item of a version, in order, fetching pages of ``limit`` as needed."""
        return self._client._paginate(self._pages(_items_path(name, version), limit))

    def export(self, name: str, version: int | None = None, *, format: str = "jsonl") -> Any:  # noqa: A002 - the API's name
        """A version (default: the latest) as JSON Lines or CSV text, the formats ``import_items`` reads back."""
        params = compact({"version": version, "format": format})
        return self._run(Call("GET", _dataset_path(name, "/export"), params=params, text=True))

    def import_items(self, name: str, items: builtins.list[Any], *, mode: str = "replace", message: str = "") -> Any:
        """Items ``{input, expected, metadata}`` become a new version: the whole content (replace) or added to
        the latest (append). The same content as the latest version answers that version."""
        body = {"items": items, "mode": mode, "message": message}
        return self._run(Call("POST", _dataset_path(name, "/import"), body=body))

    def add_item(
        self,
        name: str,
        input: Any,  # noqa: A002 - the API's name
        *,
        expected: Any = None,
        metadata: dict[str, Any] | None = None,
        message: str = "",
    ) -> Any:
        """Add one item ``{input, expected, metadata}``: a new version."""
        body = {"input": input, "expected": expected, "metadata": metadata or {}, "message": message}
        return self._run(Call("POST", _dataset_path(name, "/items"), body=body))

    def update_item(self, name: str, item_id: str, *, message: str = "", **changes: Any) -> Any:
        """Change an item's ``input``, ``expected`` and/or ``metadata`` (keyword arguments): a new version."""
        body = {**changes, "message": message}
        return self._run(Call("PATCH", _dataset_path(name, "/items/" + quote(item_id, safe="")), body=body))

    def remove_item(self, name: str, item_id: str, *, message: str = "") -> Any:
        """Remove an item: a new version (older versions keep it)."""
        params = compact({"message": message or None})
        return self._run(Call("DELETE", _dataset_path(name, "/items/" + quote(item_id, safe="")), params=params))

    def from_traces(
        self,
        name: str,
        filter: dict[str, Any] | None = None,  # noqa: A002 - the API's name
        *,
        limit: int = 100,
        mask: bool = True,
        message: str = "",
    ) -> Any:
        """Append the inputs and outputs of matching traces (newest first; PII masked unless ``mask=False``);
        ``filter`` takes the fields of ``client.traces.list``. Creates the dataset if needed."""
        body = {"filter": filter or {}, "limit": limit, "mask": mask, "message": message}
        return self._run(Call("POST", _dataset_path(name, "/from-traces"), body=body))

    @staticmethod
    def _pages(path: str, limit: int) -> Callable[[str | None], Call]:
        def page_call(cursor: str | None) -> Call:
            return Call("GET", path, params=compact({"limit": limit, "cursor": cursor}), parse=parse_page)

        return page_call
