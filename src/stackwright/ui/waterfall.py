"""The trace page's waterfall: one table row per span, in pre-order, with its bar, self time and a toggle.

Spans ``COLLAPSE_DEPTH`` deep and deeper start collapsed (their children are in the page, hidden, and the
UI's script shows them on a click); the selected span's ancestors start expanded so it is in view. The
rows are written here with one format string per span rather than by the template engine: a 10,000-span
trace is 10,000 rows, and this keeps the page fast. Every text value goes through ``escape``.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

COLLAPSE_DEPTH = 2
_ROW = (
    '<tr data-span-id="{id}" data-parent-span-id="{parent}" data-depth="{depth}"{state}>'
    '<td class="depth-{indent}">{toggle}<a href="?span={id}{keep}">{name}</a>{error}</td>'
    '<td class="num">{duration:.1f} ms</td><td class="num">{self_time:.1f} ms</td>'
    '<td class="bar-col"><svg class="bar" viewBox="0 0 1000 10" preserveAspectRatio="none" role="img" '
    'aria-label="starts at {offset:.1f} ms, lasts {duration:.1f} ms"><rect x="{x}" y="1" width="{width}" height="8"{err}>'
    "</rect></svg></td></tr>\n"
)
_TOGGLE = '<button type="button" class="toggle" data-toggle aria-expanded="{open}" aria-label="show or hide the {n} spans inside">{mark}</button>'
_ERROR = ' <span class="status status-error">error</span>'


def bar(span: dict[str, Any], trace: dict[str, Any]) -> tuple[float, float]:
    """Where a span's bar starts and how wide it is, in thousandths of the trace's duration."""
    origin = trace["start_ns"]
    total = max((trace["end_ns"] or origin) - origin, 1)
    start = min(max((span["start_ns"] - origin) / total, 0.0), 1.0)
    width = min(((span["end_ns"] or span["start_ns"]) - span["start_ns"]) / total, 1.0 - start)
    return round(start * 1000, 1), round(max(width, 0.002) * 1000, 1)


def _ancestors(spans: list[dict[str, Any]], span_id: str | None) -> set[str]:
    parent_of = {span["span_id"]: span["parent_span_id"] for span in spans}
    out: set[str] = set()
    node = parent_of.get(span_id) if span_id else None
    while node and node not in out:
        out.add(node)
        node = parent_of.get(node)
    return out


def waterfall(spans: list[dict[str, Any]], trace: dict[str, Any], selected_id: str | None, open_all: bool) -> tuple[Markup, int]:
    """The rows' HTML and how many rows start hidden. One pass over the spans, no query."""
    opened = _ancestors(spans, selected_id)
    keep = "&amp;open=all" if open_all else ""
    parts, hidden = [], 0
    hidden_below: int | None = None  # the depth of the collapsed span whose subtree the walk is in
    for span in spans:
        depth = span["depth"]
        if hidden_below is not None and depth <= hidden_below:
            hidden_below = None
        expanded = open_all or depth < COLLAPSE_DEPTH or span["span_id"] in opened
        state, toggle = "", ""
        if span["child_count"]:
            flag = "true" if expanded else "false"
            state = f' data-expanded="{flag}"'
            toggle = _TOGGLE.format(open=flag, n=span["child_count"], mark="\u25be" if expanded else "\u25b8")
        if hidden_below is not None:
            state += " hidden"
            hidden += 1
        if span["span_id"] == selected_id:
            state += ' aria-selected="true" class="selected"'
        x, width = bar(span, trace)
        error = span["status"] == "error"
        parts.append(_ROW.format(
            id=escape(span["span_id"]), parent=escape(span["parent_span_id"] or ""), depth=depth, state=state,
            indent=min(depth, 24), toggle=toggle, keep=keep, name=escape(span["name"]), error=_ERROR if error else "",
            duration=span["duration_ms"] or 0, self_time=span["self_time_ms"] or 0, offset=span["offset_ms"],
            x=x, width=width, err=' class="err"' if error else "",
        ))  # fmt: skip
        if hidden_below is None and not expanded and span["child_count"]:
            hidden_below = depth
    return Markup("".join(parts)), hidden
