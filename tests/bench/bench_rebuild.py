"""rebuild: the whole dataset topic replayed into fresh read models (processors/rebuild.py, what
`vanthu rebuild` runs), swapped in as `rm`; the queries benchmark then reads them."""

from __future__ import annotations

import time
from typing import Any

from processors.rebuild import rebuild
from tests.bench.common import CpuMeter


async def run(ctx: Any) -> dict[str, Any]:
    ds = ctx.dataset
    cpu = CpuMeter().start()
    t0 = time.monotonic()
    result = await rebuild(ds.settings.dsn, ds.settings.bootstrap, ds.settings.events_topic, swap=True)
    seconds = time.monotonic() - t0
    return {
        "events": result.events,
        "seconds": round(seconds, 1),
        "events_per_s": round(result.events / seconds, 0),
        "swapped": result.swapped,
        "cpu": cpu.stop(),
        "parameters": {
            "events": result.events,
            "documents": ds.loaded.documents,
            "how": "processors.rebuild.rebuild(swap=True) from the benchmark process: two loader "
            "processes (python -m processors.rebuild, half the partitions each) replay from the first "
            "record with apply_batch(20000) into a new schema, indexes built after, then renamed to rm",
            "bulk_loaded": "store by tests/bench/dataset.py, topic by the relay",
        },
    }
