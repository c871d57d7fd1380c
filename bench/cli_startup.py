"""How fast Stackwright starts: `stackwright --help`, `stackwright eval run` of a one-case spec (target
local/extractive, scorer contains) from launch to exit, and `stackwright serve` from launch to /readyz = 200.

Prints each figure with its target and its ratio to a baseline measured in the same run:
bare `python -c pass` for `--help`, `stackwright --help` for `eval run`, and `python -m http.server`
(start to first answer) for the server.
Usage: .venv/bin/python bench/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
STACKWRIGHT = str(BIN / "stackwright")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_command(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_to_ready(argv: list[str], url: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 60:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"{argv[0]} did not answer {url} within 60 s")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


ONE_CASE_SPEC = """name: startup
dataset: cases.jsonl
target:
  model: local/extractive
scorers:
  - contains
"""
ONE_CASE = '{"input": {"question": "How long do refunds take?", "context": "Refunds take 5 days."}, "expected": "5 days"}\n'


def time_eval_run(env: dict[str, str], runs: int) -> float:
    """`stackwright eval run` of a one-case spec in a fresh, initialised home (median of ``runs``)."""
    with tempfile.TemporaryDirectory() as home:
        folder = Path(home)
        (folder / "spec.yaml").write_text(ONE_CASE_SPEC, encoding="utf-8")
        (folder / "cases.jsonl").write_text(ONE_CASE, encoding="utf-8")
        run_env = {**env, "STACKWRIGHT_HOME": str(folder / "home")}
        subprocess.run([STACKWRIGHT, "init"], env=run_env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([STACKWRIGHT, "eval", "run", "spec.yaml"], env=run_env, cwd=folder, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    base_cli = time_command([sys.executable, "-c", "pass"], args.runs)
    help_time = time_command([STACKWRIGHT, "--help"], args.runs)

    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKWRIGHT_")}
    eval_time = time_eval_run(env, args.runs)
    fresh, warm, baseline = [], [], []
    for _ in range(max(3, args.runs // 2)):
        with tempfile.TemporaryDirectory() as home:
            port = free_port()
            run_env = {**env, "STACKWRIGHT_HOME": home, "STACKWRIGHT_PORT": str(port)}
            argv = [STACKWRIGHT, "serve"]
            fresh.append(time_to_ready(argv, f"http://127.0.0.1:{port}/readyz", run_env))
            warm.append(time_to_ready(argv, f"http://127.0.0.1:{port}/readyz", run_env))
            port = free_port()
            baseline.append(
                time_to_ready(
                    [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", home],
                    f"http://127.0.0.1:{port}/",
                    env,
                )
            )
    base_server = statistics.median(baseline)

    rows = [
        ("stackwright --help", help_time, 0.5, base_cli, "python -c pass"),
        ("eval run, one case (extractive)", eval_time, 1.5, help_time, "stackwright --help"),
        ("serve, first start -> ready", statistics.median(fresh), 1.5, base_server, "python -m http.server"),
        ("serve, later start -> ready", statistics.median(warm), 1.5, base_server, "python -m http.server"),
    ]
    print(f"{'measure':32} {'median s':>9} {'target s':>9} {'ok':>4} {'baseline s':>11} {'ratio':>7}  baseline")
    for name, value, target, base, base_name in rows:
        ok = "yes" if value <= target else "NO"
        print(f"{name:32} {value:9.3f} {target:9.2f} {ok:>4} {base:11.3f} {value / base:7.1f}x  {base_name}")


if __name__ == "__main__":
    main()
