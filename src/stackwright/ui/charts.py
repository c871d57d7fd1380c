"""Server-drawn time charts: the geometry of one ``<svg>`` per figure (bars, or lines for several series), with
one link per bucket to the trace list of that bucket's time range. Only numbers leave here; the template
draws them with SVG attributes (the CSP forbids style attributes and inline script)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WIDTH = 600
HEIGHT = 120


@dataclass(frozen=True)
class Bucket:
    start_ns: int
    end_ns: int
    href: str  # the trace list filtered to this bucket's time range
    label: str  # its start, for the tooltip
    row: dict[str, Any] | None  # the stats row, None when nothing happened in the bucket


@dataclass
class Chart:
    key: str
    title: str
    peak: str  # the highest value, formatted: the top of the y axis
    slots: list[dict[str, Any]] = field(default_factory=list)  # per bucket: x, width, link, tooltip, bars
    lines: list[dict[str, Any]] = field(default_factory=list)  # per series: css class, points


def chart(key: str, title: str, buckets: list[Bucket], series: dict[str, Callable[[dict[str, Any]], float | None]],
          fmt: Callable[[float], str], lines: bool = False) -> Chart:  # fmt: skip
    """One chart; ``series`` maps a CSS class to how a stats row gives its value (None: no value)."""
    values = {name: [get(b.row) if b.row else None for b in buckets] for name, get in series.items()}
    peak = max((v for vs in values.values() for v in vs if v is not None), default=0.0) or 1.0
    slot_w = WIDTH / max(len(buckets), 1)
    out = Chart(key, title, fmt(peak))
    for i, bucket in enumerate(buckets):
        parts = [f"{name} {fmt(v)}" for name, vs in values.items() if (v := vs[i]) is not None]
        bars = []
        if not lines:
            for name, vs in values.items():
                height = (vs[i] or 0.0) / peak * HEIGHT
                bars.append({"cls": name, "y": round(HEIGHT - height, 2), "height": round(height, 2)})
        out.slots.append({
            "x": round(i * slot_w, 2), "width": round(max(slot_w - 1, 0.5), 2), "href": bucket.href,
            "tooltip": f"{bucket.label}: {', '.join(parts) or 'no traces'}", "bars": bars,
        })  # fmt: skip
    if lines:
        for name, vs in values.items():
            points = [
                f"{round((i + 0.5) * slot_w, 2)},{round(HEIGHT - v / peak * HEIGHT, 2)}"
                for i, v in enumerate(vs)
                if v is not None
            ]
            out.lines.append({"cls": name, "points": " ".join(points)})
    return out
