"""Value objects and field types shared by commands, events and state."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]
RequiredText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
RegisterName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
OfficeCode = Annotated[str, StringConstraints(pattern=r"^[^\s/]{1,20}$")]


class Model(BaseModel):
    """Strict, immutable base: unknown fields are errors, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Lead(Model):
    """Who leads the handling (chủ trì): a unit or a person, exactly one."""

    unit: Id | None = None
    user: Id | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.unit is None) == (self.user is None):
            raise ValueError("give exactly one of unit or user")
        return self


class Deadline(Model):
    """A handling deadline (thời hạn giải quyết): working days from today, or a date."""

    working_days: Annotated[int, Field(ge=0, le=365)] | None = None
    date: dt.date | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.working_days is None) == (self.date is None):
            raise ValueError("give exactly one of working_days or date")
        return self


class Attachment(Model):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    media_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=255)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    size: Annotated[int, Field(ge=0)]


class Source(Model):
    """Where a delivered incoming copy came from: the issuing office and its document."""

    office_id: Id
    document_id: Id
