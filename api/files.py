"""Files: `POST /v1/files` streams an upload into the file store; `GET /v1/documents/{id}/files/{sha256}`
serves an attached file to those who may see the document, with ETag and Range."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable
from typing import Annotated, Any
from urllib.parse import quote, unquote

import asyncpg
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from api.auth import Principal
from api.deps import CurrentUser, FilesDep, PgPool, Pool, SettingsDep
from api.errors import Problem, declared, not_found
from api.permissions import may_see
from api.reads import record_secret_read
from deploy.config.db import Conn
from deploy.config.settings import Settings
from producers import files as records
from producers import media, store
from producers.filestore import FileStore, TooLarge, spool
from schemas.enums import AttachmentRole, DocumentKind

router = APIRouter(tags=["files"])
UPLOAD_ROLES = ("clerk", "specialist", "leader")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")
_ATTACHMENT_KEYS = {"sha256", "name", "role", "media_type", "size"}
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: declared("The file is larger than the configured limit"),
    415: declared("The content is not what Content-Type says, or is a program"),
    416: declared("The Range lies outside the file"),
}


def _file_name(raw: str | None) -> str:
    return file_name(unquote(raw or "", errors="strict") if raw else "")


def file_name(name: str) -> str:
    """A file's name as stored: 1 to 255 characters without / \\ or control codes ("file" when none)."""
    name = name.strip()
    if not name:
        return "file"
    if len(name) > 255 or any(ord(c) < 32 or c in "/\\" for c in name):
        raise Problem(
            422,
            "validation",
            "Invalid request",
            "X-File-Name: give 1 to 255 characters (percent-encoded UTF-8) without / \\ or control codes",
            errors=[{"field": "X-File-Name", "reason": "not a file name"}],
        )
    return name


_STORED = {
    "type": "object",
    "required": ["sha256", "size", "media_type", "name"],
    "properties": {
        "sha256": {"type": "string"},
        "size": {"type": "integer"},
        "media_type": {"type": "string"},
        "name": {"type": "string"},
    },
}


@router.post(
    "/v1/files",
    status_code=201,
    response_model=None,
    responses={
        201: {"description": "Stored", "content": {"application/json": {"schema": _STORED}}},
        200: {
            "description": "The same bytes were already stored",
            "content": {"application/json": {"schema": _STORED}},
        },
        **FILE_RESPONSES,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the file; Content-Type its media type, X-File-Name its name (percent-encoded)",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload(
    request: Request,
    principal: CurrentUser,
    pool: Pool,
    settings: SettingsDep,
    files: FilesDep,
    x_file_name: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Store a file (the body); answers its sha256, size, media type and name (200 if already stored)."""
    principal.require(*UPLOAD_ROLES)
    try:
        name = _file_name(x_file_name)
    except UnicodeDecodeError:
        raise Problem(
            422, "validation", "Invalid request", "X-File-Name: not percent-encoded UTF-8"
        ) from None
    # Content-Type and Content-Length are the body's own headers (HTTP checks the length), not parameters
    body, stored_now = await store_upload(
        principal,
        pool,
        settings,
        files,
        request.stream(),
        name=name,
        content_type=request.headers.get("content-type"),
        content_length=request.headers.get("content-length", ""),
    )
    return JSONResponse(body, status_code=201 if stored_now else 200)


async def store_upload(
    principal: Principal,
    pool: PgPool,
    settings: Settings,
    files: FileStore,
    chunks: AsyncIterable[bytes],
    *,
    name: str,
    content_type: str | None,
    content_length: str = "",
) -> tuple[dict[str, Any], bool]:
    """Store one uploaded file as `POST /v1/files` does (size limit, media type judged from the bytes, the
    upload recorded for the office): its sha256, size, media type and name, and whether it is new."""
    limit = settings.files_max_bytes
    too_large = Problem(413, "too-large", "File too large", f"files are limited to {limit} bytes")
    if content_length.isdigit() and int(content_length) > limit:
        raise too_large  # refused before a byte is read
    try:
        spooled = await spool(chunks, files.spool_dir, limit)
    except TooLarge:
        raise too_large from None
    try:
        media_type = media.judge(content_type, spooled.head)
    except media.Refused as refused:
        spooled.discard()
        raise Problem(415, "unsupported-media-type", "Unsupported media type", refused.reason) from None
    # The row first: it waits for a collection of the same bytes to end, and then keeps them from the next.
    try:
        async with pool.acquire() as conn:
            await records.record_upload(
                conn, spooled.sha256, spooled.size, media_type, name, principal.user, principal.office
            )
    except BaseException:
        spooled.discard()
        raise
    stored_now = await files.put(spooled)
    return {
        "sha256": spooled.sha256,
        "size": spooled.size,
        "media_type": media_type,
        "name": name,
    }, stored_now


async def with_stored_files(
    pool: PgPool | Conn, body: dict[str, Any], office: str, kind: str
) -> dict[str, Any]:
    """The body with each attachment completed from its stored file (size, media type, default name and
    role); 422 for a sha256 the office did not upload, or a size or media type that does not match."""
    raw = body.get("attachments")
    if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
        return body  # parsing names the problem
    errors: list[dict[str, str]] = []
    shas = [a.get("sha256") for a in raw]
    wanted = [s for s in shas if isinstance(s, str) and _SHA.match(s)]
    if not wanted:
        found = {}
    elif isinstance(pool, asyncpg.Pool):
        async with pool.acquire() as conn:
            found = await records.attach(conn, wanted, office)
    else:  # the action's own connection, inside its transaction
        found = await records.attach(pool, wanted, office)
    default_role = AttachmentRole.SCAN if kind == DocumentKind.INCOMING else AttachmentRole.DRAFT
    completed = []
    for i, item in enumerate(raw):
        where = f"attachments.{i}"
        for key in sorted(set(item) - _ATTACHMENT_KEYS):
            errors.append({"field": f"{where}.{key}", "reason": "unknown field"})
        sha = item.get("sha256")
        stored = found.get(sha) if isinstance(sha, str) else None
        if sha in wanted and stored is None:
            errors.append(
                {
                    "field": f"{where}.sha256",
                    "reason": "no file with this sha256 was uploaded by your office (POST /v1/files first)",
                }
            )
        if isinstance(sha, str) and shas.count(sha) > 1 and shas.index(sha) == i:
            errors.append({"field": f"{where}.sha256", "reason": "the same file is attached twice"})
        if stored is None:
            completed.append(item)
            continue
        for key, value in (("size", stored.size), ("media_type", stored.media_type)):
            if key in item and item[key] != value:
                errors.append({"field": f"{where}.{key}", "reason": f"the stored file's {key} is {value!r}"})
        completed.append(
            {
                "name": stored.name,
                "role": default_role.value,
                **item,
                "size": stored.size,
                "media_type": stored.media_type,
            }
        )
    if errors:
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        raise Problem(422, "validation", "Invalid request", detail, errors=errors)
    return {**body, "attachments": completed}


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=` range, None to send the whole file; Problem 416 when outside."""
    if header is None:
        return None
    m = _RANGE.match(header)
    if m is None:
        return None  # several ranges or another unit: the whole file is a valid answer
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> Problem:
    return Problem(
        416,
        "range-not-satisfiable",
        "Range not satisfiable",
        f"the file has {size} bytes",
        headers={"Content-Range": f"bytes */{size}"},
    )


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


@router.get("/v1/documents/{document_id}/files/{sha256}", response_model=None, responses=FILE_RESPONSES)
async def download(
    document_id: str,
    sha256: str,
    request: Request,
    principal: CurrentUser,
    pool: Pool,
    files: FilesDep,
    range_: Annotated[str | None, Header(alias="range")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    if_range: Annotated[str | None, Header()] = None,
) -> Response:
    """The bytes of a file attached to the document (Range supported; ETag is the sha256)."""
    async with pool.acquire() as conn:
        state = (await store.load(conn, document_id)).state
    doc = state.to_dict()
    if state.version == 0 or not may_see(principal, doc):
        raise not_found(f"document {document_id}")
    # an office the document is addressed to reads only what was sent to it, never drafts or scans
    attachment = next((a for a in state.attachments_for(principal.office) if a.sha256 == sha256), None)
    if attachment is None:
        raise not_found(f"file {sha256} of document {document_id}")
    await record_secret_read(pool, principal, doc, request.url.path)
    etag = f'"{sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",  # the bytes under a hash never change
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(attachment.name, safe='')}",
    }
    if _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    size = attachment.size
    wanted = _byte_range(range_, size) if if_range is None or if_range.strip() == etag else None
    if wanted is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            files.read(sha256), media_type=attachment.media_type, headers=headers, status_code=200
        )
    first, last = wanted
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(last - first + 1)
    return StreamingResponse(
        files.read(sha256, first, last + 1),
        media_type=attachment.media_type,
        headers=headers,
        status_code=206,
    )
