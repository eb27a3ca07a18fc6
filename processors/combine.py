"""Data-modifying statements sent as one: each becomes a WITH query of a single statement, its parameters
renumbered after the ones before it. A small live batch's writes cost one round trip instead of one each
(with PostgreSQL and the worker sharing two cores, each round trip was 1-2 ms of a batch's latency).

PostgreSQL runs every WITH query to completion, all with the statement's one snapshot: the parts must not
read what another part writes, nor write the same row twice (a batch's tables are each written once, by
primary key). The order in which the parts take their row locks is not defined either, so rows other
writers also lock (shared counters) belong in a part only if nothing else in the statement locks such rows;
the feed's counters are the one such part here, and it goes last as the statement's own query."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from deploy.config.db import Conn

_PARAMETER = re.compile(r"\$(\d+)")


class Combined:
    """Statements to run later as one, in the order added; `last` may itself begin with WITH."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, Sequence[Any]]] = []
        self.last: tuple[str, Sequence[Any]] | None = None

    def add(self, sql: str, *args: Any) -> None:
        """A data-modifying statement without a WITH clause of its own, parameters $1 … $n."""
        if sql.lstrip().upper().startswith("WITH") or "$$" in sql:
            raise ValueError("a combined part cannot have a WITH clause or dollar quotes")
        self.parts.append((sql, args))

    def finish(self, sql: str, *args: Any) -> None:
        """The statement's own query (a WITH clause of its own allowed), run after the parts."""
        if self.last is not None:
            raise ValueError("a combined statement has one last query")
        self.last = (sql, args)

    def statement(self) -> tuple[str, list[Any]] | None:
        """The one statement and its parameters (None: nothing to run)."""
        parts = [*self.parts, *([self.last] if self.last else [])]
        if not parts:
            return None
        if len(parts) == 1:
            sql, args = parts[0]
            return sql, list(args)
        queries: list[str] = []
        params: list[Any] = []
        for n, (sql, args) in enumerate(self.parts):
            queries.append(f"w{n} AS ({_renumber(sql, len(params))})")
            params.extend(args)
        if self.last is None:
            return f"WITH {', '.join(queries)} SELECT 1", params
        sql, args = self.last
        sql = _renumber(sql, len(params)).lstrip()
        params.extend(args)
        if sql[:4].upper() == "WITH":
            return f"WITH {', '.join(queries)}, {sql[4:].lstrip()}", params
        return f"WITH {', '.join(queries)} {sql}", params

    async def run(self, conn: Conn) -> None:
        built = self.statement()
        self.parts, self.last = [], None
        if built is not None:
            await conn.execute(built[0], *built[1])


def _renumber(sql: str, by: int) -> str:
    return _PARAMETER.sub(lambda m: f"${int(m[1]) + by}", sql) if by else sql
