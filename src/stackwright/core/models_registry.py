"""Imports every layer's tables so Alembic and tests see the whole schema."""

from __future__ import annotations

from sqlalchemy import MetaData


def target_metadata() -> MetaData:
    from stackwright.auth import models as _auth  # noqa: F401
    from stackwright.core import meta as _meta  # noqa: F401
    from stackwright.core.db import Base
    from stackwright.datasets import models as _datasets  # noqa: F401
    from stackwright.evals import models as _evals  # noqa: F401
    from stackwright.gateway import limit_models as _gateway_limits  # noqa: F401
    from stackwright.gateway import models as _gateway  # noqa: F401
    from stackwright.guardrails import models as _guardrails  # noqa: F401
    from stackwright.jobs import models as _jobs  # noqa: F401
    from stackwright.monitoring import alerts as _alerts  # noqa: F401
    from stackwright.prompts import models as _prompts  # noqa: F401
    from stackwright.releases import models as _releases  # noqa: F401
    from stackwright.retrieval import models as _retrieval  # noqa: F401
    from stackwright.tracing import models as _tracing  # noqa: F401

    return Base.metadata
