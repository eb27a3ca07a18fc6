"""Waiting on a condition, never on a fixed sleep: poll until it holds or a deadline passes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Poll:
    """What a wait polls: `check` (sync or async) until it returns something truthy, every `every`
    seconds for at most `within`; an error in `ignoring` counts as not yet."""

    check: Callable[[], Any]
    within: float = 30
    what: str = "condition"
    every: float = 0.05
    ignoring: tuple[type[BaseException], ...] = ()

    def tries(self) -> Iterator[None]:
        """Yields while time is left, then fails naming what was awaited."""
        deadline = time.monotonic() + self.within
        while time.monotonic() < deadline:
            yield
        raise AssertionError(f"timed out after {self.within:g}s waiting for {self.what}")


async def wait_until(*args: Any, **kw: Any) -> Any:
    """Poll (arguments as `Poll` takes them) until the check holds; returns what it returned."""
    poll = Poll(*args, **kw)
    for _ in poll.tries():
        with contextlib.suppress(*poll.ignoring):
            result = poll.check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
        await asyncio.sleep(poll.every)


def wait_until_sync(*args: Any, **kw: Any) -> Any:
    """`wait_until` for code without an event loop (fixtures, process start-up), with a sync check."""
    poll = Poll(*args, **kw)
    for _ in poll.tries():
        with contextlib.suppress(*poll.ignoring):
            if result := poll.check():
                return result
        time.sleep(poll.every)
