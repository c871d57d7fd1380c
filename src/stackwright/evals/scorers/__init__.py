"""Scorers: plugins in the ``stackwright.scorers`` registry. A plugin is a factory ``factory(params) ->
scorer``; the scorer has ``score(case) -> Score`` (sync, cheap) or ``async ascore(case, ctx) -> Score``
(it calls models through ``ctx``). A factory raises ``ValueError`` for bad parameters: the spec loader
reports it with the file and line of the scorer.

A scorer that cannot score returns ``Score.unmeasured(reason)``: value None, never NaN. Aggregates
exclude unmeasured cases and count them.

A factory that imports code the spec names (the ``python`` scorer) sets ``loads_code = True`` and takes
``policy=``, the spec's ``evals.trust.CodePolicy``, which it asks before importing anything.

Built-ins are registered the way outside packages are (``[project.entry-points."stackwright.scorers"]``);
``ensure_builtins`` registers them at run time too, for installs whose metadata predates them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, overload

from stackwright.evals.trust import CodePolicy

BUILTINS = {
    "exact": "stackwright.evals.scorers.text:Exact",
    "contains": "stackwright.evals.scorers.text:Contains",
    "regex": "stackwright.evals.scorers.text:Regex",
    "json_valid": "stackwright.evals.scorers.text:JsonValid",
    "json_schema": "stackwright.evals.scorers.text:JsonSchema",
    "numeric": "stackwright.evals.scorers.text:Numeric",
    "similarity": "stackwright.evals.scorers.text:Similarity",
    "cost_max": "stackwright.evals.scorers.text:CostMax",
    "latency_max": "stackwright.evals.scorers.text:LatencyMax",
    "python": "stackwright.evals.scorers.text:PythonScorer",
    "embedding_similarity": "stackwright.evals.scorers.semantic:EmbeddingSimilarity",
    "groundedness": "stackwright.evals.scorers.semantic:Groundedness",
    "retrieval": "stackwright.evals.scorers.semantic:Retrieval",
    "llm_judge": "stackwright.evals.scorers.judge:LLMJudge",
}


@dataclass
class Score:
    value: float | None
    passed: bool | None = None
    reason: str | None = None
    details: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.value is not None:
            value = float(self.value)
            if math.isnan(value) or math.isinf(value):
                self.value, self.passed = None, None
                self.reason = f"the scorer produced {value}, which is not a score"
            else:
                self.value = value

    @classmethod
    def unmeasured(cls, reason: str, details: dict[str, Any] | None = None) -> Score:
        return cls(None, None, reason, details)

    @classmethod
    def of_bool(cls, ok: bool, reason: str | None = None, details: dict[str, Any] | None = None) -> Score:
        return cls(1.0 if ok else 0.0, bool(ok), reason, details)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("value", "passed")}


@dataclass
class Case:
    """What a scorer sees of one case."""

    item_id: str
    input: Any
    expected: Any
    metadata: dict[str, Any]
    output: Any = None
    error: str | None = None
    latency_ms: float | None = None
    cost: float | None = None
    trace_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def output_text(value: Any) -> str:
    """Text of an output: strings as they are, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    import orjson

    return orjson.dumps(value).decode()


def ensure_builtins() -> None:
    from importlib import import_module

    from stackwright.core.plugins import scorers

    known = set(scorers.names())
    for name, target in BUILTINS.items():
        if name not in known:
            module, _, attr = target.partition(":")
            scorers.register(name, getattr(import_module(module), attr), source="built-in")


def build(spec_scorer: Any, policy: CodePolicy) -> Any:
    """The scorer instance for one spec entry; ValueError for bad parameters, NotFound for unknown types,
    Forbidden when it names code ``policy`` (a ``CodePolicy``) does not allow."""
    from stackwright.core.plugins import scorers

    ensure_builtins()
    factory = scorers.get(spec_scorer.type)
    scorer = factory(spec_scorer.params, policy=policy) if getattr(factory, "loads_code", False) else factory(spec_scorer.params)
    scorer.name = spec_scorer.key
    return scorer


def build_all(spec: Any) -> dict[str, Any]:
    """Every scorer of a spec, by name, under the spec's code policy; a SpecError (file and line) for the first bad one."""
    from stackwright.core.errors import NotFound
    from stackwright.core.plugins import scorers

    built: dict[str, Any] = {}
    for index, entry in enumerate(spec.scorers):
        try:
            built[entry.key] = build(entry, spec.policy)
        except NotFound:
            known = ", ".join(scorers.names())
            raise spec.error(("scorers", index, "type"), f"unknown scorer {entry.type!r}.", hint=f"Known scorers: {known}.") from None
        except (ValueError, TypeError) as exc:
            raise spec.error(("scorers", index), f"{entry.type}: {exc}") from None
    return built


def is_async(scorer: Any) -> bool:
    return hasattr(scorer, "ascore")


def check_params(params: dict[str, Any], allowed: set[str], scorer: str) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"unknown parameter {', '.join(map(repr, unknown))}; {scorer} takes {', '.join(sorted(allowed)) or 'none'}")


@overload
def number(params: dict[str, Any], key: str, default: float, *, low: float | None = None, high: float | None = None) -> float: ...


@overload
def number(params: dict[str, Any], key: str, default: None, *, low: float | None = None, high: float | None = None) -> float | None: ...


def number(params: dict[str, Any], key: str, default: float | None, *, low: float | None = None, high: float | None = None) -> float | None:
    """The number ``params[key]`` holds, or ``default`` when it is missing or null."""
    value = params.get(key)
    if value is None:
        value = default
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number, not {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{key} must be between {low} and {high}, not {value}")
    return float(value)
