"""Jinja2 templates in a sandbox: syntax checks with line and column, variable inference, includes, rendering.

Pure functions (no database): the server and the SDK render with the same code. Templates run in a
``SandboxedEnvironment`` with ``StrictUndefined``, so a missing variable is an error that names it.

Includes: ``{% include "prompt:other-name@production" %}`` inserts another *text* prompt's template,
rendered with the same variables. The reference is resolved by the caller (the server, at render time)
into the ``included`` mapping {reference: template}; nothing here touches the database. Only literal
``prompt:`` references may be included; ``extends``/``import`` are refused.

Rendering is bounded (output size, loop iterations, sizes built, time): see ``limits``. A template over a
limit answers 400 naming the limit and the setting that raises it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from stackwright.core.errors import InvalidInput
from stackwright.prompts import limits
from stackwright.prompts.refs import REF_PREFIX, parse_ref

_AT_OFFSET = re.compile(r" at (\d+)$")
_UNEXPECTED_CHAR = re.compile(r"^unexpected '(.)'$")
_UNDEFINED = re.compile(r"^'([^']+)' is undefined$")


@dataclass
class Analysis:
    """What a template uses: its free variables and the prompt references it includes."""

    variables: set[str] = field(default_factory=set)
    optional: set[str] = field(default_factory=set)  # used only as `x | default(...)` or in `x is defined`
    includes: list[str] = field(default_factory=list)


def _environment(included: tuple[tuple[str, str], ...] = ()) -> Any:
    return limits.environment(dict(included))


_environment_cached = lru_cache(maxsize=256)(_environment)


def _column(source: str, lineno: int, message: str, token: Any) -> tuple[int, int]:
    """Best line and column (1-based) for a syntax error; Jinja itself reports only the line."""
    at = _AT_OFFSET.search(message)
    if at:  # lexer errors carry the absolute offset
        offset = int(at.group(1))
        before = source[:offset]
        return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1
    lines = source.split("\n")
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    if token is not None and token.type == "eof":
        return lineno, len(line) + 1
    start = line.find(str(token.value)) if token is not None and str(token.value) else -1
    char = _UNEXPECTED_CHAR.match(message)
    if char:
        found = line.find(char.group(1), max(start, 0))
        return lineno, (found if found >= 0 else max(start, 0)) + 1
    if start >= 0:
        return lineno, start + 1
    opener = min((i for i in (line.find("{{"), line.find("{%")) if i >= 0), default=0)
    return lineno, opener + 1


def parse(source: str, where: str) -> Any:
    """The template's AST, or InvalidInput naming ``where`` (e.g. "message 2 (user)"), the line and column."""
    from jinja2 import TemplateSyntaxError
    from jinja2.parser import Parser

    environment = _environment_cached()
    parser = None
    try:
        parser = Parser(environment, source)
        return parser.parse()
    except TemplateSyntaxError as exc:
        token = parser.stream.current if parser is not None else None
        line, column = _column(source, exc.lineno or 1, exc.message or str(exc), token)
        raise InvalidInput(
            f"Template syntax error in {where} at line {line}, column {column}: {exc.message}",
            details={"where": where, "line": line, "column": column, "problem": exc.message},
        ) from None


def analyze(source: str, where: str) -> Analysis:
    """Syntax-check ``source``; return its free variables and the prompts it includes."""
    from jinja2 import meta, nodes

    tree = parse(source, where)
    for node in tree.find_all((nodes.Extends, nodes.Import, nodes.FromImport)):
        raise InvalidInput(
            f"{where}, line {node.lineno}: only {{% include \"prompt:name@label\" %}} may load another template.",
            hint="extends and import are not supported in prompts.",
        )
    includes: list[str] = []
    for node in tree.find_all(nodes.Include):
        target = node.template
        value = target.value if isinstance(target, nodes.Const) else None
        if not isinstance(value, str) or not value.startswith(REF_PREFIX):
            raise InvalidInput(
                f"{where}, line {node.lineno}: an include must name a prompt literally, e.g. "
                '{% include "prompt:other-name@production" %}.'
            )
        parse_ref(value)  # a malformed reference is refused at push time
        if value not in includes:
            includes.append(value)
    variables = set(meta.find_undeclared_variables(tree))
    return Analysis(variables=variables, optional=_guarded_only(tree, variables), includes=includes)


def _guarded_only(tree: Any, variables: set[str]) -> set[str]:
    """Variables whose every use is guarded (``x | default(...)``, ``x is defined``): not required."""
    from jinja2 import nodes

    uses: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name in variables:
            uses[node.name] = uses.get(node.name, 0) + 1
    guarded: dict[str, int] = {}
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        is_guard = node.name in ("default", "d") if isinstance(node, nodes.Filter) else node.name in ("defined", "undefined")
        if is_guard and isinstance(node.node, nodes.Name) and node.node.name in variables:
            guarded[node.node.name] = guarded.get(node.node.name, 0) + 1
    return {name for name, count in guarded.items() if count >= uses.get(name, 0)}


def message_label(index: int, message: Mapping[str, Any]) -> str:
    return f"message {index + 1} ({message.get('role', '?')})"


# -- variables ------------------------------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


def schema_for(
    inferred: set[str], overrides: Mapping[str, Mapping[str, Any]] | None, optional: Set[str] = frozenset()
) -> dict[str, Any]:
    """A JSON schema of the variables: every inferred name (any type; required unless every use is
    guarded by ``default`` or ``is defined``), refined by ``overrides``.

    An override may set ``type``, ``description``, ``default`` (which makes the variable optional),
    ``enum`` and ``required: false``; it may also declare a variable the template does not show (one used
    only by an included prompt).
    """
    overrides = overrides or {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name in sorted(inferred | set(overrides)):
        spec = dict(overrides.get(name) or {})
        needed = spec.pop("required", None)
        properties[name] = spec
        if needed is True or (needed is None and "default" not in spec and name not in optional):
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def check_variables(schema: Mapping[str, Any], given: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    """``given`` plus defaults; InvalidInput naming every missing variable or a value of the wrong type."""
    properties = schema.get("properties") or {}
    values = {name: spec["default"] for name, spec in properties.items() if "default" in spec}
    values.update(given)
    missing = [name for name in schema.get("required") or [] if name not in values]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        raise InvalidInput(
            f"Missing variable{'s' if len(missing) > 1 else ''} {names} for prompt {prompt}.",
            hint=f"Pass {'them' if len(missing) > 1 else 'it'} in variables.",
            details={"missing": missing},
        )
    for name, spec in properties.items():
        wanted = spec.get("type")
        if name in given and isinstance(wanted, str) and wanted in _TYPES:
            value = given[name]
            if not isinstance(value, _TYPES[wanted]) or (wanted in ("number", "integer") and isinstance(value, bool)):
                raise InvalidInput(
                    f"Variable {name!r} of prompt {prompt} must be of type {wanted}, not {type(value).__name__}.",
                    details={"variable": name, "type": wanted},
                )
        if name in given and isinstance(spec.get("enum"), list) and given[name] not in spec["enum"]:
            raise InvalidInput(f"Variable {name!r} of prompt {prompt} must be one of {spec['enum']!r}.")
    return values


# -- rendering ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _compiled(source: str, included: tuple[tuple[str, str], ...]) -> Any:
    return _environment_cached(included).from_string(source)


def render_template(source: str, variables: Mapping[str, Any], included: Mapping[str, str], where: str, prompt: str) -> str:
    """Render one template; errors become InvalidInput naming the prompt, the place and the variable."""
    from jinja2 import TemplateError, TemplateNotFound, UndefinedError
    from jinja2.sandbox import SecurityError

    try:
        return _compiled(source, tuple(sorted(included.items()))).render(variables)
    except limits.LimitExceeded as exc:
        raise InvalidInput(
            f"Rendering {where} of prompt {prompt} stopped: the template {exc.what}.",
            hint=f"Raise STACKWRIGHT_{exc.setting.upper()} if it really needs more." if exc.setting else "Simplify the template.",
            code="prompt_render_limit", details={"where": where, "limit": exc.limit, "setting": exc.setting},
        ) from None
    except MemoryError:
        raise InvalidInput(
            f"Rendering {where} of prompt {prompt} ran out of memory.", hint="Make the template build less text.",
            code="prompt_render_limit", details={"where": where},
        ) from None
    except UndefinedError as exc:
        missing = _UNDEFINED.match(exc.message or "")
        if missing:
            raise InvalidInput(
                f"Missing variable {missing.group(1)!r} in {where} of prompt {prompt}.",
                hint="Pass it in variables.", details={"missing": [missing.group(1)], "where": where},
            ) from None  # fmt: skip
        raise InvalidInput(f"Template error in {where} of prompt {prompt}: {exc.message}.", details={"where": where}) from None
    except TemplateNotFound as exc:
        raise InvalidInput(f"{where} of prompt {prompt} includes {exc.name!r}, which could not be resolved.") from None
    except SecurityError as exc:
        raise InvalidInput(f"{where} of prompt {prompt} did something the template sandbox forbids: {exc}.") from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise InvalidInput(f"Rendering {where} of prompt {prompt} failed: {exc}.", details={"where": where}) from None
    except RecursionError:
        raise InvalidInput(f"Rendering {where} of prompt {prompt} recursed too deeply (an include cycle?).") from None


def render_payload(
    payload: Mapping[str, Any], variables: Mapping[str, Any], render_limits: limits.RenderLimits | None = None
) -> dict[str, Any]:
    """Render a version as the API returns it (``GET /api/v1/prompts/{name}``) with ``variables``, within
    ``render_limits`` (default: the settings' defaults) for all its messages together.

    Returns ``messages`` (chat) or ``text`` (text), with ``model``, ``params``, ``tools``,
    ``response_format``, ``prompt_name`` and ``prompt_version``.
    """
    prompt = f"{payload['name']}@{payload.get('version')}"
    values = check_variables(payload.get("variables") or {}, variables, prompt)
    included = payload.get("included") or {}
    result: dict[str, Any] = {}
    with limits.bounded(render_limits or limits.RenderLimits.defaults()):
        if payload.get("type") == "text":
            result["text"] = render_template(payload.get("template") or "", values, included, "the template", prompt)
        else:
            result["messages"] = [
                {**message, "content": render_template(message.get("content") or "", values, included, message_label(i, message), prompt)}
                for i, message in enumerate(payload.get("messages") or [])
            ]
    result.update(
        model=payload.get("model"),
        params=dict(payload.get("params") or {}),
        tools=payload.get("tools"),
        response_format=payload.get("response_format"),
        prompt_name=payload["name"],
        prompt_version=payload.get("version"),
    )
    return result
