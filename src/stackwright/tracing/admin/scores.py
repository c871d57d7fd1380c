"""Scores and feedback on traces and spans: numeric, boolean (stored as 0/1) or categorical values.

Creating a score is not audited (it can be as frequent as traces themselves); deleting one is.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from stackwright.auth import audit
from stackwright.auth.actors import Actor
from stackwright.core.clock import utcnow
from stackwright.core.cursors import MAX_ID, decode_id_cursor, encode_id_cursor
from stackwright.core.errors import NotFound
from stackwright.tracing.admin.schemas import ScoreCreate
from stackwright.tracing.models import Score, Span, Trace


def create_score(session: Session, actor: Actor, project_id: str, body: ScoreCreate) -> Score:
    """Attach a score to a trace (or one of its spans) of the project; 404 if it is not there. Needs the
    'write' scope (a member of the project or above), whoever calls: an API key, a web page."""
    actor.require_scope("write", "Scoring a trace")
    if session.get(Trace, (project_id, body.trace_id)) is None:
        raise NotFound(
            f"No trace {body.trace_id!r} in this project.",
            hint="Score a trace after its spans were ingested; your key sees only its own project.",
        )
    if body.span_id is not None:
        found = session.scalar(
            select(Span.id).where(Span.project_id == project_id, Span.trace_id == body.trace_id, Span.span_id == body.span_id)
        )
        if found is None:
            raise NotFound(f"No span {body.span_id!r} in trace {body.trace_id!r}.", hint="Check the span id, or omit it.")
    value = body.value
    score = Score(
        project_id=project_id,
        trace_id=body.trace_id,
        span_id=body.span_id,
        name=body.name,
        data_type=body.data_type,
        value=None if body.data_type == "categorical" else float(value),
        string_value=value if body.data_type == "categorical" else None,
        comment=body.comment,
        source=body.source,
        author=actor.label[:200],
        created_at=utcnow(),
    )
    session.add(score)
    session.flush()
    return score


def list_scores(
    session: Session,
    project_id: str,
    *,
    trace_id: str | None = None,
    name: str | None = None,
    source: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Score], str | None]:
    """Newest first, with a cursor for the next page."""
    query = select(Score).where(Score.project_id == project_id).order_by(Score.id.desc()).limit(limit + 1)
    if trace_id:
        query = query.where(Score.trace_id == trace_id.lower())
    if name:
        query = query.where(Score.name == name)
    if source:
        query = query.where(Score.source == source)
    before = decode_id_cursor("s", cursor)
    if before is not None:
        query = query.where(Score.id < before)
    rows = list(session.scalars(query))
    next_cursor = encode_id_cursor("s", rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def find_score(session: Session, project_id: str, score_id: int) -> Score:
    score = session.get(Score, score_id) if 0 < score_id <= MAX_ID else None
    if score is None or score.project_id != project_id:
        raise NotFound(f"No score {score_id}.", hint="List scores with GET /api/v1/scores.")
    return score


def delete_score(session: Session, actor: Actor, project_id: str, score_id: int) -> Score:
    """Delete one score of the project (audited)."""
    score = find_score(session, project_id, score_id)
    audit.record(session, actor, "score.delete", "score", str(score.id), project_id=project_id, before=audit.snapshot(score))
    session.delete(score)
    session.flush()
    return score
