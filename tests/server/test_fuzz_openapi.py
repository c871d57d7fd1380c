"""Schemathesis over the app's own /openapi.json: random valid and invalid requests to every operation.

No answer may be a 5xx, and every 4xx must carry the one documented error shape. The number of examples
per operation is bounded (FUZZ_EXAMPLES) so the suite stays fast; run with a larger
``FUZZ_EXAMPLES`` to search harder. Runs on SQLite and Postgres, in process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.conftest import TEST_API_KEY

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
# Operations whose answer is not JSON by design, or that would end the test's own access.
SKIP = {
    ("DELETE", "/api/v1/keys/{key_id}"),  # could revoke the key the fuzzer itself uses
    ("PATCH", "/api/v1/keys/{key_id}"),
}


@pytest.fixture
def fuzz_client(app) -> Iterator[httpx.Client]:
    from stackwright.sdk.transport import InProcessTransport

    transport = InProcessTransport(app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    with httpx.Client(transport=transport, base_url="http://stackwright.test", headers=headers, timeout=30) as client:
        yield client


def _operations(app) -> list[Any]:
    import schemathesis

    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIP:
            operations.append(operation)
    return operations


def _send(client: httpx.Client, case: Any) -> httpx.Response:
    headers = {k: str(v) for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    kwargs: dict[str, Any] = {"params": case.query or None, "headers": headers}
    if case.body is not None and not _is_not_set(case.body):
        media = case.media_type or "application/json"
        if "json" in media:
            kwargs["json"] = case.body
        elif isinstance(case.body, (bytes, str)):
            kwargs["content"] = case.body
            headers["content-type"] = media
        else:
            kwargs["json"] = case.body
    return client.request(case.method.upper(), case.formatted_path, **kwargs)


def _is_not_set(value: Any) -> bool:
    return type(value).__name__ == "NotSet"


def _problem(response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            return f"{response.status_code} without a JSON body: {response.text[:200]}"
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not error.get("message") or not ({"code", "message"} <= set(error)):
            return f"{response.status_code} not in the error shape: {response.text[:200]}"
    return None


def test_no_5xx_and_one_error_shape(app, fuzz_client: httpx.Client) -> None:
    from schemathesis import GenerationMode

    problems: list[str] = []
    operations = _operations(app)
    assert len(operations) > 50  # the whole API is in the schema
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                try:
                    response = _send(fuzz_client, case)
                except (httpx.InvalidURL, UnicodeEncodeError, ValueError, TypeError):
                    return  # the client cannot even express this request
                problem = _problem(response)
                if problem:
                    problems.append(f"{case.method} {case.formatted_path} ({mode.value}): {problem}")

            try:
                check()
            except Unsatisfiable:
                pass
    assert not problems, "\n".join(sorted(set(problems))[:40])
