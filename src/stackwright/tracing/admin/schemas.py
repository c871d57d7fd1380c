"""API shapes for trace stats, scores, privacy deletes and trace settings. Inputs reject unknown fields."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, ValidationInfo, field_validator, model_validator

from stackwright.auth.schemas import Input, Output

ScoreSource = Literal["human", "api", "eval"]
ScoreType = Literal["numeric", "boolean", "categorical"]
GroupBy = Literal["none", "model", "route", "prompt_version", "environment", "user_id", "span_name"]
TraceId = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$", description="32 hex characters.")]
SpanId = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{16}$", description="16 hex characters.")]


# -- stats ----------------------------------------------------------------------------------------


class Latency(BaseModel):
    p50: float | None
    p95: float | None
    p99: float | None


class ScoreAggregate(BaseModel):
    count: int = Field(description="Scores with this name in the group.")
    mean: float | None = Field(description="Mean of numeric and boolean (0/1) values; null for categorical scores.")
    values: dict[str, int] | None = Field(default=None, description="Categorical scores: how often each value occurs.")


class StatsRow(BaseModel):
    group: str | None = Field(description="The group's value (model, route, ...); null when not grouped or unset.")
    bucket_start: datetime | None = Field(description="Start of the time bucket (UTC), when bucketed.")
    bucket_start_ns: int | None = None
    count: int
    error_count: int
    error_rate: float
    latency_ms: Latency
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float
    scores: dict[str, ScoreAggregate]


class StatsOut(BaseModel):
    group_by: GroupBy
    bucket: str | None
    start: datetime | None
    end: datetime | None
    data: list[StatsRow]


# -- scores ---------------------------------------------------------------------------------------


class ScoreCreate(Input):
    trace_id: TraceId
    span_id: SpanId | None = None
    name: str = Field(min_length=1, max_length=200)
    value: StrictBool | float | str = Field(description="A number, a boolean, or a category label (string).")
    data_type: ScoreType | None = Field(default=None, description="Inferred from the value when omitted.")
    comment: str | None = Field(default=None, max_length=10_000)
    source: ScoreSource = "api"

    @field_validator("trace_id", "span_id")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: bool | float | str) -> bool | float | str:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number (not NaN or infinity)")
        if isinstance(value, str) and not 1 <= len(value) <= 200:
            raise ValueError("a category label must have 1 to 200 characters")
        return value

    @field_validator("data_type")
    @classmethod
    def _check_type(cls, data_type: ScoreType | None, info: ValidationInfo) -> ScoreType | None:
        # A field error (not a model error), so the message names the field.
        value = info.data.get("value")
        if data_type is None or value is None:
            return data_type
        inferred = _inferred_type(value)
        if data_type == "boolean" and inferred == "numeric" and value in (0, 1):
            return data_type
        if data_type != inferred:
            raise ValueError(f"{data_type!r} does not match a {inferred} value")
        return data_type

    @model_validator(mode="after")
    def _fill_type(self) -> ScoreCreate:
        if self.data_type is None:
            self.data_type = _inferred_type(self.value)
        elif self.data_type == "boolean":
            self.value = bool(self.value)
        return self


def _inferred_type(value: bool | float | str) -> ScoreType:
    return "boolean" if isinstance(value, bool) else "categorical" if isinstance(value, str) else "numeric"


class ScoreOut(Output):
    id: int
    trace_id: str
    span_id: str | None
    name: str
    data_type: ScoreType
    value: float | bool | str = Field(description="Number, boolean or category label, as sent.")
    comment: str | None
    source: ScoreSource
    author: str
    created_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        if isinstance(data, BaseModel) or isinstance(data, dict):
            return data
        fields = {name: getattr(data, name) for name in cls.model_fields if name != "value"}
        if data.data_type == "categorical":
            fields["value"] = data.string_value
        elif data.data_type == "boolean":
            fields["value"] = bool(data.value)
        else:
            fields["value"] = data.value
        return fields


# -- privacy and settings -------------------------------------------------------------------------


class DeletedTraces(BaseModel):
    deleted_traces: int
    deleted_spans: int
    deleted_scores: int


class ModelPrice(Input):
    input_per_mtok: float = Field(ge=0, allow_inf_nan=False, description="USD per million input tokens.")
    output_per_mtok: float = Field(ge=0, allow_inf_nan=False, description="USD per million output tokens.")


class TraceSettingsIn(Input):
    """Fields you send replace the stored ones; fields you leave out are kept."""

    retention_days: int | None = Field(default=None, ge=1, le=3650, description="Keep traces this many days; null keeps them forever.")
    prices: dict[Annotated[str, Field(min_length=1, max_length=200)], ModelPrice] | None = Field(
        default=None, description="Price overrides by model name (USD per million tokens); replaces the stored map."
    )

    @field_validator("prices")
    @classmethod
    def _no_nul_in_models(cls, value: dict[str, ModelPrice] | None) -> dict[str, ModelPrice] | None:
        if value and any("\x00" in model for model in value):
            raise ValueError("model names must not contain NUL (\\u0000) characters")
        return value


class TraceSettingsOut(BaseModel):
    retention_days: int | None
    prices: dict[str, ModelPrice]
    updated_at: datetime | None
