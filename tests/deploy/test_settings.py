"""The one settings object: environment variables with the VANTHU_ prefix, each documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.config.settings import REPO_ROOT, Settings, documented


def test_defaults_point_at_the_local_stack() -> None:
    s = Settings.from_env({})
    assert s.bootstrap == "127.0.0.1:19092"
    assert s.dsn == "postgresql://vanthu@127.0.0.1:15432/vanthu"
    assert s.dsn_for("other") == "postgresql://vanthu@127.0.0.1:15432/other"
    assert s.events_topic == "vanthu.events"


def test_environment_overrides_with_types() -> None:
    s = Settings.from_env(
        {"VANTHU_KAFKA_PORT": "29092", "VANTHU_PARTITIONS": "12", "VANTHU_DATA_DIR": "/srv/x", "OTHER": "1"}
    )
    assert s.kafka_port == 29092 and s.bootstrap == "127.0.0.1:29092"
    assert s.partitions == 12
    assert s.data_dir == Path("/srv/x")


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="VANTHU_PG_PORT='five' is not a valid int"):
        Settings.from_env({"VANTHU_PG_PORT": "five"})


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [name for name, _, _ in documented() if name not in readme]
    assert missing == []


def test_booleans_and_floats_parse_and_a_bad_boolean_is_named() -> None:
    s = Settings.from_env({"VANTHU_PROCESSOR_SAGA": "false", "VANTHU_PROCESSOR_WITHIN": "0.02"})
    assert s.processor_saga is False and s.processor_within == 0.02
    assert Settings.from_env({"VANTHU_DEMO": "yes"}).demo is True
    with pytest.raises(ValueError, match="VANTHU_DEMO='maybe' is not a valid bool"):
        Settings.from_env({"VANTHU_DEMO": "maybe"})
