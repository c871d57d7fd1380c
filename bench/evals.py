"""How close an eval run gets to ideal concurrency, and how fast the non-LLM scorers are.

1. Run throughput: 200 cases at concurrency 16 through the real runner and the real gateway path (in
   this process, as `stackwright evals run` does: target -> Gateway.chat -> provider -> HTTP), against
   tests/gateway/fake_upstream.py in its own process answering every call after 100 ms. Each case is
   scored (contains, similarity), committed as it completes (SQLite, group commit) and traced. The ideal
   time is cases x latency / concurrency = 200 x 0.1 s / 16 = 1.25 s; the figure is elapsed / ideal
   (target <= 1.3). A 20-case warm-up run first loads the imports and opens the connections. Elapsed
   covers the cases and the summary (bootstrap intervals), not the spec parsing.
2. Scorer throughput: each non-LLM scorer scores the same synthetic cases in a loop (cases/s). The
   embedding scorers include the local embedder (wordllama); groundedness embeds every sentence.

Compare ratios, not absolute times: the machines are small (2 cores) and noisy.
Usage: .venv/bin/python bench/evals.py [--cases 200] [--concurrency 16] [--latency-ms 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "gateway" / "fake_upstream.py"
TARGET_RATIO = 1.3


class Upstream:
    """The fake upstream in its own process, so it takes no CPU time from the runner's interpreter."""

    def __init__(self, latency_ms: float):
        argv = [sys.executable, str(FAKE), "--port", "0", "--record", "0", "--latency-ms", str(latency_ms)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"the fake upstream did not start: {line!r}")
        self.base_url = line

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def setup(home: Path, base_url: str):
    from stackwright.auth import service as auth_service
    from stackwright.auth.actors import cli_actor
    from stackwright.core.config import Settings
    from stackwright.gateway.service import apply_config
    from stackwright.server.app import create_app
    from stackwright.server.startup import prepare

    settings = Settings(home=home, database_url=f"sqlite:///{home / 'stackwright.db'}", log_format="text", log_level="warning")
    db, _ = prepare(settings)
    with db.write() as session:
        project_id = auth_service.find_project(session, "default").id
        config = {"models": [{"name": "fake-model", "deployments": [{"provider": "openai", "base_url": base_url, "model": "fake-model"}]}]}
        apply_config(session, settings, cli_actor(), project_id, config, {}, operator=True)
    return db, create_app(settings, db), project_id


def write_dataset(path: Path, cases: int) -> None:
    with path.open("w") as out:
        for i in range(cases):
            out.write(json.dumps({"input": {"question": f"question number {i}"}, "expected": f"number {i}"}) + "\n")


async def run_once(db, app, project_id: str, spec_path: Path, concurrency: int, name: str) -> tuple[float, dict]:
    from stackwright.evals.runner import prepare_run, run_cases
    from stackwright.evals.spec import load_file
    from stackwright.evals.targets import GatewayCaller
    from stackwright.evals.trust import CodePolicy

    spec = load_file(spec_path, CodePolicy.operator())  # the bench's own spec file: the operator's, like the CLI's
    spec.concurrency = concurrency
    prepared = await asyncio.to_thread(prepare_run, db, project_id, spec, name=name)
    caller = GatewayCaller(app.state.gateway, project_id)
    started = time.perf_counter()
    result = await run_cases(db, project_id, prepared.run_id, caller, policy=CodePolicy.operator())
    return time.perf_counter() - started, result


def first_error(db, project_id: str, run_id: str) -> str | None:
    from stackwright.evals import service

    with db.read() as session:
        return next((c["error"] for c in service.case_rows(session, run_id) if c["error"]), None)


def scorer_throughput(seconds: float = 1.0) -> list[tuple[str, float]]:
    from stackwright.evals.scorers import Case, build
    from stackwright.evals.spec import ScorerSpec
    from stackwright.evals.trust import CodePolicy

    context = {"context": ["Refunds are processed within five business days.", "Shipping is free above 50 euros."]}
    answer = "Refunds are processed within five business days. Shipping is free above 50 euros."
    specs = [
        ("exact", {"type": "exact"}, "Paris"), ("contains", {"type": "contains"}, "refunds"),
        ("regex", {"type": "regex", "pattern": r"\d+ days"}, "5 days"), ("json_valid", {"type": "json_valid"}, None),
        ("json_schema", {"type": "json_schema", "schema": {"type": "object", "required": ["answer"]}}, None),
        ("numeric", {"type": "numeric", "rel_tol": 0.01}, 12.0), ("similarity", {"type": "similarity"}, "Refunds take five days"),
        ("cost_max", {"type": "cost_max", "max_usd": 0.01}, None), ("latency_max", {"type": "latency_max", "max_ms": 500}, None),
        ("embedding_similarity", {"type": "embedding_similarity"}, "Refunds take five business days."),
        ("groundedness", {"type": "groundedness"}, None),
    ]  # fmt: skip
    outputs = {"json_valid": '{"answer": "yes", "n": 3}', "json_schema": '{"answer": "yes"}', "numeric": "It costs 12.05 euros",
               "groundedness": answer}  # fmt: skip
    figures = []
    for name, spec, expected in specs:
        scorer = build(ScorerSpec.model_validate(spec), CodePolicy.operator())
        cases = [Case(f"i{i}", context, expected, {}, output=outputs.get(name, f"Refunds take {i} days"), latency_ms=120.0, cost=0.001)
                 for i in range(256)]  # fmt: skip
        scorer.score(cases[0])  # warm-up (loads the embedder once)
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for case in cases:
                scorer.score(case)
            done += len(cases)
        figures.append((name, done / (time.perf_counter() - started)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3, help="timed runs; the median is reported")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sw-bench-evals-"))
    upstream = Upstream(args.latency_ms)
    try:
        db, app, project_id = setup(home, upstream.base_url)
        write_dataset(home / "cases.jsonl", args.cases)
        write_dataset(home / "warmup.jsonl", 20)
        spec = {"name": "bench", "dataset": "cases.jsonl", "target": {"model": "fake-model"}, "scorers": ["contains", "similarity"],
                "retries": 0, "timeout_s": 30}  # fmt: skip
        (home / "spec.yaml").write_text(json.dumps(spec))
        (home / "warmup.yaml").write_text(json.dumps({**spec, "dataset": "warmup.jsonl"}))
        ideal = args.cases * args.latency_ms / 1000 / args.concurrency
        times = asyncio.run(timed_rounds(db, app, project_id, home, args, ideal))
        median = statistics.median(times)
        print(f"\nrun: {args.cases} cases, concurrency {args.concurrency}, upstream latency {args.latency_ms:g} ms")
        print(f"ideal {ideal:.3f} s (cases x latency / concurrency); median elapsed {median:.3f} s; "
              f"ratio {median / ideal:.3f} (target <= {TARGET_RATIO}); best {min(times) / ideal:.3f}")  # fmt: skip
        print(f"throughput {args.cases / median:.1f} cases/s (ideal {args.cases / ideal:.1f})")
        print("\nscorer throughput (one thread, cases/s):")
        for name, rate in scorer_throughput():
            print(f"  {name:<22} {rate:>12,.0f}")
        asyncio.run(_close(app))
        db.dispose()
    finally:
        upstream.stop()
        shutil.rmtree(home, ignore_errors=True)


async def timed_rounds(db, app, project_id: str, home: Path, args: argparse.Namespace, ideal: float) -> list[float]:
    """Every run in one event loop, as in one `stackwright evals run` process."""
    times = []
    try:
        await run_once(db, app, project_id, home / "warmup.yaml", args.concurrency, "warmup")
        for round_no in range(args.rounds):
            elapsed, result = await run_once(db, app, project_id, home / "spec.yaml", args.concurrency, f"round-{round_no}")
            summary = result["summary"]
            complete = summary["cases"] == args.cases and summary["errors"] == 0
            times.append(elapsed)
            print(f"round {round_no + 1}: {elapsed:.3f} s for {summary['cases']} cases ({'ok' if complete else 'INCOMPLETE'}), "
                  f"ratio {elapsed / ideal:.3f}")  # fmt: skip
            if not complete:
                print(f"  {summary['errors']} case error(s), e.g. {first_error(db, project_id, result['id'])}")
    finally:
        await app.state.gateway.aclose()
    return times


async def _close(app) -> None:
    await app.state.limits.aclose()
    await app.state.span_writer.close()


if __name__ == "__main__":
    main()
