"""The eval spec: a YAML file (or the same shape as JSON), validated strictly; every error names the file
and line it comes from.

    name: support-regression
    dataset: support-cases@3            # name, name@version, or a path to a .jsonl file
    target:
      prompt: support-answer@staging    # or route: support.answer@staging | http: URL | python: module:function
      model: gpt-4o-mini                # with prompt: overrides the prompt's model; alone: plain chat
      params: {temperature: 0}          # optional request fields
      messages: [{role: system, content: "Answer briefly."}]  # model alone: sent before the case's input
    scorers:
      - contains
      - {type: llm_judge, rubric: "Answers only from the context", model: judge}
    concurrency: 16
    timeout_s: 60                       # per attempt
    retries: 2                          # on transient errors (5xx, 429, timeouts, dropped connections)
    repeat: 1
    seed: 0
    gate:
      contains: {min_mean: 0.9}         # min_mean | max_mean | min_pass_rate, per scorer name
      no_regression_vs: baseline        # the newest completed run named "baseline": no scorer mean may drop
      max_drop: 0.0                     # tolerated drop of a mean against that run
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from stackwright.core.errors import InvalidInput
from stackwright.evals.trust import CodePolicy

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
TARGET_KINDS = ("prompt", "route", "http", "python")
GATE_KEYS = ("min_mean", "max_mean", "min_pass_rate")


class SpecError(InvalidInput):
    """A spec problem, with ``file`` and ``line`` in ``details``; the CLI exits 2 on it."""

    code = "invalid_spec"


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str | None = Field(default=None, min_length=1, max_length=300)
    route: str | None = Field(default=None, min_length=1, max_length=300)
    http: str | None = Field(default=None, min_length=1, max_length=2000)
    python: str | None = Field(default=None, min_length=1, max_length=300)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    messages: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        kinds = [k for k in TARGET_KINDS if getattr(self, k)]
        if len(kinds) > 1:
            raise ValueError(f"give one of prompt, route, http or python, not {' and '.join(kinds)}")
        if not kinds and not self.model:
            raise ValueError("name what to evaluate: prompt, route, http, python, or a model for plain chat")
        if self.http and not self.http.startswith(("http://", "https://")):
            raise ValueError(f"http must be an http:// or https:// URL, not {self.http!r}")
        if self.python and ":" not in self.python:
            raise ValueError(f"python must be module:function, not {self.python!r}")
        if self.messages and kinds:
            raise ValueError("messages go with a plain model target (model alone), not with " + kinds[0])
        if self.route and "@" not in self.route:
            raise ValueError(f"route must be ROUTE@ENV, e.g. support.answer@staging, not {self.route!r}")
        return self

    @property
    def kind(self) -> str:
        return next((k for k in TARGET_KINDS if getattr(self, k)), "model")


class ScorerSpec(BaseModel):
    """``contains`` or ``{type: contains, name: mentions_refund, ...params}``."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"type": value}
        return value

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def key(self) -> str:
        return self.name or self.type


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_mean: float | None = None
    max_mean: float | None = None
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _some(self) -> Threshold:
        if all(getattr(self, k) is None for k in GATE_KEYS):
            raise ValueError(f"give at least one of {', '.join(GATE_KEYS)}")
        return self


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scorers: dict[str, Threshold] = Field(default_factory=dict)
    no_regression_vs: str | None = Field(default=None, min_length=1, max_length=200)
    max_drop: float = Field(default=0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        """The YAML form is flat: scorer names next to ``no_regression_vs``."""
        if not isinstance(value, dict) or "scorers" in value:
            return value
        reserved = {"no_regression_vs", "max_drop"}
        return {**{k: v for k, v in value.items() if k in reserved}, "scorers": {k: v for k, v in value.items() if k not in reserved}}


class EvalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = Field(default="", max_length=2000)
    dataset: str = Field(min_length=1, max_length=1000)
    target: Target
    scorers: list[ScorerSpec] = Field(min_length=1, max_length=50)
    concurrency: int = Field(default=8, ge=1, le=512)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    retries: int = Field(default=2, ge=0, le=10)
    repeat: int = Field(default=1, ge=1, le=100)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    gate: Gate | None = None
    _source: SpecSource | None = PrivateAttr(default=None)
    _policy: CodePolicy = PrivateAttr(default=CodePolicy(False))  # set by `validate`: who may run this spec's code

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 128 characters), starting with a letter or digit")
        return value

    # -- where things are, for errors found later (unknown dataset, bad scorer parameters) -------------

    @property
    def source(self) -> SpecSource:
        return self._source or SpecSource("<spec>", None)

    @property
    def policy(self) -> CodePolicy:
        """The code policy the spec was loaded under: its python target and scorers import through it."""
        return self._policy

    def error(self, loc: tuple[Any, ...], message: str, *, hint: str | None = None) -> SpecError:
        return self.source.error(loc, message, hint=hint)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def content_hash(self) -> str:
        return hashlib.sha256(orjson.dumps(self.as_dict(), option=orjson.OPT_SORT_KEYS)).hexdigest()


class SpecSource:
    """The file name and the composed YAML tree, to turn a field location into a line number."""

    def __init__(self, file: str, root: Any):
        self.file = file
        self.root = root
        self.base_dir: Path | None = None  # relative dataset paths are read from the spec file's folder

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            key_node, node = child
            line = (key_node or node).start_mark.line + 1
        return line

    def error(self, loc: tuple[Any, ...], message: str, *, hint: str | None = None) -> SpecError:
        line = self.line_of(loc)
        where = f"{self.file}:{line}" if line else self.file
        field = _dotted(loc)
        text = f"{where}: {field}: {message}" if field else f"{where}: {message}"
        return SpecError(text, hint=hint, details={"file": self.file, "line": line, "field": field or None})


def _child(node: Any, part: Any) -> tuple[Any, Any] | None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
        if part == "scorers":  # the gate's flat form: scorer names sit in the gate mapping itself
            return None, node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union/validator markers (``function-after[...]``) from a location."""
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("str", "int", "float"))))


def parse_text(text: str, file: str, policy: CodePolicy) -> EvalSpec:
    """Parse YAML (or JSON) text into a validated spec; SpecError names the file and line, Forbidden a
    python target or scorer ``policy`` does not allow."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else file
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{where}: not valid YAML: {problem}.", details={"file": file, "line": mark.line + 1 if mark else None}) from None
    source = SpecSource(file, root)
    if not isinstance(raw, dict):
        raise source.error((), "an eval spec is a mapping with name, dataset, target and scorers.")
    return validate(raw, source, policy)


def validate(raw: dict[str, Any], source: SpecSource, policy: CodePolicy) -> EvalSpec:
    try:
        spec = EvalSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _clean_loc(tuple(first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field; check its spelling"
        elif first["type"] == "missing":
            message = "this field is required"
        more = len(exc.errors()) - 1
        raise source.error(loc, message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")) from None
    spec._source = source
    spec._policy = policy
    if spec.target.python:  # refused (403) or not importable (a spec error) before a run is stored, like the scorers below
        try:
            policy.load(spec.target.python, "target.python")
        except ValueError as exc:
            raise source.error(("target", "python"), str(exc)) from None
    seen: set[str] = set()
    for index, scorer in enumerate(spec.scorers):
        if scorer.key in seen:
            raise source.error(("scorers", index), f"two scorers are named {scorer.key!r}; give one a `name:`")
        seen.add(scorer.key)
    from stackwright.evals.scorers import build_all

    build_all(spec)  # unknown scorers and bad scorer parameters are spec errors, with their line
    for name in spec.gate.scorers if spec.gate else []:
        if name not in seen:
            raise source.error(("gate", name), f"the gate names scorer {name!r}, which the spec does not run (scorers: {', '.join(seen)})")
    return spec


def load_file(path: Path | str, policy: CodePolicy) -> EvalSpec:
    """A spec file (the CLI passes ``CodePolicy.operator()``: a file it runs is the operator's)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path} does not exist.", hint="Give the path of your eval spec (YAML).", details={"file": str(path), "line": None}) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path} cannot be read: {exc}.", details={"file": str(path), "line": None}) from None
    spec = parse_text(text, str(path), policy)
    spec.source.base_dir = path.parent
    return spec


def from_payload(payload: Any, policy: CodePolicy) -> EvalSpec:
    """A spec from the API or a job: YAML text, or the mapping itself (``policy``: ``CodePolicy.server(settings)``)."""
    if isinstance(payload, str):
        return parse_text(payload, "<request>", policy)
    if isinstance(payload, dict):
        import yaml

        text = yaml.safe_dump(payload, sort_keys=False)
        return parse_text(text, "<request>", policy)
    raise SpecError("`spec` must be YAML text or an object.", details={"file": "<request>", "line": None})
