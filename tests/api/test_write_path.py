"""The API's write path takes the relay's wake-up gap from the settings (VANTHU_RELAY_WAKE_GAP)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from api.deps import write_path
from deploy.config.db import create_pool
from deploy.config.settings import Settings


async def test_the_relays_wake_up_gap_is_the_settings(api_settings: Settings) -> None:
    settings = Settings.from_env({"VANTHU_RELAY_WAKE_GAP": "0.25"})
    assert settings.relay_wake_gap == 0.25
    pool = await create_pool(api_settings.app_dsn, min_size=1, max_size=4)
    try:
        state = SimpleNamespace(pool=pool, settings=settings)
        request: Any = SimpleNamespace(app=SimpleNamespace(state=state))
        path = await write_path(request)
        assert path.wake.gap_s == 0.25
        assert await write_path(request) is path  # one per process and pool
    finally:
        await pool.close()
