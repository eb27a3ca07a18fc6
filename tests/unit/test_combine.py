"""Statements combined into one: parameters renumbered, the last query's own WITH list kept."""

from __future__ import annotations

import pytest

from processors.combine import Combined


def test_parts_become_with_queries_with_their_parameters_renumbered() -> None:
    c = Combined()
    c.add("INSERT INTO a SELECT * FROM unnest($1::text[], $2::int[])", ["x"], [1])
    c.add("UPDATE b SET n = $1 WHERE id = $2", 5, "y")
    sql, params = c.statement() or ("", [])
    assert sql == (
        "WITH w0 AS (INSERT INTO a SELECT * FROM unnest($1::text[], $2::int[])), "
        "w1 AS (UPDATE b SET n = $3 WHERE id = $4) SELECT 1"
    )
    assert params == [["x"], [1], 5, "y"]


def test_a_last_query_with_its_own_with_list_continues_it() -> None:
    c = Combined()
    c.add("UPDATE b SET n = $1 WHERE id = $2", 5, "y")
    c.finish(
        "WITH n AS (SELECT $1::int AS k), c AS (INSERT INTO f SELECT k FROM n RETURNING k) "
        "SELECT count(*) FROM c",
        7,
    )
    sql, params = c.statement() or ("", [])
    assert sql == (
        "WITH w0 AS (UPDATE b SET n = $1 WHERE id = $2), n AS (SELECT $3::int AS k), "
        "c AS (INSERT INTO f SELECT k FROM n RETURNING k) SELECT count(*) FROM c"
    )
    assert params == [5, "y", 7]


def test_one_statement_goes_as_it_is_and_none_is_nothing() -> None:
    c = Combined()
    assert c.statement() is None
    c.finish("SELECT $1::int", 3)
    assert c.statement() == ("SELECT $1::int", [3])


def test_parts_that_cannot_be_with_queries_are_refused() -> None:
    c = Combined()
    with pytest.raises(ValueError, match="WITH"):
        c.add("WITH x AS (SELECT 1) INSERT INTO a SELECT * FROM x")
    with pytest.raises(ValueError, match="dollar"):
        c.add("DO $$BEGIN END$$")
    c.finish("SELECT 1")
    with pytest.raises(ValueError, match="one last"):
        c.finish("SELECT 2")
