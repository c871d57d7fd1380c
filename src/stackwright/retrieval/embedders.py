"""Embedders: turn texts into unit-length float32 vectors, in batches.

Two kinds of names are understood:

* plugins in the ``stackwright.embedders`` registry. The built-in ``local/wordllama`` (offline, 256
  dimensions, or 64/128: its trained matryoshka sizes) registers through an entry point like any
  outside package would. A plugin is a class (or factory) called as ``factory(dimensions=None|int)``;
  the object has ``dimensions`` and ``embed(texts) -> array (len(texts), dimensions)``; the class may
  declare ``allowed_dimensions`` and ``batch_size``.
* any other name is an embeddings model of the project's gateway (``stackwright gateway apply``),
  called in this process through the gateway's own embeddings path (routing, retries, fallbacks,
  limits, cost and a trace span per call, exactly like ``POST /v1/embeddings``).

``open_embedder`` gives an ``Embedder`` that batches, checks shapes, normalises rows and turns every
failure into ``EmbedderFailed`` naming the embedder.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackwright.core.errors import InvalidInput, StackwrightError

if TYPE_CHECKING:
    import numpy as np

    from stackwright.auth.actors import Actor
    from stackwright.core.db import Database

DEFAULT_EMBEDDER = "local/wordllama"
GATEWAY_BATCH = 128  # texts per gateway request (the gateway takes at most 2048)
LOCAL_BATCH = 4096


class EmbedderFailed(StackwrightError):
    """The embedder could not embed: upstream down, wrong answer, plugin error. Nothing was stored for
    the texts it failed on; run the ingest again to resume."""

    status = 502
    code = "embedder_failed"


class WordLlamaEmbedder:
    """The built-in offline embedder: WordLlama (``stackwright.local.embedder``)."""

    allowed_dimensions = (64, 128, 256)
    default_dimensions = 256
    batch_size = LOCAL_BATCH

    def __init__(self, dimensions: int | None = None):
        self.dimensions = dimensions or self.default_dimensions

    def embed(self, texts: list[str]) -> np.ndarray:
        from stackwright.local.embedder import embed

        return embed(texts, self.dimensions)

    def embed_token_ids(self, ids: list[list[int]]) -> np.ndarray:
        """Texts already tokenized by WordLlama's tokenizer (the chunker does): no second tokenization."""
        from stackwright.local.embedder import embed_token_ids

        return embed_token_ids(ids, self.dimensions)


@dataclass
class EmbedContext:
    """Where gateway embedders run: the database (config, secrets) and, inside the server, its gateway.

    Without ``gateway`` (CLI, scripts) a private gateway is built on first use and closed with the
    embedder. ``actor`` is who the calls are made for (limits and traces use its project and key).
    """

    db: Database
    project_id: str
    gateway: Any = None  # app.state.gateway; its calls must then come from a worker thread of the app
    actor: Actor | None = None


class Embedder:
    """A resolved embedder: ``embed(texts)`` -> float32 (n, dimensions), unit rows (zero rows stay zero)."""

    def __init__(self, name: str, impl: Any, dimensions: int, batch_size: int, closer: Any = None):
        self.name = name
        self.dimensions = dimensions
        self.batch_size = max(1, int(batch_size))
        self._impl = impl
        self._closer = closer
        self.calls = 0  # batches sent, for reports and tests

    def embed(self, texts: list[str], token_ids: list[list[int]] | None = None) -> np.ndarray:
        """Vectors of ``texts``; ``token_ids`` (WordLlama's tokenizer, from the chunker) lets WordLlama
        skip tokenizing again, other embedders ignore it."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if token_ids is not None and not isinstance(self._impl, WordLlamaEmbedder):
            token_ids = None
        parts = [
            self._embed_batch(texts[i : i + self.batch_size], token_ids[i : i + self.batch_size] if token_ids is not None else None)
            for i in range(0, len(texts), self.batch_size)
        ]
        return parts[0] if len(parts) == 1 else np.vstack(parts)

    def _embed_batch(self, texts: list[str], token_ids: list[list[int]] | None = None) -> np.ndarray:
        import numpy as np

        self.calls += 1
        try:
            raw = self._impl.embed_token_ids(token_ids) if token_ids is not None else self._impl.embed(texts)
        except EmbedderFailed:
            raise
        except StackwrightError as exc:
            raise EmbedderFailed(f"The embedder {self.name!r} failed: {exc.message}", details={"embedder": self.name}) from None
        except Exception as exc:  # noqa: BLE001 - a plugin's own error, whatever it is: name it and the embedder
            raise EmbedderFailed(
                f"The embedder {self.name!r} failed: {type(exc).__name__}: {exc}", details={"embedder": self.name}
            ) from None
        vectors = np.array(raw, dtype=np.float32)  # a copy: normalised in place below
        if not self.dimensions and vectors.ndim == 2 and vectors.shape[1] > 0:
            self.dimensions = int(vectors.shape[1])  # an embedder that does not say its size up front
        if vectors.shape != (len(texts), self.dimensions) or not np.isfinite(vectors).all():
            raise EmbedderFailed(
                f"The embedder {self.name!r} answered vectors of shape {vectors.shape} for {len(texts)} texts; "
                f"expected ({len(texts)}, {self.dimensions}) finite values.",
                hint="Check the model's dimensions; a collection keeps the dimensions it was created with.",
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return np.ascontiguousarray(vectors)

    def close(self) -> None:
        if self._closer is not None:
            closer, self._closer = self._closer, None
            closer()


# -- resolving names -------------------------------------------------------------------------------


def registered_names() -> list[str]:
    from stackwright.core import plugins

    return plugins.embedders.names()


def gateway_embedding_models(session: Any, project_id: str) -> list[str]:
    """The project's configured gateway models (any of them may serve embeddings)."""
    from stackwright.gateway.service import read_config

    spec, _ = read_config(session, project_id)
    return sorted(model.name for model in spec.models)


def available(session: Any, project_id: str) -> list[str]:
    """Every embedder name this project may use."""
    return sorted(set(registered_names()) | set(gateway_embedding_models(session, project_id)))


def check_name(session: Any, project_id: str, name: str) -> str:
    """``"plugin"`` or ``"gateway"`` for a usable name; InvalidInput listing the available ones otherwise."""
    if name in registered_names():
        return "plugin"
    if name in gateway_embedding_models(session, project_id):
        return "gateway"
    raise InvalidInput(
        f"Unknown embedder {name!r}.",
        hint=f"Available: {', '.join(available(session, project_id))}. Other models are added to the gateway "
        "(gateway.yaml, `stackwright gateway apply`) or installed as stackwright.embedders plugins.",
        code="unknown_embedder",
    )


def check_dimensions(name: str, factory: Any, dimensions: int | None) -> int | None:
    """The dimensions a plugin will produce (None: ask it), or InvalidInput for a size it does not offer."""
    allowed = getattr(factory, "allowed_dimensions", None)
    if dimensions is None:
        return getattr(factory, "default_dimensions", None)
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= 65_536:
        raise InvalidInput(f"dimensions must be a positive integer, got {dimensions!r}.")
    if allowed and dimensions not in allowed:
        raise InvalidInput(
            f"The embedder {name!r} offers {', '.join(map(str, allowed))} dimensions, not {dimensions}.",
            hint=f"Pass --dimensions {allowed[-1]} (or leave it out for the default).",
        )
    return dimensions


@contextmanager
def open_embedder(context: EmbedContext, name: str, dimensions: int | None = None) -> Iterator[Embedder]:
    """The embedder ``name`` for ``context.project_id``; ``dimensions`` None means the embedder's own.

    InvalidInput for an unknown name or an unsupported size; the embedder is closed on exit.
    """
    with context.db.read() as session:
        kind = check_name(session, context.project_id, name)
    if kind == "plugin":
        embedder = _plugin_embedder(name, dimensions)
    else:
        embedder = _gateway_embedder(context, name, dimensions)
    try:
        yield embedder
    finally:
        embedder.close()


def probe_dimensions(context: EmbedContext, name: str, dimensions: int | None) -> int:
    """The vector size ``name`` produces (asking it once when it does not say): checks it works too."""
    with open_embedder(context, name, dimensions) as embedder:
        if not embedder.dimensions or embedder.name not in registered_names():
            embedder.embed(["dimension probe"])  # gateway models: also proves the model answers
        return embedder.dimensions


def _plugin_embedder(name: str, dimensions: int | None) -> Embedder:
    from stackwright.core import plugins

    factory = plugins.embedders.get(name)
    size = check_dimensions(name, factory, dimensions)
    try:
        impl = factory(dimensions=size)
    except Exception as exc:  # noqa: BLE001 - a plugin that cannot start, whatever the reason
        raise EmbedderFailed(f"The embedder {name!r} could not start: {type(exc).__name__}: {exc}") from None
    size = int(getattr(impl, "dimensions", 0) or size or 0)  # 0: learnt from its first answer
    batch = getattr(impl, "batch_size", None) or getattr(factory, "batch_size", None) or LOCAL_BATCH
    return Embedder(name, impl, size, batch, closer=getattr(impl, "close", None))


# -- gateway models --------------------------------------------------------------------------------


class _GatewayModel:
    """Calls one gateway model through ``Gateway.embeddings`` (the path of ``POST /v1/embeddings``).

    ``dimensions`` is sent upstream only when the model's own size differs (not every model accepts
    the parameter): the first answer tells, and the batch is asked again with it.
    """

    def __init__(self, name: str, dimensions: int | None, runner: _GatewayRunner):
        self.name = name
        self.dimensions = dimensions
        self.runner = runner
        self.send_dimensions = False

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self._call(texts)
        if self.dimensions and not self.send_dimensions and vectors.shape[1:] != (self.dimensions,):
            self.send_dimensions = True
            vectors = self._call(texts)
        return vectors

    def _call(self, texts: list[str]) -> np.ndarray:
        import numpy as np
        import orjson

        body: dict[str, Any] = {"model": self.name, "input": texts, "encoding_format": "float"}
        if self.send_dimensions:
            body["dimensions"] = self.dimensions
        payload = orjson.loads(self.runner.embeddings(body).body)
        rows = sorted(payload.get("data") or [], key=lambda item: item.get("index", 0))
        if len(rows) != len(texts):
            raise EmbedderFailed(f"The embedder {self.name!r} answered {len(rows)} vectors for {len(texts)} texts.")
        try:
            return np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbedderFailed(f"The embedder {self.name!r} answered embeddings that are not float lists: {exc}.") from None


class _GatewayRunner:
    """Runs ``gateway.embeddings`` from synchronous code: on the server's event loop from one of its
    worker threads, or on a private gateway in a background event loop (CLI and scripts)."""

    def __init__(self, context: EmbedContext):
        from stackwright.auth.actors import Caller

        self.context = context
        self.actor = context.actor or Caller(label="retrieval", project_id=context.project_id, scopes=("write",))
        if self.actor.project_id != context.project_id:
            self.actor = Caller(label=self.actor.label, project_id=context.project_id, scopes=self.actor.scopes, key_id=self.actor.key_id)
        self._portal_cm: Any = None
        self._portal: Any = None
        self._client: Any = None
        self._lock = threading.Lock()

    def embeddings(self, body: dict[str, Any]) -> Any:
        headers: dict[str, str] = {}  # no routing tags: every deployment of the model may answer
        if self.context.gateway is not None:
            import anyio.from_thread

            return anyio.from_thread.run(self.context.gateway.embeddings, self.actor, body, headers)
        portal = self._private_portal()
        return portal.call(self._client.gateway.embeddings, self.actor, body, headers)

    def _private_portal(self) -> Any:
        with self._lock:
            if self._portal is None:
                from anyio.from_thread import start_blocking_portal

                from stackwright.gateway.client import GatewayClient

                self._client = GatewayClient(self.context.db.settings, self.context.db)
                self._portal_cm = start_blocking_portal()
                self._portal = self._portal_cm.__enter__()
            return self._portal

    def close(self) -> None:
        if self._portal is None:
            return
        client, portal, manager = self._client, self._portal, self._portal_cm
        self._portal = self._client = self._portal_cm = None
        try:
            portal.call(client.aclose)
        finally:
            manager.__exit__(None, None, None)


def _gateway_embedder(context: EmbedContext, name: str, dimensions: int | None) -> Embedder:
    runner = _GatewayRunner(context)
    model = _GatewayModel(name, dimensions, runner)
    return Embedder(name, model, dimensions or 0, GATEWAY_BATCH, closer=runner.close)
