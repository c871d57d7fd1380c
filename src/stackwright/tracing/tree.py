"""A trace's spans as a tree: a flat pre-order list with depth, self time and share of the trace.

Flat rather than nested: a deep trace (an agent loop thousands of steps deep) nests no JSON, needs no
recursion to build or to serialize (orjson refuses nesting past 255 levels), and a client can render it
with a simple loop (``depth`` indents, ``parent_span_id`` links). Built iteratively in O(n log n).
"""

from __future__ import annotations

import gc
from typing import Any

# The columns the tree needs (no bodies), in the order `_span_tree` unpacks them.
TREE_COLUMNS = (
    "span_id", "parent_span_id", "name", "kind", "status", "status_message", "start_ns", "end_ns", "duration_ms",
    "model", "input_tokens", "output_tokens", "total_tokens", "cost",
)  # fmt: skip


def span_tree(rows: list[Any], trace_start_ns: int, trace_duration_ms: float) -> list[dict[str, Any]]:
    """Spans (tuples of ``TREE_COLUMNS``, ordered by start) as a flat pre-order list with depth, self time
    and share of the trace.

    Iterative, so any depth works. A span whose parent is not among ``rows`` is a root (``orphan``);
    so is a span on a parent cycle that no root reaches.
    """
    was_enabled = gc.isenabled()
    gc.disable()  # 100,000s of small objects and no cycles: collection passes would double the time
    try:
        return _span_tree(rows, trace_start_ns, trace_duration_ms)
    finally:
        if was_enabled:
            gc.enable()


def _span_tree(rows: list[Any], trace_start_ns: int, trace_duration_ms: float) -> list[dict[str, Any]]:
    rows = [tuple(r) for r in rows]
    n = len(rows)
    starts = [r[6] for r in rows]
    ends = [r[7] for r in rows]
    position = {r[0]: i for i, r in enumerate(rows)}
    children: list[list[int]] = [[] for _ in range(n)]
    roots, orphan = [], [False] * n
    for i, r in enumerate(rows):
        parent = position.get(r[1]) if r[1] else None
        if parent is None or parent == i:
            roots.append(i)
            orphan[i] = r[1] is not None
        else:
            children[parent].append(i)
    order: list[tuple[int, int]] = []  # (index, depth) in pre-order
    placed_children = [0] * n
    seen = [False] * n

    def walk(start: int) -> None:
        stack = [(start, 0, -1)]
        while stack:
            i, depth, parent = stack.pop()
            if seen[i]:
                continue
            seen[i] = True
            if parent >= 0:
                placed_children[parent] += 1
            order.append((i, depth))
            stack.extend((c, depth + 1, i) for c in reversed(children[i]))

    for i in roots:
        walk(i)
    if len(order) < n:  # parent cycles: break them at their earliest span
        for i in range(n):
            if not seen[i]:
                orphan[i] = True
                walk(i)
    scale = 1 / trace_duration_ms if trace_duration_ms > 0 else 0.0
    out = []
    for i, depth in order:
        span_id, parent_id, name, kind, status, message, start, end, duration, model, tin, tout, total, cost = rows[i]
        kids = children[i]
        out.append(
            {
                "span_id": span_id, "parent_span_id": parent_id, "orphan": orphan[i], "depth": depth,
                "child_count": placed_children[i], "name": name, "kind": kind, "status": status,
                "status_message": message, "start_ns": start, "end_ns": end, "offset_ms": (start - trace_start_ns) / 1e6,
                "duration_ms": duration,
                "self_time_ms": _self_ns(start, end, kids, starts, ends) / 1e6 if kids else (end - start) / 1e6,
                "share": duration * scale, "model": model, "input_tokens": tin, "output_tokens": tout,
                "total_tokens": total, "cost": cost,
            }
        )  # fmt: skip
    return out


def _self_ns(start: int, end: int, kids: list[int], starts: list[int], ends: list[int]) -> int:
    """``end - start`` minus the union of the children's intervals clipped to [start, end]."""
    covered, run_start = 0, 0
    run_end: int | None = None  # the current run of overlapping children is [run_start, run_end]
    for c in sorted(kids, key=starts.__getitem__):
        lo, hi = max(starts[c], start), min(ends[c], end)
        if hi <= lo:
            continue
        if run_end is None or lo > run_end:
            if run_end is not None:
                covered += run_end - run_start
            run_start, run_end = lo, hi
        else:
            run_end = max(run_end, hi)
    if run_end is not None:
        covered += run_end - run_start
    return end - start - covered
