"""Guardrails: detection quality on labelled sets, and the latency of the non-LLM checks.

1. PII: bench/data/guardrails/pii_labelled.jsonl (entities by kind and value; benign texts that
   look like PII: order numbers, dates, versions, prices, cards and IBANs failing their checksums).
   A finding counts when its kind and text equal a labelled entity. Precision and recall per kind and
   overall (micro).
2. Prompt injection: bench/data/guardrails/injection_labelled.jsonl (attacks written apart from
   the attack corpus; benign look-alikes such as "ignore the previous email"). Precision and recall of the
   prompt_injection check with its defaults (patterns + embedding), and of each layer alone. The patterns
   were revised after reading this set's errors, so its figures flatter them; injection_heldout.jsonl
   (written afterwards, never tuned on) gives the honest figure. The later patterns (EXTRA, other
   languages, de-obfuscation in injection.py) were written by attack category and checked only on
   injection_dev.jsonl: 164 attacks and 180 benign support questions and look-alikes, written by hand for
   it in seven categories (override, role-play, extraction, delimiter, indirect, obfuscation, other
   languages), without reading either bench set; the held-out set was only ever run through this bench.
   The same file (plus every other help-center paragraph as benign text) trains the lexical model
   (python -m stackwright.guardrails.injection train bench/data/guardrails/injection_dev.jsonl ->
   src/stackwright/guardrails/data/injection_lexical.npy); injection_dev_test.jsonl
   (47 attacks, 30 benign, written later the same way) was never trained on.
3. Latency: every non-LLM check (pii, secrets, prompt_injection, banned_topics, length, canary,
   json_schema, groundedness) run one after the other on the same 1 KB input, p50 and p99 per round
   (target p50 <= 2 ms). The sentence embeddings are cached per text, so the embedding checks of one
   request embed it once; the cache is cleared between rounds (each round is a new request, its text and
   context embedded afresh). The tokenizer keeps the ids of the words it has seen (as any BPE word cache
   does), so a second figure clears that too each round: every word of the request tokenized cold.
   Baseline: one pass of a single compiled regex over the same input, in the same run.

Compare ratios, not absolute times: the machines are small (2 cores) and noisy. No asserts.
Usage: .venv/bin/python bench/guardrails.py [--rounds 500]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

LABEL_SETS = Path(__file__).resolve().parent / "data" / "guardrails"  # in the repository, not in the wheel


def _rows(name: str) -> list[dict]:
    text = (LABEL_SETS / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _pr(tp: int, fp: int, fn: int) -> tuple[float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def bench_pii() -> None:
    from stackwright.datasets.pii import detect

    rows = _rows("pii_labelled.jsonl")
    counts: dict[str, list[int]] = {}
    for row in rows:
        truth = {(e["kind"], e["value"]) for e in row["entities"]}
        found = {(f.kind, f.text) for f in detect(row["text"])}
        for kind, _ in truth | found:
            counts.setdefault(kind, [0, 0, 0])
        for item in found & truth:
            counts[item[0]][0] += 1
        for item in found - truth:
            counts[item[0]][1] += 1
        for item in truth - found:
            counts[item[0]][2] += 1
    benign = sum(1 for r in rows if not r["entities"])
    print(f"PII: {len(rows)} texts ({benign} without PII)")
    print(f"  {'kind':<12} {'precision':>9} {'recall':>7}   tp  fp  fn")
    for kind in sorted(counts):
        tp, fp, fn = counts[kind]
        p, r = _pr(tp, fp, fn)
        print(f"  {kind:<12} {p:9.3f} {r:7.3f} {tp:4d} {fp:3d} {fn:3d}")
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    p, r = _pr(tp, fp, fn)
    print(f"  {'overall':<12} {p:9.3f} {r:7.3f} {tp:4d} {fp:3d} {fn:3d}")


def bench_injection(dataset: str = "injection_labelled.jsonl") -> None:
    from stackwright.guardrails.checks import Context
    from stackwright.guardrails.injection import (
        PromptInjection,
        heuristic_score,
        similarity_score,
    )

    rows = _rows(dataset)
    check = PromptInjection({})
    ctx = Context()
    layers = {
        "prompt_injection (defaults)": lambda t: check.run(t, ctx).triggered,
        "  patterns only": lambda t: heuristic_score(t)[0] >= check.threshold,
        "  embedding only": lambda t: similarity_score(t, check.low, check.high)[0] >= check.threshold,
    }
    attacks = sum(r["label"] for r in rows)
    print(f"\nPrompt injection, {dataset}: {len(rows)} texts ({attacks} attacks, {len(rows) - attacks} benign)")
    print(f"  {'detector':<28} {'precision':>9} {'recall':>7}   tp  fp  fn")
    for name, predict in layers.items():
        tp = fp = fn = 0
        for row in rows:
            hit = predict(row["text"])
            tp += hit and row["label"] == 1
            fp += hit and row["label"] == 0
            fn += (not hit) and row["label"] == 1
        p, r = _pr(tp, fp, fn)
        print(f"  {name:<28} {p:9.3f} {r:7.3f} {tp:4d} {fp:3d} {fn:3d}")


SAMPLE = (
    "Hi, I ordered a standing desk last week (order 48213, placed 2024-05-02) and the left leg arrived bent. "
    "The courier left it at the door and the box was wet. I would like a replacement rather than a refund, "
    "if that is possible. The desk is the 140 cm oak model, version 2.1 of the frame. My partner already "
    "assembled half of it before we noticed the problem, so we would need the whole leg assembly, not just "
    "the foot. Could you also tell me whether the warranty covers the motor? It makes a clicking sound when "
    "it goes up. We paid 549.00 EUR in total. I can send photos of the damage and of the label on the box. "
    "Please let me know what the next steps are and how long a replacement usually takes to arrive; we are "
    "moving house at the end of the month, so timing matters. Thank you for your help, and sorry for the "
    "long message. Best regards from the second floor flat."
)


def bench_latency(rounds: int) -> None:
    from stackwright.guardrails.checks import Context, build
    from stackwright.guardrails.semantic import embed_sentences
    from stackwright.local.embedder import clear_token_cache

    text = (SAMPLE * 2)[:1024]
    specs = {
        "pii": ({}, "input"),
        "secrets": ({}, "input"),
        "prompt_injection": ({}, "input"),
        "banned_topics": ({"topics": ["medical advice", "politics and elections"]}, "input"),
        "length": ({"max_chars": 4000}, "input"),
        "canary": ({"token": "CANARY-0123456789AB"}, "output"),
        "json_schema": ({"schema": {"type": "object"}}, "output"),
        "groundedness": ({}, "output"),
    }
    built = [(name, build(name, params), Context(direction=direction, context=SAMPLE)) for name, (params, direction) in specs.items()]
    baseline = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}|\b\d{3}-\d{2}-\d{4}\b|ignore (?:all )?previous")
    for _ in range(20):  # warm-up: model load, caches
        for _, check, ctx in built:
            check.run(text, ctx)
    totals, cold, regex, per_check = [], [], [], {name: [] for name in specs}
    for _ in range(rounds):
        embed_sentences.cache_clear()  # each round is a new request: its text is embedded afresh
        start = time.perf_counter_ns()
        for name, check, ctx in built:
            t0 = time.perf_counter_ns()
            check.run(text, ctx)
            per_check[name].append(time.perf_counter_ns() - t0)
        totals.append(time.perf_counter_ns() - start)
        embed_sentences.cache_clear()
        clear_token_cache()  # the same request with no word seen before
        start = time.perf_counter_ns()
        for _, check, ctx in built:
            check.run(text, ctx)
        cold.append(time.perf_counter_ns() - start)
        t0 = time.perf_counter_ns()
        baseline.findall(text)
        regex.append(time.perf_counter_ns() - t0)

    def pct(values: list[int], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    print(f"\nLatency on a {len(text)}-character input, {rounds} rounds")
    for name, values in per_check.items():
        print(f"  {name:<17} p50 {pct(values, 0.5):7.3f} ms")
    p50, p99 = pct(totals, 0.5), pct(totals, 0.99)
    b50, b99 = pct(regex, 0.5), pct(regex, 0.99)
    print(f"  all checks        p50 {p50:7.3f} ms  p99 {p99:7.3f} ms   (target p50 <= 2 ms)")
    print(f"  all, cold tokens  p50 {pct(cold, 0.5):7.3f} ms  p99 {pct(cold, 0.99):7.3f} ms   (no word's token ids cached)")
    print(f"  baseline regex    p50 {b50:7.3f} ms  p99 {b99:7.3f} ms")
    print(f"  ratio all/baseline p50 {p50 / b50 if b50 else float('inf'):.1f}x  (median {statistics.median(totals) / 1e6:.3f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    bench_pii()
    bench_injection()
    bench_injection("injection_heldout.jsonl")
    bench_latency(args.rounds)


if __name__ == "__main__":
    main()
