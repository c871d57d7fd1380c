"""Evaluation page times (part of bench/ui.py): one run's page with 1,000 cases (target p50 <= 150 ms) and the
comparison of two 1,000-case runs (<= 300 ms), signed in as a viewer, on a keep-alive connection.

Seeded through the API: a 1,000-item dataset, then two runs of it against the built-in `local/extractive` model
(the second with a 6-token limit, so outputs and scores differ), scored by `similarity` and `contains`. The run
page shows 50 cases and the summary of all 1,000 (stored when the run finished); the comparison pairs and tests
all 1,000 cases on every request.
Alone: cd bench && ../.venv/bin/python ui_evals.py [--runs 20]
"""

from __future__ import annotations

import json
import time

from ui_support import add_user, p50_ms, run_alone, sign_in, sign_in_form

EMAIL = "bench-evals@example.com"
CASES = 1000
DATASET = "bench-eval-cases"
TOPICS = ["refunds", "passwords", "shipping", "invoices", "accounts", "orders", "returns", "billing"]


def _items() -> str:
    lines = []
    for i in range(CASES):
        topic = TOPICS[i % len(TOPICS)]
        question = f"Question {i}: how do {topic} work for customer {i}? Context: {topic} are handled within {i % 30 + 1} days."
        lines.append(json.dumps({"input": question, "expected": f"{topic} are handled within {i % 30 + 1} days"}))
    return "\n".join(lines) + "\n"


def _run(server, name: str, params: dict) -> str:
    spec = {"name": "bench-eval", "dataset": DATASET, "target": {"model": "local/extractive", "params": params},
            "scorers": ["similarity", "contains"], "concurrency": 32, "retries": 0}  # fmt: skip
    response = server.client.post("/api/v1/evals/runs", json={"spec": spec, "name": name})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _wait(server, run_id: str, timeout_s: float = 900.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        run = server.client.get(f"/api/v1/evals/runs/{run_id}", params={"limit": 1}).json()
        if run["status"] != "running":
            summary = run["summary"] or {}
            assert run["status"] == "completed" and summary.get("errors") == 0, (run["status"], run["error"], run["cases"]["data"][:1])
            return
        assert time.monotonic() < deadline, f"run {run_id} did not finish: {run['completed_cases']} of {run['total_cases']}"
        time.sleep(0.5)


def seed(server) -> tuple[str, str]:
    """The dataset and two finished 1,000-case runs; their ids."""
    started = time.perf_counter()
    assert server.client.post("/api/v1/datasets", json={"name": DATASET}).status_code in (200, 201)
    imported = server.client.post(f"/api/v1/datasets/{DATASET}/import", content=_items(), headers={"content-type": "application/x-ndjson"})
    assert imported.is_success, imported.text
    a = _run(server, "bench-eval-a", {"temperature": 0})
    _wait(server, a)
    b = _run(server, "bench-eval-b", {"temperature": 0, "max_tokens": 6})
    _wait(server, b)
    print(f"seeded two {CASES:,}-case eval runs in {time.perf_counter() - started:.0f} s")
    return a, b


def figures(server, runs: int) -> list[tuple[str, float, int]]:
    a, b = seed(server)
    add_user(server, EMAIL)
    browser = sign_in(sign_in_form(server.url, EMAIL))

    def page(url: str, **params: str) -> None:
        response = browser.get(url, params=params)
        assert response.status_code == 200 and "<h1>" in response.text, (url, response.status_code, response.text[:300])

    page(f"/ui/evals/compare?a={a}&b={b}")  # scipy's first import is not a page's time
    out = [
        ("eval run page, 1,000 cases", p50_ms(lambda _: page(f"/ui/evals/{a}"), runs), 150),
        ("eval compare, 2 x 1,000 cases", p50_ms(lambda _: page("/ui/evals/compare", a=a, b=b), runs), 300),
    ]
    browser.close()
    return out


if __name__ == "__main__":
    run_alone(figures, __doc__)
