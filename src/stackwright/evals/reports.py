"""Reports of a finished run for CI: Markdown (a PR comment) and JUnit XML (one testcase per gate check and
per scorer; a scorer's testcase fails when a gate on it failed or it measured no case)."""

from __future__ import annotations

from typing import Any


def _f(value: Any) -> str:
    return "n/a" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))


def markdown(run: dict[str, Any]) -> str:
    summary = run.get("summary") or {}
    gates = summary.get("gates") or []
    verdict = "passed" if summary.get("passed", True) else "FAILED"
    lines = [
        f"## Eval {run['name']}: {verdict}",
        "",
        f"Run `{run['id']}` of spec `{run['spec_name']}` on dataset `{run['dataset']}`: {summary.get('cases', 0)} cases, "
        f"{summary.get('errors', 0)} errors, cost {_f(summary.get('cost_usd'))} USD, p50 latency {_f((summary.get('latency_ms') or {}).get('p50'))} ms.",
        "",
        "| scorer | mean | 95% CI | pass rate | measured | unmeasured |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in (summary.get("scorers") or {}).items():
        ci = f"{_f(s.get('ci_low'))} – {_f(s.get('ci_high'))}" if s.get("mean") is not None else "n/a"
        lines.append(f"| {name} | {_f(s.get('mean'))} | {ci} | {_f(s.get('pass_rate'))} | {s.get('measured', 0)} | {s.get('unmeasured', 0)} |")
    if gates:
        lines += ["", "| gate | result | detail |", "|---|---|---|"]
        lines += [f"| {g['name']} | {'pass' if g['passed'] else '**fail**'} | {g['message']} |" for g in gates]
    return "\n".join(lines) + "\n"


def junit_xml(run: dict[str, Any]) -> str:
    import xml.etree.ElementTree as ET

    summary = run.get("summary") or {}
    gates = summary.get("gates") or []
    scorers = summary.get("scorers") or {}
    suite = ET.Element("testsuite", name=f"stackwright evals {run['name']}")
    failures = 0
    for gate in gates:
        case = ET.SubElement(suite, "testcase", classname=f"eval.{run['spec_name']}.gate", name=gate["name"])
        if not gate["passed"]:
            failures += 1
            ET.SubElement(case, "failure", message=gate["message"], type="GateFailed").text = gate["message"]
        else:
            ET.SubElement(case, "system-out").text = gate["message"]
    for name, s in scorers.items():
        case = ET.SubElement(suite, "testcase", classname=f"eval.{run['spec_name']}.scorer", name=name)
        own = [g for g in gates if not g["passed"] and g["name"].split(".")[0] == name]
        text = (f"mean {_f(s.get('mean'))} (95% CI {_f(s.get('ci_low'))} – {_f(s.get('ci_high'))}), pass rate {_f(s.get('pass_rate'))}, "
                f"measured {s.get('measured', 0)}, unmeasured {s.get('unmeasured', 0)}")  # fmt: skip
        if own or not s.get("measured"):
            failures += 1
            message = "; ".join(g["message"] for g in own) or f"{name}: no case was measured"
            ET.SubElement(case, "failure", message=message, type="ScorerFailed").text = text
        else:
            ET.SubElement(case, "system-out").text = text
    suite.set("tests", str(len(gates) + len(scorers)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
