"""`GET /v1/offices/{office}/feed`: Server-Sent Events, one per change the office sees, resumable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import Principal
from api.deps import CurrentUser, OfficesDep, Pool, SettingsDep
from api.office_reads import OfficeId, viewer_for
from deploy.config.db import connect
from processors import queries
from processors.feed import FEED_CHANNEL
from processors.queries import Viewer

router = APIRouter(prefix="/v1/offices/{office}", tags=["feed"])
HEARTBEAT_S = 15.0
REPLAY_LIMIT = 1000


def _frame(row: dict[str, Any]) -> bytes:
    data = json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {row['seq']}\nevent: change\ndata: {data}\n\n".encode()


async def _may_see(conn: Any, viewer: Viewer, principal: Principal, item: dict[str, Any]) -> bool:
    if item.get("secrecy") in (None, "thuong") or principal.cleared_for(item.get("secrecy")):
        return True
    return await queries.get_document(conn, item["document_id"], viewer) is not None


async def _stream(
    request: Request, dsn: str, viewer: Viewer, principal: Principal, after: int
) -> AsyncIterator[bytes]:
    office = viewer.office_id
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_note(_conn: object, _pid: int, _channel: str, payload: object) -> None:
        item = json.loads(str(payload))  # a NOTIFY payload is text
        if item.get("office_id") == office:
            queue.put_nowait(item)

    conn = await connect(dsn)  # its own connection: a long-lived stream must not hold a pool slot
    try:
        await conn.add_listener(FEED_CHANNEL, on_note)  # listen first, then replay: nothing falls between
        yield b": vanthu feed\nretry: 2000\n\n"
        last, behind = after, True
        while not await request.is_disconnected():
            if behind:  # read what the table holds past `last`: the replay, or a gap notifications left
                rows = await conn.fetch(
                    "SELECT seq, payload FROM feed WHERE office_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    office,
                    last,
                    REPLAY_LIMIT,
                )
                for r in rows:
                    item = {**r["payload"], "seq": r["seq"]}
                    if await _may_see(conn, viewer, principal, item):
                        yield _frame(item)
                    last = r["seq"]
                behind = len(rows) == REPLAY_LIMIT
                continue
            try:
                items = [await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)]
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            # Everything already queued goes out in one write: one frame per pass of this loop fell
            # behind the changes (seconds, then tens of seconds) when the API was busy with writes.
            while not queue.empty():
                items.append(queue.get_nowait())
            frames = []
            for item in items:
                if item["seq"] == last + 1:
                    if await _may_see(conn, viewer, principal, item):
                        frames.append(_frame(item))
                    last = item["seq"]
                elif item["seq"] > last + 1:
                    behind = True  # a gap: the table has it; later queued items are read from there too
                    break
            if frames:
                yield b"".join(frames)
    finally:
        await conn.close()


@router.get("/feed", response_class=StreamingResponse)
async def feed(
    office: OfficeId,
    request: Request,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="resume after this event id (like Last-Event-ID)")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: a `change` event per change the office sees; resumable with Last-Event-ID."""
    viewer = viewer_for(principal, office, offices)
    start = after or 0
    if last_event_id is not None and last_event_id.strip().isdigit() and len(last_event_id.strip()) <= 18:
        start = int(last_event_id.strip())
    if last_event_id is None and after is None:
        async with pool.acquire() as conn:  # a new client starts from now, not from the beginning
            start = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM feed WHERE office_id = $1", office)
    return StreamingResponse(
        _stream(request, settings.app_dsn, viewer, principal, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
