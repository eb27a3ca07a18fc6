"""The headless browser the web-page tests drive: Debian's Chromium, installed with apt-get when it is
missing (as PostgreSQL is), never a browser build downloaded by a test tool (Playwright drives this one)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from deploy.procs import StackError, say

PACKAGES = ("chromium", "fonts-dejavu-core")  # DejaVu carries Vietnamese letters


def chromium(install: bool = True) -> Path:
    """Debian's chromium; installs it with apt-get when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return Path(found)
    if not install:
        raise StackError("chromium is missing")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError("the browser tests need Debian's Chromium: `sudo apt-get install -y chromium`")
    say("Chromium not found: installing Debian's chromium with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES], check=True, env=env
    )
    return chromium(install=False)


def main() -> None:
    print(chromium())


if __name__ == "__main__":
    main()
