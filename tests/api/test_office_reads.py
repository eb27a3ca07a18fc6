"""The office lists over HTTP: paged answers, and cursors a client made up or edited answer a 422."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from processors import cursors

Token = Callable[..., dict[str, str]]


async def test_the_deadlines_answer_is_a_page(client: httpx.AsyncClient, token: Token) -> None:
    resp = await client.get(
        "/v1/offices/tu-hcm/deadlines",
        params={"due_within": 10, "limit": 500, "status": "overdue", "unit": "van-phong"},
        headers=token("tu-hcm", "leader"),
    )
    assert resp.status_code == 200
    assert resp.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("route", ["deadlines", "documents"])
@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        cursors.encode("deadlines", ["2026-13-45", "d1", "a1"]),
        cursors.encode("documents", ["yesterday", "d1"]),
        cursors.encode("documents", ["2026-03-02T09:00:00", "d1"]),  # no time zone
        cursors.encode("documents", ["2026-03-02T09:00:00+07:00", "\ud800"]),
    ],
)
async def test_a_made_up_cursor_is_a_422_with_a_message(
    client: httpx.AsyncClient, token: Token, route: str, cursor: str
) -> None:
    resp = await client.get(
        f"/v1/offices/tu-hcm/{route}", params={"cursor": cursor}, headers=token("tu-hcm", "leader")
    )
    assert resp.status_code == 422, resp.text
    assert "cursor" in resp.json()["detail"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"status": "late"}, {"cursor": "x" * 501}])
async def test_deadline_parameters_out_of_range_are_a_422(
    client: httpx.AsyncClient, token: Token, params: dict[str, object]
) -> None:
    resp = await client.get("/v1/offices/tu-hcm/deadlines", params=params, headers=token("tu-hcm", "leader"))
    assert resp.status_code == 422
