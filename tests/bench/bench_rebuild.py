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
            "how": "processors.rebuild.rebuild(swap=True) in the benchmark process: aiokafka from the "
            "first record, apply_batch(5000) into a new schema, then renamed to rm",
            "bulk_loaded": "store by tests/bench/dataset.py, topic by the relay",
        },
    }
