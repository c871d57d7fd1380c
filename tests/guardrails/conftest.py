"""Guardrails fixtures: the gateway's fake upstream and the auth helpers."""

from tests.auth.conftest import client_for, default, make_key, other  # noqa: F401  (fixtures)
from tests.gateway.conftest import fake_upstream, fake_upstream_server  # noqa: F401  (fixtures)
