"""The one error model: every failure is application/problem+json (RFC 9457) with a machine `type`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import deps
from api.auth import Forbidden, Unauthenticated
from api.document_body import document_body
from deploy.config.offices import UnknownOffice
from producers.errors import (
    DocumentNotFound,
    IdempotencyKeyReused,
    OfficeClosed,
    OfficeNotOpen,
    VersionConflict,
)
from schemas.decider import DomainError
from schemas.parsing import CommandInvalid

log = logging.getLogger("vanthu.api")
PROBLEM = "application/problem+json"


class ProblemBody(BaseModel):
    """RFC 9457 problem details, as every error answer carries them."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None


def declared(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": ProblemBody.model_json_schema()}}}


# What the OpenAPI document declares for every /v1 route, so clients (and schemathesis) know the errors.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: declared("Malformed header or parameter"),
    401: declared("No token, or a token that does not verify"),
    403: declared("Valid token, not allowed"),
    404: declared("Not found, or not visible to the caller"),
    409: declared("The document's version moved on; the answer carries the current document"),
    413: declared("The request body is larger than the configured limit"),
    422: declared("Invalid body or parameters, or an action not allowed in the document's state"),
    428: declared("If-Match is required"),
    504: declared("The read models did not reach the requested position in time"),
}


class Problem(Exception):
    """An error answer: raise it anywhere in a route."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.status, self.slug, self.title, self.detail, self.extra = status, slug, title, detail, extra
        self.headers = headers
        super().__init__(detail)


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"{what} does not exist or is not visible to you")


def problem_response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
        out.append({"field": ".".join(loc) or "body", "reason": str(e.get("msg", "invalid"))})
    return out


def _unparsable_body(cause: BaseException | None) -> str | None:
    """What is wrong with a body FastAPI could not parse (it says only "error parsing the body")."""
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not valid UTF-8: byte 0x{cause.object[cause.start]:02x} at offset {cause.start}"
    if isinstance(cause, RecursionError):
        return "the body is nested too deeply"
    return None


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into a problem response."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.slug, exc.title, exc.detail, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem_response(request, 422, "validation", "Invalid request", detail, errors=errors)

    @app.exception_handler(CommandInvalid)
    async def _command_invalid(request: Request, exc: CommandInvalid) -> JSONResponse:
        errors = [{"field": e.field, "reason": e.reason} for e in exc.errors]
        return problem_response(request, 422, "validation", "Invalid request", str(exc), errors=errors)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(
            request,
            422,
            "action-not-allowed",
            "Action not allowed",
            str(exc),
            state=exc.state.value if exc.state is not None else None,
            allowed_actions=list(exc.allowed),
        )

    @app.exception_handler(VersionConflict)
    async def _conflict(request: Request, exc: VersionConflict) -> JSONResponse:
        body = document_body(exc.state, await deps.offices(request), await deps.settings(request))
        return problem_response(
            request,
            409,
            "version-conflict",
            "Version conflict",
            f"the document is at version {exc.current_version}, not {exc.expected_version}; "
            "reload it and try again",
            headers={"ETag": f'"{exc.current_version}"'},
            current_version=exc.current_version,
            document=body,
        )

    @app.exception_handler(IdempotencyKeyReused)
    async def _key_reused(request: Request, exc: IdempotencyKeyReused) -> JSONResponse:
        return problem_response(request, 422, "idempotency-key-reused", "Idempotency key reused", str(exc))

    @app.exception_handler(DocumentNotFound)
    async def _missing(request: Request, exc: DocumentNotFound) -> JSONResponse:
        p = not_found(f"document {exc.document_id}")
        return problem_response(request, p.status, p.slug, p.title, p.detail)

    @app.exception_handler(UnknownOffice)
    async def _office(request: Request, exc: UnknownOffice) -> JSONResponse:
        return problem_response(request, 422, "unknown-office", "Unknown office", str(exc))

    @app.exception_handler(OfficeClosed)
    async def _closed(request: Request, exc: OfficeClosed) -> JSONResponse:
        return problem_response(
            request,
            422,
            "office-closed",
            "Office closed",
            str(exc),
            office_id=exc.office_id,
            closed_on=exc.closed_on.isoformat(),
            successors=list(exc.successors),
        )

    @app.exception_handler(OfficeNotOpen)
    async def _not_open(request: Request, exc: OfficeNotOpen) -> JSONResponse:
        return problem_response(
            request,
            422,
            "office-not-open",
            "Office not open yet",
            str(exc),
            office_id=exc.office_id,
            opened_on=exc.opened_on.isoformat(),
        )

    @app.exception_handler(Unauthenticated)
    async def _unauth(request: Request, exc: Unauthenticated) -> JSONResponse:
        return problem_response(
            request,
            401,
            "unauthenticated",
            "Unauthenticated",
            str(exc),
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return problem_response(request, 403, "forbidden", "Forbidden", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        detail = _unparsable_body(exc.__cause__) or str(exc.detail)
        return problem_response(request, exc.status_code, slug, str(exc.detail), detail)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request, 500, "internal", "Internal error", "the server failed; the request id is in the logs"
        )
