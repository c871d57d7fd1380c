"""The stats overview: per-bucket and per-group rows from one read, equal to what `compute_stats` gives for each
view on its own (without scores), on SQLite and Postgres."""

from __future__ import annotations

import httpx
import pytest

from stackwright.auth import service
from stackwright.core.errors import InvalidInput
from stackwright.tracing.admin import stats
from tests.tracing.test_stats_scores import seed


def _without_scores(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "scores"} for row in rows]


@pytest.mark.parametrize("group_by", ["model", "environment", "user_id"])
def test_the_overview_equals_the_two_views_computed_apart(api: httpx.Client, prepared, group_by: str) -> None:
    traces = seed(api)
    start = min(t["start_ns"] for t in traces)
    with prepared.read() as session:
        project_id = service.find_project(session, "default").id
        q = stats.StatsQuery(group_by=group_by, bucket="2m", start_ns=start, end_ns=start + 10 * 60 * 10**9)
        overview = stats.compute_overview(session, project_id, q)
        over_time = stats.compute_stats(session, project_id, stats.StatsQuery(bucket="2m", start_ns=q.start_ns, end_ns=q.end_ns))
        by_group = stats.compute_stats(
            session, project_id, stats.StatsQuery(group_by=group_by, start_ns=q.start_ns, end_ns=q.end_ns)
        )
    assert len(overview["over_time"]) > 1 and sum(r["count"] for r in overview["over_time"]) == 36
    for got, want in ((overview["over_time"], over_time["data"]), (overview["by_group"], by_group["data"])):
        assert [r["bucket_start_ns"] for r in got] == [r["bucket_start_ns"] for r in want]
        for mine, theirs in zip(_without_scores(got), _without_scores(want), strict=True):
            assert mine.keys() == theirs.keys()
            for key, value in theirs.items():
                assert mine[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_the_overview_needs_a_group_and_a_bucket(prepared) -> None:
    with prepared.read() as session, pytest.raises(InvalidInput, match="needs both"):
        stats.compute_overview(session, "prj_x", stats.StatsQuery(group_by="model"))
