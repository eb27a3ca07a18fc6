"""Examining an attached file off the request path: its text into the search index (PDFs), and the
verification of its signatures recorded on an incoming document."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import asyncpg

from processors.signatures import verify
from processors.writeside import WriteSide, system_actor
from producers.handler import HandleRequest
from schemas.commands import RecordSignatures
from schemas.values import FileSignature

log = logging.getLogger(__name__)
PDF = "application/pdf"


def pdf_text(data: bytes) -> str:
    """The text layer of a PDF ("" for a scan without one, or a PDF pypdf cannot read)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        log.info("no text from a PDF: %r", exc)
        return ""


async def index_text(pool: asyncpg.Pool[Any], sha256: str, data: bytes) -> None:
    if await pool.fetchval("SELECT 1 FROM public.file_texts WHERE sha256 = $1", sha256):
        return  # the same bytes attached elsewhere: indexed once
    text = (await asyncio.to_thread(pdf_text, data)).replace("\x00", "")
    await pool.execute(
        """INSERT INTO public.file_texts (sha256, characters, search)
           VALUES ($1, $2, to_tsvector('public.vn', $3)) ON CONFLICT (sha256) DO NOTHING""",
        sha256,
        len(text),
        text,
    )


async def check_file(pool: asyncpg.Pool[Any], ws: WriteSide, payload: dict[str, Any]) -> None:
    """Index a PDF's text and, for an incoming document, record the verification of its signatures."""
    if ws.files is None:
        log.warning("no file store configured: file %s is not examined", payload["sha256"])
        return
    sha256 = payload["sha256"]
    is_pdf = payload.get("media_type") == PDF
    data = b"".join([chunk async for chunk in ws.files.read(sha256)]) if is_pdf else b""
    if is_pdf:
        await index_text(pool, sha256, data)
    if payload.get("verify"):
        check = await asyncio.to_thread(verify, data, ws.trust_roots)  # not_pdf for anything else
        command = RecordSignatures(results=(FileSignature(sha256=sha256, signature=check),))
        await ws.handle(
            HandleRequest(
                command,
                document_id=payload["document_id"],
                expected_version=None,
                actor=system_actor(payload["office_id"]),
            ),
        )
