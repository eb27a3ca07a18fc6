"""`handle` against a real database: versions, idempotency, numbering, warnings, snapshots, the role."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from deploy.config.db import create_pool
from producers.errors import DocumentNotFound, IdempotencyKeyReused, VersionConflict
from producers.handler import SPARE_CONNECTIONS, HandleRequest, WritePath, handle
from producers.store import Stream, load
from schemas.decider import DomainError
from schemas.parsing import parse_action, parse_create
from tests.producers.conftest import ASSIGN, CLERK, INCOMING, NOW, OUTGOING, TASK, act, create, new_id
from tests.toolkit import OFFICES

pytestmark = pytest.mark.timeout(120)


async def test_create_then_act_appends_with_versions_and_positions(pool: asyncpg.Pool[Any]) -> None:
    created = await create(pool, INCOMING)
    assert created.state.version == 1 and len(created.events) == 1 and not created.replayed
    registered = await act(pool, created, {"action": "register"})
    assert registered.state.incoming_number == 1
    assert registered.position > created.position
    assert [e.version for e in registered.events] == [2]


async def test_stale_version_missing_document_and_second_creation_are_refused(
    pool: asyncpg.Pool[Any],
) -> None:
    created = await create(pool, TASK)
    await act(pool, created, ASSIGN)
    with pytest.raises(VersionConflict) as conflict:
        await act(pool, created, {"action": "cancel", "reason": "Không cần nữa"})
    assert conflict.value.current_version == 2 and conflict.value.state.version == 2
    with pytest.raises(VersionConflict):
        await create(pool, TASK, document_id=created.state.id)
    with pytest.raises(DocumentNotFound):
        await handle(
            pool,
            HandleRequest(
                parse_action("task", {"action": "cancel", "reason": "x"}),
                document_id=new_id(),
                expected_version=None,
                actor=CLERK,
            ),
            OFFICES,
        )
    with pytest.raises(DomainError):
        await act(pool, created.__class__(**{**created.__dict__, "state": conflict.value.state}), ASSIGN)


async def test_same_key_same_command_appends_once_and_a_different_command_is_refused(
    pool: asyncpg.Pool[Any], admin: asyncpg.Connection[Any]
) -> None:
    created = await create(pool, TASK, idempotency_key="k-create")
    again = await create(pool, TASK, document_id=created.state.id, idempotency_key="k-create")
    assert again.replayed and again.events == [] and again.state == created.state
    assert again.position == created.position

    retries = await asyncio.gather(
        *(act(pool, created, ASSIGN, idempotency_key="k-assign") for _ in range(8))
    )
    assert sum(not r.replayed for r in retries) == 1
    assert {r.state.version for r in retries} == {2}
    assert await admin.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", created.state.id) == 2

    with pytest.raises(IdempotencyKeyReused):
        await act(pool, created, {**ASSIGN, "directive": "Khác"}, idempotency_key="k-assign")


async def test_fifty_concurrent_writers_one_success_per_version(
    pool: asyncpg.Pool[Any], admin: asyncpg.Connection[Any]
) -> None:
    created = await create(pool, TASK)
    assigned = await act(pool, created, ASSIGN)
    rounds, writers = 6, 50
    current = assigned
    for round_ in range(rounds):

        async def attempt(i: int, at: Any = current, r: int = round_) -> Any:
            try:
                return await act(pool, at, {"action": "report_progress", "percent": r, "note": f"w{i}"})
            except VersionConflict as exc:
                return exc

        outcomes = await asyncio.gather(*(attempt(i) for i in range(writers)))
        wins = [o for o in outcomes if not isinstance(o, VersionConflict)]
        conflicts = [o for o in outcomes if isinstance(o, VersionConflict)]
        assert len(wins) == 1 and len(conflicts) == writers - 1
        assert {c.current_version for c in conflicts} == {current.state.version + 1}
        current = wins[0]
    rows = await admin.fetch(
        "SELECT version FROM events WHERE stream_id = $1 ORDER BY position", created.state.id
    )
    assert [r["version"] for r in rows] == list(range(1, 3 + rounds))


async def test_none_expected_version_retries_until_it_lands(pool: asyncpg.Pool[Any]) -> None:
    created = await create(pool, TASK)
    assigned = await act(pool, created, ASSIGN)

    async def system(i: int) -> Any:
        command = parse_action("task", {"action": "report_progress", "percent": i % 100})
        return await handle(
            pool,
            HandleRequest(command, document_id=created.state.id, expected_version=None, actor=CLERK),
            OFFICES,
        )

    results = await asyncio.gather(*(system(i) for i in range(20)))
    assert sorted(r.state.version for r in results) == list(range(3, 23))
    async with pool.acquire() as conn:
        assert (await load(conn, assigned.state.id)).state.version == 22


async def test_twenty_concurrent_registrations_number_one_to_twenty(pool: asyncpg.Pool[Any]) -> None:
    received = [await create(pool, {**INCOMING, "number_code": f"{i}-CV/BTCTW"}) for i in range(20)]
    registered = await asyncio.gather(*(act(pool, r, {"action": "register"}) for r in received))
    assert sorted(r.state.incoming_number or 0 for r in registered) == list(range(1, 21))


async def test_a_rolled_back_registration_gives_its_number_back(
    pool: asyncpg.Pool[Any], app_dsn: str
) -> None:
    first, second = await create(pool, INCOMING), await create(pool, {**INCOMING, "number_code": "9-CV/X"})
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        taken = await act(conn, first, {"action": "register"})
        assert taken.state.incoming_number == 1
        await tx.rollback()
    again = await act(pool, second, {"action": "register"})
    assert again.state.incoming_number == 1


async def test_secret_documents_have_their_own_series(pool: asyncpg.Pool[Any]) -> None:
    plain = await act(pool, await create(pool, INCOMING), {"action": "register"})
    secret = await act(
        pool,
        await create(pool, {**INCOMING, "secrecy": "mat", "number_code": "1-CV/M"}),
        {"action": "register"},
    )
    plain2 = await act(
        pool, await create(pool, {**INCOMING, "number_code": "2-CV/X"}), {"action": "register"}
    )
    assert (plain.state.incoming_number, secret.state.incoming_number, plain2.state.incoming_number) == (
        1,
        1,
        2,
    )


async def test_issuing_numbers_with_the_office_code(pool: asyncpg.Pool[Any]) -> None:
    doc = await create(pool, OUTGOING)
    for body in (
        {"action": "submit_review"},
        {"action": "review", "approve": True},
        {"action": "sign", "signer_name": "Nguyễn Văn A", "signer_position": "Phó Bí thư"},
    ):
        doc = await act(pool, doc, body)
    issued = await act(pool, doc, {"action": "issue", "recipients": ["qu-1", "hu-cu-chi"]})
    assert issued.state.outgoing_number == 1 and issued.state.number_code == "01-CV/TU"


async def test_a_document_received_twice_by_one_office_is_accepted_with_a_warning(
    pool: asyncpg.Pool[Any],
) -> None:
    first = await create(pool, INCOMING)
    assert first.warnings == []
    spaced = {**INCOMING, "number_code": " 125-cv/btctu ", "issuing_body": "ban tổ chức  Thành ủy"}
    second = await create(pool, spaced)
    assert len(second.warnings) == 1 and second.duplicates == [first.state.id]
    assert first.state.id not in second.warnings[0]  # the API names only those the caller may see
    elsewhere = await create(pool, {**INCOMING, "office_id": "qu-1"})
    assert elsewhere.warnings == []


async def test_long_streams_load_from_snapshots_to_the_same_state(
    pool: asyncpg.Pool[Any], admin: asyncpg.Connection[Any]
) -> None:
    doc = await act(pool, await create(pool, TASK), ASSIGN)
    for i in range(230):
        doc = await act(pool, doc, {"action": "report_progress", "percent": i % 101})
    versions = await admin.fetch("SELECT version FROM snapshots WHERE stream_id = $1", doc.state.id)
    assert sorted(r["version"] for r in versions) == [100, 200]
    async with pool.acquire() as conn:
        assert (await load(conn, doc.state.id)).state == doc.state
        at_150 = await load(conn, doc.state.id, up_to=150)
    assert at_150.state.version == 150


async def test_the_services_role_cannot_change_events_and_the_owner_is_stopped_by_a_trigger(
    pool: asyncpg.Pool[Any], admin: asyncpg.Connection[Any]
) -> None:
    await create(pool, TASK)
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE events SET type = 'X'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM events")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM anchors")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await admin.execute("DELETE FROM events")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await admin.execute("TRUNCATE events")


def test_commands_are_parsed_once_for_the_fixtures() -> None:
    assert parse_create(TASK).action == "create"
    assert NOW.tzinfo is not None


async def test_a_command_that_decides_nothing_appends_nothing_and_answers_the_current_state(
    pool: asyncpg.Pool[Any],
) -> None:
    secret = await create(pool, {**INCOMING, "secrecy": "mat"})
    granted = await act(pool, secret, {"action": "grant_access", "user": "cv.an"})
    assert [e.type for e in granted.events] == ["AccessGranted"]
    again = await act(pool, granted, {"action": "grant_access", "user": "cv.an"})  # already granted
    assert again.events == [] and again.state.version == granted.state.version
    assert again.position == granted.position
    assert (await load(pool, secret.state.id)).state.version == 2


async def test_only_system_events_since_the_version_seen_are_no_conflict(pool: asyncpg.Pool[Any]) -> None:
    from schemas.envelope import SYSTEM_ACTOR

    secret = await create(pool, {**INCOMING, "secrecy": "mat"})
    await handle(  # the system appends (here a grant) after the clerk loaded version 1
        pool,
        HandleRequest(
            parse_action("incoming", {"action": "grant_access", "user": "cv.an"}),
            document_id=secret.state.id,
            expected_version=None,
            actor=SYSTEM_ACTOR,
        ),
        OFFICES,
    )
    registered = await act(pool, secret, {"action": "register"})  # If-Match 1, the store is at 2
    assert registered.state.version == 3 and registered.state.incoming_number is not None
    with pytest.raises(VersionConflict) as stale:  # a person acted since version 2: that is a conflict
        await handle(
            pool,
            HandleRequest(
                parse_action("incoming", {"action": "submit"}),
                document_id=secret.state.id,
                expected_version=2,
                actor=CLERK,
            ),
            OFFICES,
        )
    assert stale.value.current_version == 3


async def test_a_lagging_clock_never_stamps_an_event_before_the_one_before_it(
    pool: asyncpg.Pool[Any],
) -> None:
    from datetime import timedelta

    doc = await create(pool, TASK)  # at NOW
    behind = await act(pool, doc, ASSIGN, now=NOW - timedelta(hours=3))  # another host, its clock behind
    [event] = behind.events
    assert event.occurred_at == NOW


async def test_two_write_paths_with_their_own_caches_one_winner_per_version(
    pool: asyncpg.Pool[Any], admin: asyncpg.Connection[Any]
) -> None:
    """Two processes' write paths (each with its state cache) racing on one document: the unique
    (stream, version) constraint stays the arbiter, whatever each cache holds."""
    paths = [WritePath(pool), WritePath(pool)]
    created = await create(paths[0], TASK)
    current = await act(paths[1], created, ASSIGN)
    for round_ in range(5):

        async def attempt(i: int, at: Any = current, r: int = round_) -> Any:
            try:
                body = {"action": "report_progress", "percent": r, "note": f"w{i}"}
                return await act(paths[i % 2], at, body)
            except VersionConflict as exc:
                return exc

        outcomes = await asyncio.gather(*(attempt(i) for i in range(20)))
        wins = [o for o in outcomes if not isinstance(o, VersionConflict)]
        assert len(wins) == 1
        current = wins[0]
    rows = await admin.fetch(
        "SELECT version FROM events WHERE stream_id = $1 ORDER BY position", created.state.id
    )
    assert [r["version"] for r in rows] == list(range(1, 8))
    async with pool.acquire() as conn:
        assert (await load(conn, created.state.id)).state == current.state


async def test_a_cache_entry_behind_the_store_or_not_from_it_is_read_past(pool: asyncpg.Pool[Any]) -> None:
    mine, other = WritePath(pool), WritePath(pool)
    created = await create(mine, TASK)
    assigned = await act(mine, created, ASSIGN)  # mine keeps v2
    progressed = await act(other, assigned, {"action": "report_progress", "percent": 10, "note": "n"})
    # mine still holds v2: it reads v3 from the store and acts on v3
    done = await act(mine, progressed, {"action": "report_progress", "percent": 20, "note": "m"})
    assert done.state.version == 4
    async with pool.acquire() as conn:
        assert (await load(conn, created.state.id)).state == done.state

    # an entry whose hash the store does not hold (another database's, or a rewritten one) is not used
    kept = mine.cache.get(created.state.id)
    assert kept is not None and kept.state.version == 4
    forged = kept.state.model_copy(update={"title": "Không phải của kho"})
    mine.cache.put(Stream(forged, b"\x00" * 32, kept.last_position))
    after = await act(mine, done, {"action": "report_progress", "percent": 30, "note": "o"})
    assert after.state.title == done.state.title != "Không phải của kho"


async def test_an_action_at_the_cached_version_is_answered_as_the_store_holds_it(
    pool: asyncpg.Pool[Any], admin: asyncpg.Connection[Any]
) -> None:
    """An action whose expected version is the one this process last wrote is decided on its cached
    state without reading the stream; where the store moved on meanwhile, the answer is the store's."""
    from schemas.envelope import SYSTEM_ACTOR

    mine, other = WritePath(pool), WritePath(pool)
    secret = await create(mine, {**INCOMING, "secrecy": "mat"})  # mine caches v1
    grant = parse_action("incoming", {"action": "grant_access", "user": "cv.an"})
    await handle(  # the system appends v2 through the other process
        other,
        HandleRequest(grant, document_id=secret.state.id, expected_version=None, actor=SYSTEM_ACTOR),
        OFFICES,
    )
    registered = await act(mine, secret, {"action": "register"})  # at v1, mine's cache: v2 is taken
    assert registered.state.version == 3 and registered.state.access == ("cv.an",)
    submitted = await act(other, registered, {"action": "submit"})  # a person acts on v3 elsewhere
    # refused on mine's cached v3 as on the store's v4; the store's answer is the conflict
    with pytest.raises(VersionConflict) as stale:
        await act(mine, registered, {"action": "decide_extension", "approve": True})
    assert stale.value.current_version == 4 and stale.value.state == submitted.state
    rows = await admin.fetch(
        "SELECT version, prev_hash, hash FROM events WHERE stream_id = $1 ORDER BY version", secret.state.id
    )
    assert [r["version"] for r in rows] == [1, 2, 3, 4]
    assert all(bytes(b["prev_hash"]) == bytes(a["hash"]) for a, b in itertools.pairwise(rows))
    done = await act(mine, submitted, {"action": "mark_for_info"})  # mine catches up and writes v5
    async with pool.acquire() as conn:
        assert (await load(conn, secret.state.id)).state == done.state


async def test_prepare_sees_the_loaded_document_and_its_refusal_writes_nothing(
    pool: asyncpg.Pool[Any], admin: asyncpg.Connection[Any]
) -> None:
    path = WritePath(pool)
    created = await create(path, TASK)
    seen: list[int] = []

    async def refuse(state: Any, conn: Any) -> Any:
        seen.append(state.version)
        raise PermissionError("not yours")

    async def allow(state: Any, conn: Any) -> Any:
        seen.append(state.version)
        return parse_action("task", ASSIGN)

    request = HandleRequest(refuse, document_id=created.state.id, expected_version=1, actor=CLERK, now=NOW)
    with pytest.raises(PermissionError):
        await handle(path, request, OFFICES)
    assert await admin.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", created.state.id) == 1
    result = await handle(path, replace(request, command=allow), OFFICES)
    assert result.state.version == 2 and seen == [1, 1]


async def test_actions_take_their_turns_at_a_connection_in_the_order_they_asked(app_dsn: str) -> None:
    """Clients in a closed loop, as the command benchmark drives the API, on a pool with one turn for
    actions (its size less the spare connections): each action is served in the order it asked for its
    turn, first come, first served. asyncpg's pool alone gives a connection freed while others wait to
    whichever task asks next (README "Commands": under the benchmark most actions waited nothing for a
    connection and a few hundreds of milliseconds)."""
    pool = await create_pool(app_dsn, min_size=1, max_size=SPARE_CONNECTIONS + 1)
    try:
        path = WritePath(pool)
        docs = [await act(path, await create(path, TASK), ASSIGN) for _ in range(8)]
        asked: list[tuple[int, int]] = []
        served: list[tuple[int, int]] = []

        async def client(i: int, doc: Any) -> None:
            for n in range(6):

                async def prepare(state: Any, conn: Any, tag: tuple[int, int] = (i, n)) -> Any:
                    served.append(tag)
                    return parse_action("task", {"action": "report_progress", "percent": tag[1], "note": "x"})

                version = doc.state.version
                request = HandleRequest(
                    prepare, document_id=doc.state.id, expected_version=version, actor=CLERK, now=NOW
                )
                asked.append((i, n))
                doc = await handle(path, request, OFFICES)

        await asyncio.gather(*(client(i, d) for i, d in enumerate(docs)))
        assert len(asked) == 48 and served == asked
    finally:
        await pool.close()
