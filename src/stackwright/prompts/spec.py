"""The push format (a YAML file, or the same shape as JSON) and its normalized, hashable content.

    name: support-answer
    type: chat                      # or text (then `template:` instead of `messages:`)
    messages:
      - {role: system, content: "You are the support assistant for {{ product }}."}
      - {role: user, content: "Context:\\n{{ context }}\\n\\nQuestion: {{ question }}"}
    model: {name: gpt-4o-mini, temperature: 0.2}
    tools: [...]                    # optional, OpenAI tool definitions
    response_format: {...}          # optional
    variables: {product: {type: string, default: Acme}}   # optional overrides of the inferred schema
    labels: [staging]               # moved to this version
    protected_labels: [production]  # optional; changing it needs admin
    message: "Shorter answers"      # the version's note

Pure (no database): the SDK reads fallback files with it too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stackwright.core.errors import InvalidInput
from stackwright.prompts import templates
from stackwright.prompts.refs import LATEST, check_label, check_name

MAX_TEMPLATE_CHARS = 200_000
MAX_MESSAGES = 200


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str = Field(max_length=MAX_TEMPLATE_CHARS)
    name: str | None = Field(default=None, max_length=128)


class ModelConfig(BaseModel):
    """``name`` plus any parameters (temperature, max_tokens...), flat or under ``params``."""

    model_config = ConfigDict(extra="allow")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)

    def all_params(self) -> dict[str, Any]:
        return {**self.params, **(self.model_extra or {})}


class PromptFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: Literal["chat", "text"] | None = None
    messages: list[Message] | None = Field(default=None, max_length=MAX_MESSAGES)
    template: str | None = Field(default=None, max_length=MAX_TEMPLATE_CHARS)
    model: ModelConfig | str | None = None
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    variables: dict[str, dict[str, Any]] | None = None
    labels: list[str] = Field(default_factory=list, max_length=50)
    protected_labels: list[str] | None = Field(default=None, max_length=50)
    message: str = Field(default="", max_length=2000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_name(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("labels", "protected_labels")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        try:
            return None if value is None else list(dict.fromkeys(check_label(v) for v in value))
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @model_validator(mode="after")
    def _shape(self) -> PromptFile:
        kind = self.type or ("text" if self.template is not None and self.messages is None else "chat")
        if kind == "chat" and (not self.messages or self.template is not None):
            raise ValueError("a chat prompt needs a non-empty `messages:` list and no `template:`")
        if kind == "text" and (self.template is None or self.messages is not None):
            raise ValueError("a text prompt needs `template:` and no `messages:`")
        if self.protected_labels and LATEST in self.protected_labels:
            raise ValueError("`latest` moves with every push and cannot be protected")
        self.type = kind
        return self


def parse_file(raw: Any, source: str = "The prompt") -> PromptFile:
    """A validated prompt file, or InvalidInput naming each wrong field by its path."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{source} must be a mapping with at least `name:` and `messages:` or `template:`.")
    try:
        return PromptFile.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(top level)", "problem": e["msg"].removeprefix("Value error, ")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        raise InvalidInput(f"{source} is not valid: {summary}.", details={"errors": problems}) from None


def content_of(spec: PromptFile) -> dict[str, Any]:
    """The version's content: what the content hash covers (not labels, message or protection)."""
    model = ModelConfig(name=spec.model) if isinstance(spec.model, str) else spec.model
    return {
        "type": spec.type,
        "messages": [m.model_dump(exclude_none=True) for m in spec.messages] if spec.messages is not None else None,
        "template": spec.template,
        "model": model.name if model else None,
        "params": model.all_params() if model else {},
        "tools": spec.tools,
        "response_format": spec.response_format,
        "variables": spec.variables,
    }


def content_hash(content: dict[str, Any]) -> str:
    import orjson

    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def analyze_content(content: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Syntax-check every template; return the variables schema and the included prompt references."""
    found = templates.Analysis()
    if content["type"] == "text":
        parts = [(content["template"], "the template")]
    else:
        parts = [(m["content"], templates.message_label(i, m)) for i, m in enumerate(content["messages"])]
    for source, where in parts:
        analysis = templates.analyze(source, where)
        found.optional = (found.optional - analysis.variables) | (analysis.optional - (found.variables - found.optional))
        found.variables |= analysis.variables
        found.includes += [ref for ref in analysis.includes if ref not in found.includes]
    return templates.schema_for(found.variables, content["variables"], found.optional), found.includes


def load_file(path: str | Path) -> Any:
    """A prompt file's YAML, or InvalidInput naming the line and column of a YAML syntax error."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path} does not exist.", hint="Give the path of a prompt YAML file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} cannot be read: {exc}.") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{path} is not valid YAML{where}: {problem}.") from None


def offline_payload(raw: Any, source: str = "The prompt file") -> dict[str, Any]:
    """A version payload (the API's shape, version None) built from a file, without a server."""
    spec = parse_file(raw, source)
    content = content_of(spec)
    schema, includes = analyze_content(content)
    return {
        "name": spec.name, "version": None, "type": content["type"], "messages": content["messages"],
        "template": content["template"], "model": content["model"], "params": content["params"],
        "tools": content["tools"], "response_format": content["response_format"], "variables": schema,
        "includes": includes, "included": {}, "labels": [], "message": spec.message,
    }  # fmt: skip
