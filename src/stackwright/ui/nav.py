"""The navigation bar: an ordered list of entries that pages add to. A new page is one entry here, one
route and one template."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavEntry:
    label: str  # the link's visible text
    path: str  # where it leads; the entry is current on this path and below it
    order: int  # left to right


_ENTRIES: dict[str, NavEntry] = {}


def add_nav(entry: NavEntry) -> None:
    _ENTRIES[entry.label] = entry


def nav_entries() -> list[NavEntry]:
    return sorted(_ENTRIES.values(), key=lambda e: (e.order, e.label))


add_nav(NavEntry("Traces", "/ui/traces", 20))
add_nav(NavEntry("Sessions", "/ui/sessions", 30))
