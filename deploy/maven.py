"""Jars resolved once from Maven Central through a small pom, and cached (Kafka's, S3Proxy's)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from deploy.procs import StackError, say


def resolve(pom: Path, libs: Path, version_property: str, version: str, what: str) -> Path:
    """`libs` with the runtime jars of `pom` at `version`; Maven runs only when no complete copy exists."""
    done = libs / ".complete"
    if done.exists():
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError(f"mvn is missing: install Maven (e.g. `apt-get install -y maven`) to fetch {what}")
    say(f"fetching {what} {version} jars from Maven Central (first run only)")
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    res = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            f"--file={pom}",
            f"-D{version_property}={version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise StackError(f"Maven could not resolve {what} {version}:\n{res.stdout[-3000:]}")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    done.touch()
    return libs
