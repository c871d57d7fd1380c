"""The labelled retrieval sets shipped in the wheel, under ``stackwright/retrieval/sample/``.

``help-center``: 61 Markdown articles of the help center of Acme Cloud, a fictional project-management
SaaS (plans Free, Team $10, Business $20 per member per month, Enterprise; https://app.acme.example),
one file per article named ``<category>-<topic>.md`` (categories: account, billing, data, integrations,
teams, troubleshooting, security, projects, support), with labelled queries in
``labels/help-center.jsonl``: ``{"id", "query", "relevant": {"file.md": gain}, "kind"}``, where gain 2
answers the query and 1 is related, and ``kind`` is ``direct``, ``paraphrase`` (few words shared with
the article), ``exact`` (error codes, setting names) or ``multi`` (several articles answer).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackwright.retrieval.evaluation.service import Label

SAMPLE_DIR = Path(__file__).parent / "sample"
LABELS_DIR = SAMPLE_DIR / "labels"


def sample_names() -> list[str]:
    """The shipped sets: folders of documents that have a labels file."""
    return sorted(p.stem for p in LABELS_DIR.glob("*.jsonl") if (SAMPLE_DIR / p.stem).is_dir())


def corpus_dir(name: str = "help-center") -> Path:
    """The folder of the set's documents (ingest it with `stackwright ingest`)."""
    path = SAMPLE_DIR / name
    if not path.is_dir() or name == "labels":
        raise KeyError(f"no sample set named {name!r}; shipped: {', '.join(sample_names())}")
    return path


def labels_path(name: str = "help-center") -> Path:
    """The set's labelled queries (JSONL; relevant ids are file names relative to ``corpus_dir``)."""
    corpus_dir(name)
    return LABELS_DIR / f"{name}.jsonl"


def category(source: str) -> str:
    """The category of a help-center article from its file name: ``billing-refunds-annual.md`` -> billing."""
    return Path(source).name.split("-", 1)[0]


def load_labels(name: str = "help-center") -> list[Label]:
    """The set's labelled queries, parsed (see stackwright.retrieval.evaluation.service.parse_labels_jsonl)."""
    from stackwright.retrieval.evaluation.service import parse_labels_jsonl

    return parse_labels_jsonl(labels_path(name).read_text(encoding="utf-8"), source=str(labels_path(name)))
