"""deploy/compose.yaml is accepted by `docker compose config` (no engine is needed to validate it)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from deploy.config.settings import REPO_ROOT


def _compose_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _compose_available(), reason="the docker compose plugin is not installed here")
def test_compose_file_is_valid() -> None:
    res = subprocess.run(
        ["docker", "compose", "-f", str(REPO_ROOT / "deploy" / "compose.yaml"), "config", "--services"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert set(res.stdout.split()) >= {"kafka", "postgres", "init", "api"}
