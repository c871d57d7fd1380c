"""``Client`` and ``AsyncClient``: the same API surface, over ``httpx.Client`` and ``httpx.AsyncClient``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from stackwright.sdk.base import DEFAULT_TIMEOUT, IN_PROCESS_URL, BaseClient, Call
from stackwright.sdk.datasets import Datasets
from stackwright.sdk.evals import Evals
from stackwright.sdk.guardrails import Guardrails
from stackwright.sdk.jobs import Jobs
from stackwright.sdk.prompts import AsyncPrompts, Prompts
from stackwright.sdk.releases import Releases
from stackwright.sdk.resources import Audit, Keys, Projects, Users
from stackwright.sdk.retrieval import Collections, Retrieval
from stackwright.sdk.traces import Scores, Traces

_DOC = """Talk to a Stackwright server{how}.

    ``base_url`` defaults to ``STACKWRIGHT_BASE_URL``, else http://127.0.0.1:8600; ``api_key`` defaults to
    ``STACKWRIGHT_API_KEY``. Without a key, ``health()`` and ``ready()`` still work, and every other call raises
    ``AuthenticationError`` (code ``missing_api_key``) before sending anything. ``timeout`` is in seconds
    (None: wait forever); ``transport`` is an optional httpx transport (tests, proxies).

    Resources: ``projects``, ``users``, ``keys``, ``audit``, ``prompts`` (cached ``get``: see stackwright.sdk.prompts),
    ``releases``, ``collections``, ``retrieval``, ``guardrails``, ``traces``, ``scores``, ``datasets``, ``evals``
    and ``jobs``; plus ``health()``, ``ready()`` and ``me()``. Results are the server's JSON as dicts (lists for
    unpaged lists, a ``Page`` for cursor-paged ones such as ``audit.list()``). Failures raise a
    ``StackwrightAPIError`` subclass carrying the server's message, code, details, status and request id;
    ``APIConnectionError`` when the server cannot be reached.
"""


def _in_process_app(settings: Any, api_key: str | None) -> tuple[Any, Any, str | None]:
    """Migrate and bootstrap like ``stackwright serve``, then build the app; also pick the key to use."""
    from stackwright.core.config import Settings
    from stackwright.server.app import create_app
    from stackwright.server.startup import prepare

    settings = settings or Settings()
    db, result = prepare(settings)
    key = api_key or settings.init_api_key or (result.api_key if result else None)
    return create_app(settings, db), db, key


class _Resources:
    """The resource attributes and close-time cleanups (in-process: the database) both clients have."""

    projects: Projects
    users: Users
    keys: Keys
    audit: Audit
    releases: Releases
    collections: Collections
    retrieval: Retrieval
    guardrails: Guardrails
    traces: Traces
    scores: Scores
    datasets: Datasets
    evals: Evals
    jobs: Jobs

    def _attach(self) -> None:
        self._on_close: list[Callable[[], None]] = []
        self.projects, self.users, self.keys, self.audit = Projects(self), Users(self), Keys(self), Audit(self)
        self.releases = Releases(self)
        self.collections, self.retrieval = Collections(self), Retrieval(self)
        self.guardrails = Guardrails(self)
        self.traces, self.scores = Traces(self), Scores(self)
        self.datasets, self.evals, self.jobs = Datasets(self), Evals(self), Jobs(self)

    def _after_close(self) -> None:
        while self._on_close:
            self._on_close.pop()()


class Client(_Resources, BaseClient):
    __doc__ = _DOC.format(how="")

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        *,
        transport: httpx.BaseTransport | None = None,
    ):
        super().__init__(base_url, api_key, timeout)
        self._http = httpx.Client(transport=transport, **self._http_options())
        self._attach()
        self.prompts = Prompts(self)

    @classmethod
    def in_process(cls, settings: Any = None, api_key: str | None = None, timeout: float | None = DEFAULT_TIMEOUT) -> Client:
        """A client driving the app in this process (no network): migrates and bootstraps like ``serve``.

        ``settings`` defaults to ``Settings()`` (STACKWRIGHT_* env). The key is ``api_key``, else
        ``settings.init_api_key``, else the one the first-start bootstrap generated, else STACKWRIGHT_API_KEY.
        A bug in the app answers 500 and raises ``ServerError``, as over the network.
        """
        from stackwright.sdk.transport import InProcessTransport

        app, db, key = _in_process_app(settings, api_key)
        client = cls(IN_PROCESS_URL, key, timeout, transport=InProcessTransport(app, raise_app_exceptions=False))
        client._on_close.append(db.dispose)
        return client

    def _run(self, call: Call) -> Any:
        args = self._request_args(call)
        try:
            response = self._http.request(**args)
        except httpx.TransportError as exc:
            raise self._connection_error(exc) from exc
        return self._result(call, response)

    def _paginate(self, page_call: Callable[[str | None], Call]) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self._run(page_call(cursor))
            yield from page.data
            cursor = page.next_cursor
            if not cursor:
                return

    def close(self) -> None:
        self._http.close()
        self._after_close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class AsyncClient(_Resources, BaseClient):
    __doc__ = _DOC.format(how=" from async code; every call is awaited, the ``iter`` methods are async iterators")

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        super().__init__(base_url, api_key, timeout)
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())
        self._attach()
        self.prompts = AsyncPrompts(self)

    @classmethod
    def in_process(
        cls, settings: Any = None, api_key: str | None = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> AsyncClient:
        """Like ``Client.in_process`` (same settings and key rules), over ``httpx.ASGITransport``.

        Not a coroutine: migration and bootstrap run here, blocking, once.
        """
        app, db, key = _in_process_app(settings, api_key)
        client = cls(IN_PROCESS_URL, key, timeout, transport=httpx.ASGITransport(app=app, raise_app_exceptions=False))
        client._on_close.append(db.dispose)
        return client

    async def _run(self, call: Call) -> Any:
        args = self._request_args(call)
        try:
            response = await self._http.request(**args)
        except httpx.TransportError as exc:
            raise self._connection_error(exc) from exc
        return self._result(call, response)

    async def _paginate(self, page_call: Callable[[str | None], Call]) -> AsyncIterator[dict[str, Any]]:
        cursor = None
        while True:
            page = await self._run(page_call(cursor))
            for item in page.data:
                yield item
            cursor = page.next_cursor
            if not cursor:
                return

    async def aclose(self) -> None:
        await self._http.aclose()
        self._after_close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()
