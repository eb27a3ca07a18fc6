"""The feed hub's bounds: streams per user and in all, refused with 429 past either, freed on close."""

from __future__ import annotations

import pytest

from api.errors import Problem
from api.feed_hub import QUEUE_MAX, FeedHub


def test_streams_are_bounded_per_user_and_in_all() -> None:
    hub = FeedHub("postgresql://unused", per_user=2, total=3)
    mine = [hub.open("vt.a", "qu-1"), hub.open("vt.a", "qu-1")]
    with pytest.raises(Problem) as refused:
        hub.open("vt.a", "qu-1")
    assert refused.value.status == 429 and "vt.a" in refused.value.detail
    hub.open("vt.b", "qu-1")
    with pytest.raises(Problem) as full:
        hub.open("vt.c", "qu-3")
    assert full.value.status == 429 and full.value.headers == {"Retry-After": "30"}
    hub.close(mine[0])
    hub.close(mine[0])  # twice (the stream's end and the response's background) frees one slot only
    assert hub.count == 2
    hub.open("vt.a", "qu-1")
    assert hub.count == 3 and hub.by_user["vt.a"] == 2


def test_notes_fan_out_to_the_offices_streams_and_a_slow_one_falls_behind() -> None:
    hub = FeedHub("postgresql://unused", per_user=5, total=5)
    here, there = hub.open("vt.a", "qu-1"), hub.open("vt.b", "qu-3")
    here.behind = there.behind = False
    hub._note(None, 0, "vanthu_feed", '{"office_id": "qu-1", "seq": 1, "document_id": "d"}')
    assert [i["seq"] for i in here.items] == [1] and not there.items
    for seq in range(2, QUEUE_MAX + 3):
        hub._note(None, 0, "vanthu_feed", f'{{"office_id": "qu-1", "seq": {seq}, "document_id": "d"}}')
    assert here.behind  # it rereads the table rather than hold without bound
