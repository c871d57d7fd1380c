"""The contract between the gateway and a model provider.

The gateway speaks OpenAI's wire format everywhere: a provider receives an OpenAI-style request body
(a dict, with ``model`` already replaced by the deployment's upstream model name) and returns
OpenAI-style response dicts. A provider that talks another protocol (Anthropic, a local model)
translates both ways. Providers are plugins in the ``stackwright.providers`` registry: the registered
object is a class, instantiated once per app with no arguments; it may keep connection pools and must
release them in ``aclose``.

Faults are reported as ``ProviderError`` with a ``kind`` the router acts on: retry, fall back, or
return to the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stackwright.core.egress import EgressPolicy

# What went wrong, as the router sees it.
TIMEOUT = "timeout"  # no answer within the deployment's timeout_s
CONNECTION = "connection"  # refused, reset, DNS, TLS
RATE_LIMITED = "rate_limited"  # upstream 429
SERVER = "server"  # upstream 5xx
MALFORMED = "malformed"  # the upstream answered something that is not the protocol (bad JSON, missing fields)
STREAM_CUT = "stream_cut"  # a stream ended or broke before its end marker
CONTEXT_LENGTH = "context_length"  # the request does not fit the model's context window
BAD_REQUEST = "bad_request"  # upstream 400/404/422 other than context length: the client's to fix
AUTH = "auth"  # upstream 401/403: the deployment's credentials are wrong
UNSUPPORTED = "unsupported"  # this provider cannot do that (e.g. embeddings on a chat-only model)
EGRESS_BLOCKED = "egress_blocked"  # the upstream resolves to an address the egress policy refuses

RETRYABLE = frozenset({TIMEOUT, CONNECTION, RATE_LIMITED, SERVER, MALFORMED, STREAM_CUT})
FALLBACK_ON = RETRYABLE | {CONTEXT_LENGTH, AUTH, EGRESS_BLOCKED}


class ProviderError(Exception):
    """A failed provider call. ``status`` is the upstream's HTTP status when there was one."""

    def __init__(self, kind: str, message: str, *, status: int | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    @property
    def falls_back(self) -> bool:
        return self.kind in FALLBACK_ON

    def __repr__(self) -> str:
        return f"ProviderError({self.kind!r}, {self.message!r}, status={self.status})"


@dataclass(frozen=True)
class Deployment:
    """One concrete place a model is served. ``api_key`` is the resolved secret (never logged)."""

    id: str  # stable label, e.g. "gpt-4o-mini/0"
    provider: str  # registry name: openai, anthropic, local, ...
    model: str  # the upstream's model name
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    weight: float = 1.0
    headers: dict[str, str] = field(default_factory=dict)  # extra headers sent upstream
    options: dict[str, Any] = field(default_factory=dict)  # provider-specific (api_version, model_path, ...)
    egress: EgressPolicy | None = None  # what the upstream may resolve to; None: unrestricted (an operator's config)


class Provider(Protocol):
    """What every provider plugin implements."""

    name: str

    async def chat(self, deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streamed chat completion: an OpenAI ``chat.completion`` dict, ``usage`` filled in
        (prompt_tokens, completion_tokens, total_tokens) whenever the upstream reports it."""
        ...

    def chat_stream(self, deployment: Deployment, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """A streamed chat completion: yields OpenAI ``chat.completion.chunk`` dicts. The last chunk
        carries ``usage`` when the upstream reports it (the provider asks for it). Raises ProviderError
        before the first chunk (the router may retry) or mid-stream (kind STREAM_CUT)."""
        ...

    async def embed(self, deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
        """An OpenAI embeddings response dict (``object: list``, ``data``, ``model``, ``usage``)."""
        ...

    async def aclose(self) -> None:
        """Release connection pools and models."""
        ...
