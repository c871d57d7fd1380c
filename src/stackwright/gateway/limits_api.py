"""Budgets and rate limits of API keys over HTTP, and current usage per key and model.

Reading needs the read scope, changing the admin scope; keys of other projects answer 404. Usage is
what every process has flushed (at most a fraction of a second behind); this process flushes first.
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from stackwright.auth.deps import AdminCaller, ReadCaller
from stackwright.core.deps import SessionDep
from stackwright.gateway.limits_spec import MAX_RATE, MAX_USD
from stackwright.gateway.limits_stamps import wait_for_every_process

router = APIRouter(prefix="/api/v1", tags=["gateway"])


class LimitsIn(BaseModel):
    """Fields left out keep their value; null removes a limit; 0 blocks every request."""

    model_config = ConfigDict(extra="forbid", strict=True)

    daily_usd: float | None = Field(default=None, ge=0, le=MAX_USD, allow_inf_nan=False, description="USD per UTC day.")
    monthly_usd: float | None = Field(default=None, ge=0, le=MAX_USD, allow_inf_nan=False, description="USD per UTC month.")
    rpm: int | None = Field(default=None, ge=0, le=MAX_RATE, description="Requests per UTC minute.")
    tpm: int | None = Field(default=None, ge=0, le=MAX_RATE, description="Tokens (prompt + completion) per UTC minute.")


class LimitsOut(BaseModel):
    daily_usd: float | None
    monthly_usd: float | None
    rpm: int | None
    tpm: int | None


class KeyLimitsOut(BaseModel):
    key_id: str
    name: str
    limits: LimitsOut


class PeriodUsage(BaseModel):
    start: str = Field(description="Start of the UTC period (ISO 8601).")
    resets_at: str = Field(description="When the period ends and its counters start again from 0.")
    usd: float
    requests: int
    tokens: int


class UsagePeriods(BaseModel):
    minute: PeriodUsage
    day: PeriodUsage
    month: PeriodUsage


class UsageOut(BaseModel):
    scope: Literal["key", "model"]
    subject: str = Field(description="The key id or the model name.")
    name: str
    limits: LimitsOut
    usage: UsagePeriods


class UsageList(BaseModel):
    data: list[UsageOut]


def _flush_local_usage(request: Request) -> None:
    enforcer = getattr(request.app.state, "limits", None)
    flush = getattr(enforcer, "flush", None)
    if flush is not None:
        flush()


def _now(request: Request) -> float:
    enforcer = getattr(request.app.state, "limits", None)
    clock = getattr(enforcer, "clock", None)
    return clock() if clock is not None else time.time()


@router.get("/keys/{key_id}/limits", response_model=KeyLimitsOut, summary="A key's budgets and rate limits")
def get_key_limits(key_id: str, caller: ReadCaller, session: SessionDep) -> KeyLimitsOut:
    from stackwright.auth import keys
    from stackwright.gateway.limits_service import key_limits

    key = keys.find_key(session, key_id, caller.project_id)
    return KeyLimitsOut(key_id=key.id, name=key.name, limits=LimitsOut(**key_limits(session, key).as_dict()))


@router.put("/keys/{key_id}/limits", response_model=KeyLimitsOut, summary="Set a key's budgets and rate limits")
def put_key_limits(key_id: str, body: LimitsIn, caller: AdminCaller, session: SessionDep) -> KeyLimitsOut:
    from stackwright.auth import keys
    from stackwright.gateway.limits_service import set_key_limits

    key = keys.find_key(session, key_id, caller.project_id)
    spec = set_key_limits(session, caller, key, body.model_dump(include=body.model_fields_set))
    session.commit()
    wait_for_every_process(session)  # every replica admits by the new limits before this answers
    return KeyLimitsOut(key_id=key.id, name=key.name, limits=LimitsOut(**spec.as_dict()))


@router.get("/keys/{key_id}/usage", response_model=UsageOut, summary="A key's spend and counts this minute, day and month")
def get_key_usage(key_id: str, caller: ReadCaller, session: SessionDep, request: Request) -> UsageOut:
    from stackwright.auth import keys
    from stackwright.gateway.limits_service import usage

    _flush_local_usage(request)  # before the session's first read: on SQLite that read fixes its snapshot
    key = keys.find_key(session, key_id, caller.project_id)
    return UsageOut.model_validate(usage(session, key.project_id, _now(request), "key", key.id)[0])


@router.get("/gateway/usage", response_model=UsageList, summary="Spend and counts of every key and model, with their limits")
def get_gateway_usage(
    caller: ReadCaller, session: SessionDep, request: Request, scope: Literal["key", "model"] | None = None
) -> UsageList:
    from stackwright.gateway.limits_service import usage

    _flush_local_usage(request)
    rows = usage(session, caller.project_id or "", _now(request), scope)
    return UsageList(data=[UsageOut.model_validate(r) for r in rows])
