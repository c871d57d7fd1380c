"""Release input shapes and their checks: routes, environments, shares, modes, configs and rollback rules."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stackwright.core.errors import InvalidInput

ROUTE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
ENV_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
MODES = ("canary", "ab", "shadow")
STANDARD_ENVS = ("dev", "staging", "production")
MAX_KEYS = 64
MAX_CONFIG_BYTES = 16_384
MAX_REQUIRED_EVAL = 200


def check_route(route: str) -> str:
    if not isinstance(route, str) or not ROUTE_PATTERN.match(route):
        raise InvalidInput(
            f"Route {route!r} is not valid.",
            hint="Use 1-200 letters, digits, '.', '_', ':' or '-', starting with a letter or digit (e.g. support.answer).",
        )
    return route


def check_env(env: str) -> str:
    if not isinstance(env, str) or not ENV_PATTERN.match(env):
        raise InvalidInput(
            f"Environment {env!r} is not valid.",
            hint=f"Use {', '.join(STANDARD_ENVS)} or a custom name: 1-64 lower-case letters, digits, '_' or '-', starting with a letter.",
        )
    return env


def check_share(share: Any) -> float:
    if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share) or not 0 <= share <= 100:
        raise InvalidInput(f"Share {share!r} is not valid.", hint="Give a percentage from 0 to 100 (e.g. --share 10).")
    return float(share)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidInput(f"Mode {mode!r} is not valid.", hint=f"Use one of: {', '.join(MODES)}.")
    return mode


def check_model(model: Any) -> str:
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise InvalidInput(f"Model {model!r} is not valid.", hint="Give the model name clients ask the gateway for (1-200 characters).")
    return model.strip()


def check_mapping(what: str, values: Any) -> dict[str, Any]:
    """Free-form params or settings: a JSON object with short keys, at most MAX_KEYS of them, small."""
    import orjson

    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InvalidInput(f"{what} must be a mapping of names to values.")
    if len(values) > MAX_KEYS:
        raise InvalidInput(f"{what} has {len(values)} entries; at most {MAX_KEYS} are allowed.")
    for key in values:
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise InvalidInput(f"{what} name {key!r} is not valid.", hint="Use 1-64 letters, digits, '_', '.' or '-'.")
    try:
        size = len(orjson.dumps(values))
    except TypeError:
        raise InvalidInput(f"{what} must hold JSON values only (strings, numbers, booleans, lists, objects).") from None
    if size > MAX_CONFIG_BYTES:
        raise InvalidInput(f"{what} is {size} bytes as JSON; at most {MAX_CONFIG_BYTES} are allowed.")
    return dict(values)


def check_required_eval(name: str | None) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_REQUIRED_EVAL:
        raise InvalidInput(f"Evaluation name {name!r} is not valid.", hint=f"Give 1-{MAX_REQUIRED_EVAL} characters.")
    return name.strip()


def parse_pairs(what: str, pairs: list[str] | None) -> dict[str, Any]:
    """``k=v`` options from the command line; values are read as JSON when they parse (3, 0.2, true), else text."""
    import orjson

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{what} {pair!r} is not key=value.", hint=f"Write e.g. {what} temperature=0.2.")
        try:
            out[key.strip()] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            out[key.strip()] = raw
    return out


class RollbackRules(BaseModel):
    """Roll the candidate back when it does worse than stable by a margin, once both arms have enough requests."""

    model_config = ConfigDict(extra="forbid")

    error_rate_margin: float | None = Field(
        default=None, ge=0, le=1, description="Roll back if candidate error rate - stable error rate > this (0.05 = 5 points)."
    )
    p95_margin_ms: float | None = Field(
        default=None, ge=0, le=3_600_000, description="Roll back if candidate p95 latency - stable p95 latency > this, in ms."
    )
    scores: dict[str, float] = Field(
        default_factory=dict,
        description="Score name -> margin: roll back if stable's mean score - candidate's mean score > margin (higher is better).",
    )
    min_requests: int = Field(
        default=100, ge=1, le=10_000_000, description="Requests (and, for a score rule, scored requests) each arm needs first."
    )


def parse_rules(raw: Any) -> dict[str, Any] | None:
    """Validated rules as a dict (None clears them); InvalidInput names each wrong field."""
    if raw is None:
        return None
    try:
        rules = RollbackRules.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'rules'}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidInput(f"The rollback rules are not valid: {problems}.") from None
    for name, margin in rules.scores.items():
        if not name or len(name) > 200 or not math.isfinite(margin) or margin < 0:
            raise InvalidInput(f"Score rule {name!r}: give a score name and a margin of 0 or more.")
    if rules.error_rate_margin is None and rules.p95_margin_ms is None and not rules.scores:
        raise InvalidInput(
            "The rollback rules set no rule.", hint="Give an error-rate margin, a p95 margin or a score margin (or clear the rules)."
        )
    return rules.model_dump()


def parse_score_rule(text: str) -> tuple[str, float]:
    """``NAME:margin`` from the command line."""
    name, sep, margin = text.rpartition(":")
    try:
        value = float(margin)
    except ValueError:
        value = math.nan
    if not sep or not name or not math.isfinite(value) or value < 0:
        raise InvalidInput(f"--rollback-score {text!r} is not NAME:margin.", hint="Write e.g. --rollback-score helpfulness:0.1.")
    return name, value


# -- API bodies -----------------------------------------------------------------------------------

Params = dict[str, Any]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    env: str = Field(min_length=1, max_length=64, description="Environment: dev, staging, production or a custom name.")
    expected_revision: int | None = Field(
        default=None, ge=0, description="Refuse (409) unless the release is at this revision (0: must not exist yet)."
    )


class SetIn(_Body):
    prompt: str = Field(min_length=1, max_length=300, description="name@version or name@label; stored as the exact version.")
    model: str = Field(min_length=1, max_length=200)
    params: Params = Field(default_factory=dict, description="Model parameters, e.g. {\"temperature\": 0.2}.")
    settings: Params = Field(default_factory=dict, description="Free-form settings, e.g. {\"retrieval_k\": 5}.")


class CanaryIn(_Body):
    prompt: str = Field(min_length=1, max_length=300)
    model: str | None = Field(default=None, max_length=200, description="Default: the stable model.")
    params: Params = Field(default_factory=dict, description="Override the stable params.")
    settings: Params = Field(default_factory=dict, description="Override the stable settings.")
    share: float = Field(description="Percent of requests (0-100) the candidate gets (shadow: mirrors).")
    mode: str = Field(default="canary", description="canary, ab or shadow.")
    require_eval: str | None = Field(default=None, max_length=200, description="Evaluation that must pass before promote.")
    rollback_rules: dict[str, Any] | None = Field(default=None, description="Automatic rollback rules (see RollbackRules).")


class RulesIn(_Body):
    """Fields left out stay as they are; a field sent as null is cleared."""

    rollback_rules: dict[str, Any] | None = Field(default=None, description="Automatic rollback rules (see RollbackRules).")
    require_eval: str | None = Field(default=None, max_length=200, description="Evaluation that must pass before promote.")


class ActionIn(_Body):
    reason: str | None = Field(default=None, max_length=500)


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    env: str = Field(min_length=1, max_length=64)
    dry_run: bool = Field(default=False, description="Report the comparison without rolling back.")
