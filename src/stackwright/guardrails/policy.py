"""Guardrail policies: YAML files (or the same shape as JSON through the API), validated strictly; every
error names the file, the line and the key.

    name: support-guard
    route: support.answer        # a release route, a gateway model name, or * for every request
    input:
      - {check: pii, action: redact, kinds: [EMAIL, PHONE]}
      - {check: prompt_injection, action: block, threshold: 0.7}
    output:
      - {check: canary, action: block}
      - {check: json_schema, action: reask, schema: {type: object, required: [answer]}, max_reasks: 2,
         fallback: "Sorry, I could not produce a valid answer."}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.evals.spec import SpecError, SpecSource

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
ROUTE_RE = re.compile(r"^(?:\*|[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199})$")
ACTIONS = ("block", "redact", "flag", "reask", "fallback")
RESERVED = ("check", "action", "max_reasks", "fallback", "fallback_model", "then")
TOP_KEYS = ("name", "route", "description", "input", "output")
MAX_CHECKS = 50  # per direction: every request through the route runs each of them


@dataclass
class CheckSpec:
    check: str
    action: str
    params: dict[str, Any]
    max_reasks: int = 2
    fallback: str | None = None
    fallback_model: str | None = None
    then: str = "block"  # what a reask that never converges ends with
    built: Any = None  # the Check instance

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "action": self.action, **self.params}
        if self.action == "reask":
            out["max_reasks"] = self.max_reasks
            out["then"] = self.then
        if self.fallback is not None:
            out["fallback"] = self.fallback
        if self.fallback_model is not None:
            out["fallback_model"] = self.fallback_model
        return out


@dataclass
class Policy:
    name: str
    route: str
    description: str = ""
    input: list[CheckSpec] = field(default_factory=list)
    output: list[CheckSpec] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "route": self.route, "description": self.description,
                "input": [c.as_dict() for c in self.input], "output": [c.as_dict() for c in self.output]}  # fmt: skip


def _entry(raw: Any, direction: str, index: int, source: SpecSource) -> CheckSpec:
    from stackwright.guardrails import checks

    loc: tuple[Any, ...] = (direction, index)
    if isinstance(raw, str):
        raw = {"check": raw}
    if not isinstance(raw, dict):
        raise source.error(loc, "each check is a mapping like {check: pii, action: redact}")
    name = raw.get("check")
    if not isinstance(name, str) or not name:
        raise source.error(loc, "`check` is required: the check's name", hint=f"Checks: {', '.join(checks.names())}.")
    try:
        factory = checks.get(name)
    except ValueError as exc:
        raise source.error((*loc, "check"), str(exc)) from None
    action = raw.get("action", "flag")
    if action not in ACTIONS:
        raise source.error((*loc, "action"), f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
    if direction not in factory.directions:
        raise source.error((*loc, "check"), f"the {name} check runs on {' and '.join(factory.directions)} only, not {direction}")
    if action == "redact" and not factory.can_redact:
        raise source.error((*loc, "action"), f"the {name} check cannot redact; use block, flag or fallback")
    if action == "reask" and direction != "output":
        raise source.error((*loc, "action"), "reask re-asks the model about its answer: use it in output checks")
    spec = CheckSpec(check=name, action=action, params={k: v for k, v in raw.items() if k not in RESERVED})
    max_reasks = raw.get("max_reasks", 2)
    if isinstance(max_reasks, bool) or not isinstance(max_reasks, int) or not 1 <= max_reasks <= 5:
        raise source.error((*loc, "max_reasks"), f"max_reasks must be an integer from 1 to 5, got {max_reasks!r}")
    spec.max_reasks = max_reasks
    for key in ("fallback", "fallback_model"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise source.error((*loc, key), f"{key} must be a non-empty string")
        setattr(spec, key, value)
    if action == "fallback" and not (spec.fallback or spec.fallback_model):
        raise source.error((*loc, "action"), "the fallback action needs `fallback: <message>` or `fallback_model: <model>`")
    then = raw.get("then", "fallback" if (spec.fallback or spec.fallback_model) else "block")
    if then not in ("block", "fallback", "flag"):
        raise source.error((*loc, "then"), f"then must be block, fallback or flag, got {then!r}")
    if then == "fallback" and not (spec.fallback or spec.fallback_model):
        raise source.error((*loc, "then"), "then: fallback needs `fallback: <message>` or `fallback_model: <model>`")
    spec.then = then
    try:
        spec.built = factory(spec.params)
    except ValueError as exc:
        param = getattr(exc, "key", None)
        raise source.error((*loc, param) if param in raw else loc, str(exc)) from None
    return spec


def validate(raw: Any, source: SpecSource) -> Policy:
    if not isinstance(raw, dict):
        raise source.error((), "a policy is a mapping with name, route, input and output")
    for key in raw:
        if key not in TOP_KEYS:
            raise source.error((key,), f"unknown key; a policy has {', '.join(TOP_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise source.error(("name",), "`name` is required: 1-128 letters, digits, . _ - (e.g. support-guard)")
    route = raw.get("route", "*")
    if not isinstance(route, str) or not ROUTE_RE.match(route):
        raise source.error(("route",), "`route` must be a route name (support.answer), a gateway model name, or *")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise source.error(("description",), "`description` must be text")
    policy = Policy(name=name, route=route, description=description)
    for direction in ("input", "output"):
        entries = raw.get(direction) or []
        if not isinstance(entries, list):
            raise source.error((direction,), f"`{direction}` must be a list of checks")
        if len(entries) > MAX_CHECKS:
            raise source.error((direction,), f"`{direction}` has {len(entries)} checks; a policy runs at most {MAX_CHECKS} per direction")
        setattr(policy, direction, [_entry(entry, direction, i, source) for i, entry in enumerate(entries)])
    if not policy.input and not policy.output:
        raise source.error((), "the policy has no checks: add `input:` or `output:` entries")
    return policy


def parse_text(text: str, file: str = "<policy>") -> Policy:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else file
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{where}: not valid YAML: {problem}.", details={"file": file, "line": mark.line + 1 if mark else None}) from None
    return validate(raw, SpecSource(file, root))


def load_file(path: Path | str) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path} does not exist.", hint="Give the path of a policy YAML file.", details={"file": str(path), "line": None}) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path} cannot be read: {exc}.", details={"file": str(path), "line": None}) from None
    return parse_text(text, str(path))


def from_payload(payload: Any) -> Policy:
    """A policy from the API (a mapping) or from storage; errors point into its YAML form."""
    import yaml

    if not isinstance(payload, dict):
        raise SpecError("The policy must be a JSON object with name, route, input and output.", details={"file": "<request>", "line": None})
    return parse_text(yaml.safe_dump(payload, sort_keys=False), "<request>")


def checks_from_list(entries: Any, direction: str) -> list[CheckSpec]:
    """Ad-hoc checks (the check endpoint, the CLI, ``stackwright.guardrails.check``): names or mappings."""
    import yaml

    if not isinstance(entries, list) or not entries:
        raise SpecError("`checks` must be a non-empty list of check names or {check, action, ...} objects.",
                        details={"file": "<checks>", "line": None})  # fmt: skip
    if len(entries) > MAX_CHECKS:
        raise SpecError(f"`checks` has {len(entries)} checks; at most {MAX_CHECKS} run at once.", details={"file": "<checks>", "line": None})
    text = yaml.safe_dump({direction: entries}, sort_keys=False)
    source = SpecSource("<checks>", yaml.compose(text, Loader=yaml.SafeLoader))
    return [_entry(entry, direction, i, source) for i, entry in enumerate(entries)]


def from_stored(row: dict[str, Any]) -> Policy:
    raw = {k: row[k] for k in TOP_KEYS if row.get(k) is not None}
    return validate(raw, SpecSource(f"<policy {row.get('name')}>", None))
