"""The delivery saga end to end: the city office issues a directive to 22 district offices; each gets
exactly one incoming copy, and as the districts handle theirs the city's deliveries show each state."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from deploy.city import successors
from deploy.config.db import create_pool
from processors.saga import copy_id, run_tasks
from processors.writeside import WriteSide
from schemas.envelope import Actor
from schemas.parsing import parse_action, parse_create
from tests.processors.conftest import Producer, Workers
from tests.toolkit import OFFICES
from tests.toolkit.waiting import wait_until
from tests.unit.lifecycle import create_body

SIGN = {"action": "sign", "signer_name": "Nguyễn Văn A", "signer_position": "Bí thư"}


async def _relay(pool: Any, producer: Producer, stop: asyncio.Event) -> None:
    """Stands in for producers' relay: publishes every stored event once, in position order."""
    published: set[int] = set()
    while not stop.is_set():
        rows = await pool.fetch(
            "SELECT position, stream_id, type, schema_version, body FROM events ORDER BY position"
        )
        for r in rows:
            if r["position"] in published:
                continue
            headers = [("type", r["type"].encode()), ("schema_version", str(r["schema_version"]).encode())]
            producer.kafka.send(
                producer.topic, key=r["stream_id"].encode(), value=bytes(r["body"]), headers=headers
            )
            published.add(r["position"])
        producer.kafka.flush()
        await asyncio.sleep(0.05)


async def test_a_directive_to_22_districts_delivers_one_copy_each_and_reports_their_states(
    workers: Workers, producer: Producer, db: Any
) -> None:
    from producers.handler import HandleRequest, handle

    offices = OFFICES
    city = next(o for o in offices if o.parent_id is None)
    districts = sorted(successors())  # the 22 former district offices, still configured
    assert len(districts) == 22 and all(d in offices for d in districts)
    pool = await create_pool(workers.dsn, max_size=8)
    stop = asyncio.Event()
    relay = asyncio.create_task(_relay(pool, producer, stop))
    workers.worker("w1", saga=True, VANTHU_PROCESSOR_CHASE_INTERVAL="3600").start()
    try:
        leader = Actor(user="u-lead", office=city.id, roles=("clerk", "leader"))
        doc = "directive-1"
        summary = "Chỉ thị về việc tổ chức đại hội chi bộ"
        body = create_body("outgoing", city.id, document_type="CT", summary=summary, urgency="khan")
        version = (
            await handle(
                pool,
                HandleRequest(parse_create(body), document_id=doc, expected_version=0, actor=leader),
                OFFICES,
            )
        ).state.version
        for action in ({"action": "submit_review"}, {"action": "review", "approve": True, "comments": ""},
                       SIGN, {"action": "issue", "recipients": districts}):  # fmt: skip
            result = await handle(
                pool,
                HandleRequest(
                    parse_action("outgoing", action), document_id=doc, expected_version=version, actor=leader
                ),
                OFFICES,
            )
            version = result.state.version

        async def delivered() -> bool:
            n = await db.fetchval(
                """SELECT count(*) FROM rm.deliveries
                   WHERE source_document_id = $1 AND copy_document_id IS NOT NULL""",
                doc,
            )
            return bool(n == 22)

        await wait_until(delivered, 60, "22 recorded deliveries")

        # The copies are other documents, applied from other partitions (by another lane, in other
        # batches): the source's deliveries can be in its read model before the last copy is in theirs.
        async def copied() -> bool:
            n = await db.fetchval("SELECT count(*) FROM rm.documents WHERE source_document_id = $1", doc)
            return bool(n == 22)

        await wait_until(copied, 60, "22 copies in the read model")
        copies = await db.fetch(
            "SELECT id, office_id, state FROM rm.documents WHERE source_document_id = $1", doc
        )
        assert sorted(c["office_id"] for c in copies) == districts
        assert {c["id"] for c in copies} == {copy_id(doc, d) for d in districts}

        # The saga runs again over the same facts (a redelivery, a restart): still one copy per district.
        await db.execute("UPDATE public.processor_tasks SET status = 'pending' WHERE kind = 'deliver'")
        ws = WriteSide(OFFICES, pool)
        await run_tasks(pool, ws)
        stored = await db.fetchval(
            """SELECT count(*) FROM events
               WHERE type = 'DocumentReceived' AND convert_from(body, 'UTF8') LIKE '%' || $1 || '%'""",
            doc,
        )
        assert stored == 22
        assert (
            await db.fetchval(
                "SELECT count(*) FROM events WHERE stream_id = $1 AND type = 'DocumentDelivered'", doc
            )
            == 22
        )

        # Each district takes its copy to a different point.
        lead = {"unit": "u1"}
        assign: dict[str, Any] = {"action": "assign", "lead": lead, "cooperating": [], "directive": "",
                                  "deadline": {"working_days": 5}}  # fmt: skip
        to_assigned: list[dict[str, Any]] = [{"action": "register"}, {"action": "submit"}, assign]
        paths: list[list[dict[str, Any]]] = [
            [],
            [{"action": "register"}],
            [{"action": "register"}, {"action": "submit"}],
            to_assigned,
            [*to_assigned, {"action": "start"}, {"action": "complete", "result": "Đã triển khai"}],
            [{"action": "return", "reason": "Gửi nhầm"}],
        ]
        expected = {}
        for i, district in enumerate(districts):
            copy = copy_id(doc, district)
            clerk = Actor(user=f"u-{district}", office=district, roles=("clerk", "leader"))
            v = 1
            state = "received"
            for action in paths[i % len(paths)]:
                r = await handle(
                    pool,
                    HandleRequest(
                        parse_action("incoming", action), document_id=copy, expected_version=v, actor=clerk
                    ),
                    OFFICES,
                )
                v, state = r.state.version, r.state.state.value
            expected[district] = state

        async def reported() -> bool:
            rows = await db.fetch(
                "SELECT office_id, state FROM rm.deliveries WHERE source_document_id = $1", doc
            )
            return {r["office_id"]: r["state"] for r in rows} == expected

        await wait_until(reported, 60, "each district's state on the city's deliveries")
        assert set(expected.values()) == {
            "received",
            "registered",
            "submitted",
            "assigned",
            "completed",
            "returned",
        }
        failed = await db.fetchval("SELECT count(*) FROM public.processor_tasks WHERE status <> 'done'")
        assert failed == 0
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await relay
        await pool.close()
