"""deploy/services.py: the services `make run` starts, declared once."""

from __future__ import annotations

from deploy.config.settings import Settings
from deploy.services import services


def _workers(settings: Settings) -> list[tuple[str, dict[str, str]]]:
    return [(s.name, dict(s.env)) for s in services(settings) if s.marker == "processors.worker"]


def test_make_run_starts_the_configured_number_of_processor_workers() -> None:
    base = Settings.from_env()
    assert _workers(base.with_(processor_workers=1)) == [("processor", {})]
    three = _workers(base.with_(processor_workers=3))
    assert [n for n, _ in three] == ["processor", "processor-2", "processor-3"]
    assert [n for n, _ in _workers(base.with_(processor_workers=0))] == ["processor"]  # at least one
    names = [s.name for s in services(base.with_(processor_workers=2))]
    assert len(names) == len(set(names)), "each service has its own pid file and log"


def test_workers_of_one_group_get_distinct_static_membership_ids() -> None:
    s = Settings.from_env().with_(processor_workers=3, processor_instance_id="hcm-a")
    assert _workers(s) == [
        ("processor", {}),  # its own VANTHU_PROCESSOR_INSTANCE_ID, as configured
        ("processor-2", {"VANTHU_PROCESSOR_INSTANCE_ID": "hcm-a-2"}),
        ("processor-3", {"VANTHU_PROCESSOR_INSTANCE_ID": "hcm-a-3"}),
    ]
    assert _workers(s.with_(processor_instance_id=""))[1] == ("processor-2", {})  # dynamic membership
