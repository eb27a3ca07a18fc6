"""Value objects and field types shared by commands, events and state."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.enums import AttachmentRole, SignatureStatus

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
IncomingType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
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


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Signer(Model):
    """One signature in a PDF: who signed, under which CA, when, and whether it covers the whole file."""

    subject: str
    issuer: str
    signed_at: dt.datetime | None = None
    covers_whole_file: bool


class SignatureCheck(Model):
    """The verification of a file's signatures on receipt (NĐ 30, Điều 21.2.a)."""

    status: SignatureStatus
    signers: tuple[Signer, ...] = ()


class Attachment(Model):
    """A file attached to a document, by the hash of its stored bytes; `signature` is set by verification."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    media_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=255)]
    sha256: Sha256
    size: Annotated[int, Field(ge=0)]
    role: AttachmentRole | None = None  # None only in events stored before files were kept
    signature: SignatureCheck | None = None


class FileSignature(Model):
    """The signature check of one attached file, as the verification records it."""

    sha256: Sha256
    signature: SignatureCheck


class Source(Model):
    """Where a delivered incoming copy came from: the issuing office and its document."""

    office_id: Id
    document_id: Id
    channel: Literal["electronic", "paper"] = (
        "electronic"  # paper: a Tối mật/Tuyệt mật copy registered by hand
    )
