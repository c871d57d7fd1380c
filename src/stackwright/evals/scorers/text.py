"""Built-in scorers that need no model: exact, contains, regex, json_valid, json_schema, numeric,
similarity (rapidfuzz), cost_max, latency_max and custom Python functions."""

from __future__ import annotations

import inspect
import re
from typing import Any

import orjson

from stackwright.evals.scorers import Case, Score, check_params, number, output_text
from stackwright.evals.trust import CodePolicy

NUMBER_RE = re.compile(r"[-+]?(?:\d+(?:[.,]\d+)*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def _expected_texts(case: Case) -> list[str] | None:
    expected = case.expected
    if expected is None:
        return None
    if isinstance(expected, list):
        return [output_text(e) for e in expected]
    return [output_text(expected)]


class _Base:
    name = ""
    params: set[str] = set()

    def __init__(self, params: dict[str, Any]):
        check_params(params, self.params, type(self).__name__.lower())
        self.config = params


class Exact(_Base):
    """The output equals the expected value (text: trimmed; ``case_sensitive`` default true)."""

    params = {"case_sensitive"}

    def score(self, case: Case) -> Score:
        if case.expected is None:
            return Score.unmeasured("the case has no expected value")
        if not isinstance(case.expected, str) and not isinstance(case.output, str):
            return Score.of_bool(case.output == case.expected)
        got, want = output_text(case.output).strip(), output_text(case.expected).strip()
        if not self.config.get("case_sensitive", True):
            got, want = got.casefold(), want.casefold()
        return Score.of_bool(got == want)


class Contains(_Base):
    """The expected text (or each of a list) appears in the output; value = share found."""

    params = {"case_sensitive", "value"}

    def score(self, case: Case) -> Score:
        wanted = [output_text(v) for v in self.config["value"]] if isinstance(self.config.get("value"), list) else (
            [str(self.config["value"])] if "value" in self.config else _expected_texts(case))  # fmt: skip
        if not wanted:
            return Score.unmeasured("the case has no expected text (and the scorer no `value`)")
        text = output_text(case.output)
        if not self.config.get("case_sensitive", False):
            text, wanted = text.casefold(), [w.casefold() for w in wanted]
        missing = [w for w in wanted if w not in text]
        details = {"missing": missing} if missing else None
        return Score(1 - len(missing) / len(wanted), not missing, None, details)


class Regex(_Base):
    """The output matches ``pattern`` (searched anywhere; default: the expected value as a pattern)."""

    params = {"pattern", "flags"}

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        flags = 0
        for flag in params.get("flags", "") or "":
            if flag not in "imsx":
                raise ValueError(f"flags may hold i, m, s and x, not {flag!r}")
            flags |= getattr(re, flag.upper())
        self.flags = flags
        self.pattern = None
        if "pattern" in params:
            try:
                self.pattern = re.compile(str(params["pattern"]), flags)
            except re.error as exc:
                raise ValueError(f"pattern {params['pattern']!r} is not a valid regular expression: {exc}") from None

    def score(self, case: Case) -> Score:
        pattern = self.pattern
        if pattern is None:
            if not isinstance(case.expected, str):
                return Score.unmeasured("no `pattern` given and the case's expected value is not a pattern")
            try:
                pattern = re.compile(case.expected, self.flags)
            except re.error as exc:
                return Score.unmeasured(f"the expected value is not a valid regular expression: {exc}")
        return Score.of_bool(pattern.search(output_text(case.output)) is not None)


def _parsed(output: Any) -> tuple[bool, Any, str | None]:
    if isinstance(output, (dict, list)):
        return True, output, None
    try:
        return True, orjson.loads(output_text(output).strip()), None
    except orjson.JSONDecodeError as exc:
        return False, None, f"not JSON: {exc}"


class JsonValid(_Base):
    """The output is JSON."""

    def score(self, case: Case) -> Score:
        ok, _, problem = _parsed(case.output)
        return Score.of_bool(ok, problem)


class JsonSchema(_Base):
    """The output is JSON valid against ``schema`` (a JSON Schema)."""

    params = {"schema"}

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        import jsonschema

        schema = params.get("schema")
        if not isinstance(schema, dict):
            raise ValueError("give `schema`: a JSON Schema object")
        try:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"schema is not a valid JSON Schema: {exc.message}") from None
        self.validator = cls(schema)

    def score(self, case: Case) -> Score:
        ok, value, problem = _parsed(case.output)
        if not ok:
            return Score.of_bool(False, problem)
        errors = sorted(self.validator.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(root)"
            return Score.of_bool(False, f"{where}: {errors[0].message}", {"errors": len(errors)})
        return Score.of_bool(True)


def _first_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = NUMBER_RE.search(output_text(value))
    if not match:
        return None
    try:
        return float(match.group(0).replace(",", ""))
    except ValueError:
        return None


class Numeric(_Base):
    """The first number in the output is within ``abs_tol`` or ``rel_tol`` of the expected number."""

    params = {"abs_tol", "rel_tol"}

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.abs_tol = number(params, "abs_tol", 0.0, low=0)
        self.rel_tol = number(params, "rel_tol", 0.0, low=0)

    def score(self, case: Case) -> Score:
        want = _first_number(case.expected)
        if want is None:
            return Score.unmeasured(f"the expected value {case.expected!r} is not a number")
        got = _first_number(case.output)
        if got is None:
            return Score.of_bool(False, "the output holds no number")
        error = abs(got - want)
        ok = error <= max(self.abs_tol or 0.0, (self.rel_tol or 0.0) * abs(want))
        return Score.of_bool(ok, None, {"output_number": got, "expected_number": want, "error": error})


class Similarity(_Base):
    """rapidfuzz's normalized similarity (0-1) of output and expected text; passes at ``threshold``."""

    params = {"threshold", "method", "case_sensitive"}
    METHODS = ("ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio")

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        self.threshold = number(params, "threshold", 0.8, low=0, high=1)
        self.method = params.get("method", "ratio")
        if self.method not in self.METHODS:
            raise ValueError(f"method must be one of {', '.join(self.METHODS)}, not {self.method!r}")

    def score(self, case: Case) -> Score:
        from rapidfuzz import fuzz

        wanted = _expected_texts(case)
        if not wanted:
            return Score.unmeasured("the case has no expected text")
        text = output_text(case.output)
        if not self.config.get("case_sensitive", False):
            text, wanted = text.casefold(), [w.casefold() for w in wanted]
        value = max(getattr(fuzz, self.method)(text, w) for w in wanted) / 100.0
        return Score(value, value >= self.threshold)


class CostMax(_Base):
    """The case cost at most ``max_usd`` (value 1 within the limit, 0 over it)."""

    params = {"max_usd"}

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        limit = number(params, "max_usd", None, low=0)
        if limit is None:
            raise ValueError("give `max_usd`, the most one case may cost")
        self.limit = limit

    def score(self, case: Case) -> Score:
        if case.cost is None:
            return Score.unmeasured("no cost was recorded for this case (the target reports none)")
        return Score.of_bool(case.cost <= self.limit, None, {"cost_usd": case.cost, "max_usd": self.limit})


class LatencyMax(_Base):
    """The case took at most ``max_ms`` milliseconds."""

    params = {"max_ms"}

    def __init__(self, params: dict[str, Any]):
        super().__init__(params)
        limit = number(params, "max_ms", None, low=0)
        if limit is None:
            raise ValueError("give `max_ms`, the longest one case may take")
        self.limit = limit

    def score(self, case: Case) -> Score:
        if case.latency_ms is None:
            return Score.unmeasured("no latency was recorded for this case")
        return Score.of_bool(case.latency_ms <= self.limit, None, {"latency_ms": case.latency_ms, "max_ms": self.limit})


class PythonScorer(_Base):
    """A custom function ``fn(output, expected, input, metadata)`` (or fewer parameters, by name) returning
    a float, a bool, or ``{"value", "passed", "reason", "details"}``; sync or async. It imports code, so
    the spec's ``CodePolicy`` decides whether it may (``loads_code``)."""

    params = {"function", "threshold"}
    loads_code = True

    def __init__(self, params: dict[str, Any], *, policy: CodePolicy):
        super().__init__(params)
        if not isinstance(params.get("function"), str):
            raise ValueError("give `function: module:function`")
        self.fn = policy.load(params["function"], "scorer function")
        self.threshold = number(params, "threshold", None, low=None)
        self.wants = set(inspect.signature(self.fn).parameters)

    async def ascore(self, case: Case, ctx: Any) -> Score:
        available = {"output": case.output, "expected": case.expected, "input": case.input, "metadata": case.metadata, "case": case}
        kwargs = {k: v for k, v in available.items() if k in self.wants}
        try:
            result = self.fn(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            return Score.unmeasured(f"the scorer function raised {type(exc).__name__}: {exc}")
        return self.to_score(result)

    def to_score(self, result: Any) -> Score:
        if result is None:
            return Score.unmeasured("the scorer function returned None")
        if isinstance(result, bool):
            return Score.of_bool(result)
        if isinstance(result, (int, float)):
            passed = None if self.threshold is None else result >= self.threshold
            return Score(float(result), passed)
        if isinstance(result, dict) and ("value" in result or "passed" in result):
            value = result.get("value")
            passed = result.get("passed")
            if value is None and isinstance(passed, bool):
                value = 1.0 if passed else 0.0
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                return Score.unmeasured(f"the scorer function returned value {value!r}, not a number")
            if passed is None and value is not None and self.threshold is not None:
                passed = value >= self.threshold
            return Score(value, passed, result.get("reason"), result.get("details"))
        return Score.unmeasured(f"the scorer function returned {type(result).__name__}; return a float, a bool or a dict with value")
