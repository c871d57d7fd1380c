"""`stackwright retrieval eval` (owned by the retrieval-eval work)."""

from __future__ import annotations

import typer

retrieval_app = typer.Typer(help="Retrieval quality: evaluate a collection on labelled queries.", no_args_is_help=True)
