"""Budgets and rate limits of API keys over HTTP, and current usage per key and model.

Reading needs the read scope, changing the admin scope; keys of other projects answer 404. Usage is
what every process has flushed (at most a fraction of a second behind); this process flushes first.
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Request

from stackwright.auth.deps import AdminCaller, ReadCaller
from stackwright.core.deps import SessionDep
from stackwright.gateway.limits.schemas import KeyLimitsOut, LimitsIn, LimitsOut, UsageList, UsageOut
from stackwright.gateway.limits.stamps import wait_for_every_process

router = APIRouter(prefix="/api/v1", tags=["gateway"])


def flush_local_usage(request: Request) -> None:
    """Write this process's pending usage first: on SQLite a session's first read fixes its snapshot."""
    enforcer = getattr(request.app.state, "limits", None)
    flush = getattr(enforcer, "flush", None)
    if flush is not None:
        flush()


def usage_now(request: Request) -> float:
    """The enforcer's clock (tests move it), else the wall clock."""
    enforcer = getattr(request.app.state, "limits", None)
    clock = getattr(enforcer, "clock", None)
    return clock() if clock is not None else time.time()


@router.get("/keys/{key_id}/limits", response_model=KeyLimitsOut, summary="A key's budgets and rate limits")
def get_key_limits(key_id: str, caller: ReadCaller, session: SessionDep) -> KeyLimitsOut:
    from stackwright.auth import keys
    from stackwright.gateway.limits.service import key_limits

    key = keys.find_key(session, key_id, caller.project_id)
    return KeyLimitsOut(key_id=key.id, name=key.name, limits=LimitsOut(**key_limits(session, key).as_dict()))


@router.put("/keys/{key_id}/limits", response_model=KeyLimitsOut, summary="Set a key's budgets and rate limits")
def put_key_limits(key_id: str, body: LimitsIn, caller: AdminCaller, session: SessionDep) -> KeyLimitsOut:
    from stackwright.auth import keys
    from stackwright.gateway.limits.service import set_key_limits

    key = keys.find_key(session, key_id, caller.project_id)
    spec = set_key_limits(session, caller, key, body.model_dump(include=body.model_fields_set))
    session.commit()
    wait_for_every_process(session)  # every replica admits by the new limits before this answers
    return KeyLimitsOut(key_id=key.id, name=key.name, limits=LimitsOut(**spec.as_dict()))


@router.get("/keys/{key_id}/usage", response_model=UsageOut, summary="A key's spend and counts this minute, day and month")
def get_key_usage(key_id: str, caller: ReadCaller, session: SessionDep, request: Request) -> UsageOut:
    from stackwright.auth import keys
    from stackwright.gateway.limits.service import usage

    flush_local_usage(request)  # before the session's first read: on SQLite that read fixes its snapshot
    key = keys.find_key(session, key_id, caller.project_id)
    return UsageOut.model_validate(usage(session, key.project_id, usage_now(request), "key", key.id)[0])


@router.get("/gateway/usage", response_model=UsageList, summary="Spend and counts of every key and model, with their limits")
def get_gateway_usage(
    caller: ReadCaller, session: SessionDep, request: Request, scope: Literal["key", "model"] | None = None
) -> UsageList:
    from stackwright.gateway.limits.service import usage

    flush_local_usage(request)
    rows = usage(session, caller.project_id or "", usage_now(request), scope)
    return UsageList(data=[UsageOut.model_validate(r) for r in rows])
