"""`GET /v1/offices/{office}/feed`: Server-Sent Events, one per change the office sees, resumable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from api.auth import Principal
from api.deps import CurrentUser, OfficesDep, PgPool, Pool
from api.errors import PROBLEM_RESPONSES, declared
from api.feed_hub import FeedHub, Subscription
from api.office_reads import OfficeId, viewer_for
from api.reads import record_secret_reads
from processors import queries
from processors.queries import Viewer

router = APIRouter(prefix="/v1/offices/{office}", tags=["feed"])
HEARTBEAT_S = 15.0
REPLAY_LIMIT = 1000


def _frame(row: dict[str, Any]) -> bytes:
    data = json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {row['seq']}\nevent: change\ndata: {data}\n\n".encode()


async def _visible_frames(
    pool: PgPool, viewer: Viewer, items: list[dict[str, Any]]
) -> tuple[bytes, dict[str, str | None]]:
    """The frames of the items the viewer may see, judged on each document as it is now (an old feed row
    keeps the secrecy its document had then); and the documents shown with their secrecy now."""
    async with pool.acquire() as conn:
        seen = await queries.visible_ids(conn, (i["document_id"] for i in items), viewer)
    return b"".join(_frame(i) for i in items if i["document_id"] in seen), seen


async def _stream(
    request: Request,
    pool: PgPool,
    hub: FeedHub,
    sub: Subscription,
    viewer: Viewer,
    principal: Principal,
    after: int,
) -> AsyncIterator[bytes]:
    """Replay from the table past `after`, then the hub's notes; the table again after any gap."""
    office = viewer.office_id
    logged: set[str] = set()  # documents this stream has recorded in the secret-read log
    try:
        yield b": vanthu feed\nretry: 2000\n\n"
        last = after
        while not await request.is_disconnected():
            items: list[dict[str, Any]] = []
            if sub.behind:  # read what the table holds past `last`: the replay, or a gap notes left
                sub.behind = False
                sub.items.clear()  # whatever they held is in the table too
                async with pool.acquire() as conn:
                    rows = await conn.fetch(
                        "SELECT seq, payload FROM feed WHERE office_id = $1 AND seq > $2 "
                        "ORDER BY seq LIMIT $3",
                        office,
                        last,
                        REPLAY_LIMIT,
                    )
                items = [{**r["payload"], "seq": r["seq"]} for r in rows]
                sub.behind = sub.behind or len(rows) == REPLAY_LIMIT
            elif sub.items:
                # Everything already queued goes out in one write: one frame per pass of this loop fell
                # behind the changes (seconds, then tens of seconds) when the API was busy with writes.
                expected = last + 1
                while sub.items and not sub.behind:
                    item = sub.items.popleft()
                    if item["seq"] == expected:
                        items.append(item)
                        expected += 1
                    elif item["seq"] > expected:
                        sub.fall_behind()  # a gap: the table has it; later queued items are read from there
            else:
                if not await sub.wait_news(HEARTBEAT_S):
                    yield b": keep-alive\n\n"
                continue
            if items:
                last = items[-1]["seq"]
                frames, shown = await _visible_frames(pool, viewer, items)
                new = [(d, level) for d, level in shown.items() if d not in logged]  # once per stream
                await record_secret_reads(pool, principal, new, request.url.path)
                logged.update(d for d, _ in new)
                if frames:
                    yield frames
    finally:
        hub.close(sub)


@router.get(
    "/feed",
    response_class=StreamingResponse,
    responses={**PROBLEM_RESPONSES, 429: declared("Too many live feed streams (per user or in all)")},
)
async def feed(
    office: OfficeId,
    request: Request,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="resume after this event id (like Last-Event-ID)")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: a `change` event per change the office sees; resumable with Last-Event-ID."""
    viewer = viewer_for(principal, office, offices)
    hub: FeedHub = request.app.state.feed_hub
    start = after or 0
    if last_event_id is not None and last_event_id.strip().isdigit() and len(last_event_id.strip()) <= 18:
        start = int(last_event_id.strip())
    if last_event_id is None and after is None:
        async with pool.acquire() as conn:  # a new client starts from now, not from the beginning
            start = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM feed WHERE office_id = $1", office)
    sub = hub.open(principal.user, office)  # 429 past the per-user or overall limit
    try:
        await hub.listen()
    except BaseException:
        hub.close(sub)
        raise
    return StreamingResponse(
        _stream(request, pool, hub, sub, viewer, principal, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        # also when the client left before the stream began (its generator's `finally` never runs then)
        background=BackgroundTask(_release, hub, sub),
    )


async def _release(hub: FeedHub, sub: Subscription) -> None:
    hub.close(sub)
