"""Two API processes on one document set, with conflicting actions: one winner per version, no event
lost or doubled. Each process keeps its own cache of document states, so each round also tries a stale
entry (the other process wrote the version it last saw)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deploy.config.db import connect
from tests.e2e.conftest import System, act
from tests.toolkit.processes import free_port, service_command
from tests.unit.lifecycle import create_body

CITY = "tu-hcm"
DOCUMENTS, ROUNDS, WRITERS = 6, 8, 6  # writers per API process and document, per round


@pytest.fixture(scope="module")
def second_api(system: System) -> Iterator[str]:
    port = free_port()
    argv, marker = service_command(system.settings.with_(api_port=port), "api")
    p = system.services.new("api-2", argv=argv, marker=marker, VANTHU_API_PORT=str(port)).start()
    url = f"http://127.0.0.1:{port}"
    p.wait_http(f"{url}/healthz")
    try:
        yield url
    finally:
        system.services.stop("api-2")


async def test_conflicting_actions_through_two_api_processes(system: System, second_api: str) -> None:
    leader = system.token(CITY, "leader", user="ld.hai")
    specialist = system.token(CITY, "specialist", user="cv.hai")
    async with system.client() as one, httpx.AsyncClient(base_url=second_api, timeout=30) as two:
        docs = []
        for i in range(DOCUMENTS):
            created = await one.post(
                "/v1/documents", json=create_body("task", CITY, title=f"Việc {i}"), headers=leader
            )
            assert created.status_code == 201, created.text
            # assigned through the second process: its cache has not seen the document yet
            docs.append(
                await act(
                    two,
                    leader,
                    created.json(),
                    "assign",
                    lead={"user": "cv.hai"},
                    deadline={"working_days": 5},
                )
            )

        wins: Counter[str] = Counter()
        for round_ in range(ROUNDS):

            async def attempt(
                client: httpx.AsyncClient, doc: dict[str, Any], n: int, r: int = round_
            ) -> httpx.Response:
                return await client.post(
                    f"/v1/documents/{doc['id']}/actions",
                    json={"action": "report_progress", "percent": r, "note": f"ghi {n}"},
                    headers={**specialist, "If-Match": f'"{doc["version"]}"'},
                )

            # Every writer of both processes acts on the version it saw, all at once.
            tries = [
                (doc, attempt(client, doc, n))
                for doc in docs
                for client in (one, two)
                for n in range(WRITERS)
            ]
            answers = await asyncio.gather(*(t for _, t in tries))
            next_docs = {}
            for (doc, _), answer in zip(tries, answers, strict=True):
                assert answer.status_code in (200, 409), answer.text
                if answer.status_code == 200:
                    assert doc["id"] not in next_docs, f"two winners for {doc['id']} v{doc['version'] + 1}"
                    next_docs[doc["id"]] = answer.json()
                    wins[doc["id"]] += 1
                else:
                    assert answer.json()["current_version"] == doc["version"] + 1
            assert sorted(next_docs) == sorted(d["id"] for d in docs), "a document without a winner"
            # the next round starts from the winners, read through whichever process did not write
            docs = [next_docs[d["id"]] for d in docs]

    conn = await connect(system.settings.dsn)
    try:
        for doc in docs:
            rows = await conn.fetch(
                "SELECT version, event_id FROM events WHERE stream_id = $1 ORDER BY version", doc["id"]
            )
            # created, assigned, then exactly one report per round: no version lost, none doubled
            assert [r["version"] for r in rows] == list(range(1, 3 + ROUNDS))
            assert len({r["event_id"] for r in rows}) == len(rows)
            assert wins[doc["id"]] == ROUNDS and doc["version"] == 2 + ROUNDS
    finally:
        await conn.close()
