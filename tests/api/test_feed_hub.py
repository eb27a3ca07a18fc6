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


def test_a_notice_sends_the_offices_streams_to_their_new_rows_and_a_slow_one_falls_behind() -> None:
    hub = FeedHub("postgresql://unused", per_user=5, total=5)
    here, there = hub.open("vt.a", "qu-1"), hub.open("vt.b", "qu-3")
    here.behind = there.behind = False
    # The first notice of an office: the hub does not know where its streams are, they read the table.
    hub._note(None, 0, "vanthu_feed", '{"office_id": "qu-1", "seq": 1}')
    assert here.behind and not there.behind
    here.behind = False
    # Later notices: the hub reads the office's rows past what it read, once for all its streams.
    hub._note(None, 0, "vanthu_feed", '{"office_id": "qu-1", "seq": 4}')
    hub._note(None, 0, "vanthu_feed", '{"office_id": "qu-3", "seq": 9}')
    assert hub._noted == {"qu-1": 4} and not here.behind
    assert there.behind  # qu-3's first notice
    for seq in range(2, QUEUE_MAX + 3):
        here.push({"office_id": "qu-1", "seq": seq, "document_id": "d"})
    assert here.behind  # it rereads the table rather than hold without bound
