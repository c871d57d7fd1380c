"""The guardrail label sets: kept in the repository (bench/data/guardrails/), not shipped in the wheel."""

from __future__ import annotations

import json
from pathlib import Path

LABEL_SETS = Path(__file__).resolve().parents[2] / "bench" / "data" / "guardrails"


def label_rows(name: str) -> list[dict]:
    """The rows of one JSON-lines label set, e.g. ``label_rows("injection_dev.jsonl")``."""
    text = (LABEL_SETS / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
