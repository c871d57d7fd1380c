"""The embedded-models layer's registration. Its models are served by the `local` provider (an entry point
in the providers group, like any provider); here it only warms the embedder soon after an app starts."""

from __future__ import annotations

from stackwright.core.layers import AppContext, Layer


def _setup(ctx: AppContext) -> None:
    from stackwright.local.embedder import preload_soon

    ctx.on_start.append(preload_soon)


layer = Layer(name="local", rank=50, setup=_setup)
