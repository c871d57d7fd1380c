"""``client.traces`` and ``client.scores``: list, read and delete traces, their stats, and scores, written once for
``Client`` and ``AsyncClient`` (await the calls on the latter; ``iter`` is then an async iterator).

    page = client.traces.list(route="support.answer", status="error", limit=20)   # a Page, newest first
    for trace in client.traces.iter(model="gpt-4o-mini", min_cost=0.01):         # every match, page by page
        ...
    trace = client.traces.get(trace_id)            # summary, span tree, scores
    answers = client.traces.explain(trace_id)      # the eight answers for that request
    client.traces.stats(group_by="model")          # count, errors, latency percentiles, tokens, cost, scores
    client.scores.create(trace_id, "helpful", True, comment="resolved")
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from stackwright.sdk.base import Call, compact, parse_page
from stackwright.sdk.resources import Resource, _path

Time = datetime | str | int | None


class Traces(Resource):
    """Traces of the key's project (read scope; ``delete_user`` needs admin)."""

    def list(self, *, limit: int = 50, cursor: str | None = None, **filters: Any) -> Any:
        """One ``Page`` of trace summaries; pass its ``next_cursor`` as ``cursor`` for the next one.

        Filters (all optional, as GET /api/v1/traces takes them): start, end (ISO 8601, a datetime or UNIX
        nanoseconds), name, status ("ok"/"error"), model, prompt_name, prompt_version, route, environment,
        user_id, session_id, min_cost, min_duration_ms, q (text in the input or output), sort
        (start_time, duration or cost; "-" first for descending; default -start_time).
        """
        return self._run(self._page_call(limit, filters)(cursor))

    def iter(self, *, limit: int = 50, **filters: Any) -> Any:
        """Every matching trace, fetching pages of ``limit`` as needed (an iterator; async iterator on AsyncClient)."""
        return self._client._paginate(self._page_call(limit, filters))

    def get(self, trace_id: str, *, max_spans: int | None = None) -> Any:
        """One trace: its summary, its span tree (pre-order, without bodies) and its scores."""
        return self._run(Call("GET", _path("traces", trace_id), params=compact({"max_spans": max_spans})))

    def span(self, trace_id: str, span_id: str) -> Any:
        """One span with its body: input, output, attributes, events, documents."""
        return self._run(Call("GET", f"{_path('traces', trace_id)}/spans/{quote(span_id, safe='')}"))

    def explain(self, trace_id: str) -> Any:
        """The eight answers for one request, read from stored data: a dict with answer, trace_id, prompt_version,
        model, context, failure, eval_delta, cost_usd, slowest_step and rollback (as `stackwright traces explain --json`)."""
        return self._run(Call("GET", f"{_path('traces', trace_id)}/explain"))

    def stats(
        self, *, start: Time = None, end: Time = None, model: str | None = None, route: str | None = None,
        environment: str | None = None, prompt_name: str | None = None, prompt_version: str | None = None,
        status: str | None = None, group_by: str = "none", bucket: str | None = None,
    ) -> Any:  # fmt: skip
        """Count, errors, latency percentiles, tokens, cost and score means; ``group_by`` one of none, model,
        route, prompt_version, environment, span_name; ``bucket`` a time width (1m, 5m, 1h, 1d, ...)."""
        params = compact({"start": start, "end": end, "model": model, "route": route, "environment": environment,
                          "prompt_name": prompt_name, "prompt_version": prompt_version, "status": status,
                          "group_by": group_by, "bucket": bucket})  # fmt: skip
        return self._run(Call("GET", _path("traces") + "/stats", params=params))

    def delete_user(self, user_id: str) -> Any:
        """Privacy request: delete every trace of one end user (admin scope; audited). Returns the counts."""
        return self._run(Call("DELETE", _path("traces"), params={"user_id": user_id}))

    @staticmethod
    def _page_call(limit: int, filters: dict[str, Any]) -> Callable[[str | None], Call]:
        def page_call(cursor: str | None) -> Call:
            params = compact({**filters, "limit": limit, "cursor": cursor})
            return Call("GET", _path("traces"), params=params, parse=parse_page)

        return page_call


class Scores(Resource):
    """Scores on traces and spans (reading needs read scope, creating and deleting write)."""

    def create(
        self, trace_id: str, name: str, value: bool | float | str, *, span_id: str | None = None,
        data_type: str | None = None, comment: str | None = None, source: str | None = None,
    ) -> Any:  # fmt: skip
        """Score a trace (or one of its spans): ``value`` a number, a boolean or a category label.
        ``data_type`` (numeric, boolean, categorical) is inferred when omitted; ``source`` defaults to api."""
        body = compact({"trace_id": trace_id, "span_id": span_id, "name": name, "value": value, "data_type": data_type,
                        "comment": comment, "source": source})  # fmt: skip
        return self._run(Call("POST", _path("scores"), body=body))

    def list(
        self, *, trace_id: str | None = None, name: str | None = None, source: str | None = None, limit: int = 50,
        cursor: str | None = None,
    ) -> Any:  # fmt: skip
        """One ``Page`` of scores, newest first."""
        return self._run(self._page_call(trace_id, name, source, limit)(cursor))

    def iter(self, *, trace_id: str | None = None, name: str | None = None, source: str | None = None, limit: int = 50) -> Any:
        """Every matching score (an iterator; async iterator on AsyncClient)."""
        return self._client._paginate(self._page_call(trace_id, name, source, limit))

    def delete(self, score_id: int) -> Any:
        """Delete a score (audited); returns None."""
        return self._run(Call("DELETE", _path("scores", str(score_id))))

    @staticmethod
    def _page_call(trace_id: str | None, name: str | None, source: str | None, limit: int) -> Callable[[str | None], Call]:
        def page_call(cursor: str | None) -> Call:
            params = compact({"trace_id": trace_id, "name": name, "source": source, "limit": limit, "cursor": cursor})
            return Call("GET", _path("scores"), params=params, parse=parse_page)

        return page_call
