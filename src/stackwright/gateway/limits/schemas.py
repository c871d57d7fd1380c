"""API shapes of key limits and usage. Inputs reject unknown fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stackwright.gateway.limits.spec import MAX_RATE, MAX_USD


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
