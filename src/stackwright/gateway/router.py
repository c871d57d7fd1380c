"""Routing one request: rules, weighted choice among healthy deployments, retries with backoff and
jitter that honour Retry-After, ordered fallbacks, and a per-deployment circuit breaker.

Every attempt is recorded (for the trace) whether it succeeded or not.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from stackwright.core.errors import InvalidInput, StackwrightError
from stackwright.gateway.catalog import ProjectGateway, ServedModel
from stackwright.gateway.config import RetrySpec
from stackwright.gateway.providers.base import (
    AUTH,
    BAD_REQUEST,
    CONTEXT_LENGTH,
    MALFORMED,
    RATE_LIMITED,
    TIMEOUT,
    UNSUPPORTED,
    Deployment,
    ProviderError,
)

MAX_CHAIN = 8
_STATUS = {RATE_LIMITED: 429, TIMEOUT: 504, BAD_REQUEST: 400, CONTEXT_LENGTH: 400, UNSUPPORTED: 400}


@dataclass
class Attempt:
    model: str
    deployment: str
    provider: str
    upstream_model: str
    start_ns: int
    end_ns: int = 0
    error_kind: str | None = None
    error: str | None = None
    status: int | None = None

    def finish(self, exc: ProviderError | None = None) -> None:
        self.end_ns = time.time_ns()
        if exc is not None:
            self.error_kind, self.error, self.status = exc.kind, exc.message, exc.status


class GatewayFailure(StackwrightError):
    """The request could not be served: the client's fault (4xx) or every route failed (5xx/429)."""

    def __init__(self, message: str, *, status: int, code: str, retry_after_s: float | None = None, attempts: int = 0):
        details = {"attempts": attempts}
        if retry_after_s is not None:
            details["retry_after_s"] = max(1, round(retry_after_s))
        super().__init__(message, code=code, details=details)
        self.status = status

    @classmethod
    def from_provider(cls, exc: ProviderError, attempts: list[Attempt], *, exhausted: bool) -> GatewayFailure:
        status = _STATUS.get(exc.kind, 502)
        code = {CONTEXT_LENGTH: "context_length_exceeded", RATE_LIMITED: "upstream_rate_limited"}.get(exc.kind)
        prefix = f"All {len(attempts)} attempt(s) failed; the last: " if exhausted and len(attempts) > 1 else ""
        return cls(prefix + exc.message, status=status, code=code or f"upstream_{exc.kind}",
                   retry_after_s=exc.retry_after_s, attempts=len(attempts))  # fmt: skip


class Health:
    """Circuit breaker: a deployment that failed ``failures_to_cooldown`` times in a row (or answered 429
    with Retry-After) is skipped until its cooldown ends; one success closes it again."""

    def __init__(self) -> None:
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}

    def available(self, key: str) -> bool:
        until = self._until.get(key)
        return until is None or until <= time.monotonic()

    def cooling_until(self, key: str) -> float | None:
        until = self._until.get(key)
        return until if until and until > time.monotonic() else None

    def failures(self, key: str) -> int:
        """Consecutive failures of the deployment ``key`` (``project_id:deployment_id``) in this process."""
        return self._failures.get(key, 0)

    def failed(self, key: str, model: ServedModel, exc: ProviderError) -> None:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        cooldown = model.cooldown_s if count >= model.failures_to_cooldown else 0.0
        if exc.kind == RATE_LIMITED and exc.retry_after_s:
            cooldown = max(cooldown, min(exc.retry_after_s, model.cooldown_s or exc.retry_after_s))
        if cooldown > 0:
            self._until[key] = time.monotonic() + cooldown

    def succeeded(self, key: str) -> None:
        if key in self._failures:
            del self._failures[key]
            self._until.pop(key, None)


class Providers:
    """One instance of each provider plugin per app, created on first use."""

    def __init__(self) -> None:
        self._instances: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        instance = self._instances.get(name)
        if instance is None:
            from stackwright.core import plugins

            instance = self._instances[name] = plugins.providers.get(name)()
        return instance

    async def aclose(self) -> None:
        for instance in self._instances.values():
            await instance.aclose()
        self._instances.clear()


def backoff_delay(retry: RetrySpec, attempt_no: int, retry_after_s: float | None) -> float | None:
    """Seconds to wait before retry ``attempt_no`` (0-based), or None when Retry-After asks for longer
    than ``max_backoff_s`` (then falling back beats waiting)."""
    delay = min(retry.max_backoff_s, retry.backoff_s * (2**attempt_no)) * random.uniform(0.5, 1.0)
    if retry_after_s is not None:
        if retry_after_s > retry.max_backoff_s:
            return None
        delay = max(delay, retry_after_s)
    return delay


def _matches(when: dict[str, str], metadata: dict[str, Any]) -> bool:
    return all(str(metadata.get(k)) == v for k, v in when.items())


class Router:
    def __init__(self, providers: Providers, health: Health):
        self.providers = providers
        self.health = health

    def chain(self, project: ProjectGateway, name: str, metadata: dict[str, Any]) -> list[ServedModel]:
        """The model asked for (after routing rules), then its fallbacks, in order, without repeats."""
        first = project.model(name)
        for when, target in first.rules:
            if _matches(when, metadata):
                first = project.model(target)
                break
        chain: list[ServedModel] = []
        seen: set[str] = set()
        queue = [first.name]
        while queue and len(chain) < MAX_CHAIN:
            current = queue.pop(0)
            if current in seen or current not in project.models:
                continue
            seen.add(current)
            model = project.models[current]
            chain.append(model)
            queue.extend(model.fallbacks)
        return chain

    def _candidates(self, project_id: str, model: ServedModel, tags: frozenset[str]) -> list[Deployment]:
        return [d for d in _tagged(model, tags) if self.health.available(f"{project_id}:{d.id}")]

    @staticmethod
    def _pick(candidates: list[Deployment], tried: set[str]) -> Deployment:
        fresh = [d for d in candidates if d.id not in tried] or candidates
        if len(fresh) == 1:
            return fresh[0]
        return random.choices(fresh, weights=[d.weight for d in fresh])[0]

    async def call(
        self,
        project: ProjectGateway,
        name: str,
        op: str,
        body: dict[str, Any],
        attempts: list[Attempt],
        *,
        tags: frozenset[str] = frozenset(),
        metadata: dict[str, Any] | None = None,
    ) -> tuple[Any, ServedModel, Deployment]:
        """Run ``op`` (chat, stream or embed) until one deployment answers. For ``stream`` the result is
        ``(first_chunk, iterator)``: a stream is committed to once its first chunk has arrived."""
        last: ProviderError | None = None
        skipped: list[str] = []
        chain = self.chain(project, name, metadata or {})
        _check_tags(chain, tags)
        for model in chain:
            _check_kind(model, op)
            candidates = self._candidates(project.project_id, model, tags)
            if not candidates:
                skipped.append(model.name)
                continue
            tried: set[str] = set()
            for attempt_no in range(model.retries + 1):
                deployment = self._pick(candidates, tried)
                key = f"{project.project_id}:{deployment.id}"
                attempt = Attempt(model.name, deployment.id, deployment.provider, deployment.model, time.time_ns())
                attempts.append(attempt)
                try:
                    result = await self._invoke(op, deployment, body)
                except ProviderError as exc:
                    attempt.finish(exc)
                    if exc.retryable or exc.kind == AUTH:  # the client's own mistakes do not count against a deployment
                        self.health.failed(key, model, exc)
                    last = exc
                    if not exc.falls_back:
                        raise GatewayFailure.from_provider(exc, attempts, exhausted=False) from None
                    if not exc.retryable or attempt_no == model.retries:
                        break
                    delay = backoff_delay(project.retry, attempt_no, exc.retry_after_s)
                    if delay is None:
                        break
                    tried.add(deployment.id)
                    await asyncio.sleep(delay)
                    candidates = self._candidates(project.project_id, model, tags)
                    if not candidates:  # every deployment is cooling down now: fall back, or stop
                        break
                    continue
                attempt.finish()
                self.health.succeeded(key)
                return result, model, deployment
        if last is not None:
            raise GatewayFailure.from_provider(last, attempts, exhausted=True)
        raise GatewayFailure(
            f"No deployment of {', '.join(skipped)} is available: all are cooling down after failures"
            + (f" or none carries the tags {sorted(tags)}" if tags else "") + ".",
            status=503, code="no_deployment_available", retry_after_s=self._cooldown_left(project.project_id, chain),
        )  # fmt: skip

    def _cooldown_left(self, project_id: str, chain: list[ServedModel]) -> float:
        """Seconds until the first deployment of ``chain`` comes out of its cooldown (at least 1)."""
        now = time.monotonic()
        ends = [self.health.cooling_until(f"{project_id}:{d.id}") for model in chain for d in model.deployments]
        return max(1.0, min((end - now for end in ends if end is not None), default=1.0))

    async def _invoke(self, op: str, deployment: Deployment, body: dict[str, Any]) -> Any:
        provider = self.providers.get(deployment.provider)
        upstream_body = {**body, "model": deployment.model}
        try:
            async with asyncio.timeout(deployment.timeout_s + 1.0):  # providers time out on their own; a guard
                if op == "chat":
                    return await provider.chat(deployment, upstream_body)
                if op == "embed":
                    return await provider.embed(deployment, upstream_body)
                stream: AsyncIterator[dict[str, Any]] = provider.chat_stream(deployment, upstream_body).__aiter__()
                try:
                    first = await stream.__anext__()
                except StopAsyncIteration:
                    raise ProviderError(MALFORMED, f"{deployment.id} ended its stream without a chunk.") from None
                return first, stream
        except TimeoutError:
            raise ProviderError(TIMEOUT, f"{deployment.id} did not answer within {deployment.timeout_s:g} s.") from None


def _tagged(model: ServedModel, tags: frozenset[str]) -> list[Deployment]:
    """The deployments carrying all ``tags`` (or, when none does, those tagged ``default``)."""
    pairs = list(zip(model.deployments, model.tags, strict=True))
    if tags:
        pairs = [p for p in pairs if tags <= p[1]] or [p for p in pairs if "default" in p[1]]
    return [d for d, _ in pairs]


def _check_tags(chain: list[ServedModel], tags: frozenset[str]) -> None:
    """Tags no deployment of the chain can serve are the client's mistake: 400 naming them and the known ones."""
    if not tags or any(_tagged(model, tags) for model in chain):
        return
    known = sorted({tag for model in chain for deployment_tags in model.tags for tag in deployment_tags})
    unknown = sorted(tags - set(known))
    names = ", ".join(model.name for model in chain)
    raise InvalidInput(
        f"No deployment of {names} carries the tags {sorted(tags)}"
        + (f" (unknown: {', '.join(unknown)})" if unknown else "") + f"; the known tags are {', '.join(known) or 'none'}.",
        hint="Fix X-Stackwright-Tags (or metadata.tags), or tag a deployment `default` to serve such requests.",
        code="unknown_tags", details={"unknown": unknown, "known": known, "asked": sorted(tags)},
    )  # fmt: skip


def _check_kind(model: ServedModel, op: str) -> None:
    if model.kind == "embedding" and op != "embed":
        raise InvalidInput(f"{model.name} is an embedding model; use POST /v1/embeddings.", code="wrong_model_kind")
    if model.kind == "chat" and op == "embed":
        raise InvalidInput(f"{model.name} is a chat model; use POST /v1/chat/completions.", code="wrong_model_kind")
