"""`make run`'s program as a user meets it: starts everything, prints where to look, Ctrl-C stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from deploy.config.settings import REPO_ROOT, Settings
from deploy.procs import Managed, port_open
from deploy.stack import Stack
from tests.integration.test_stack_cli import _free_port_pair
from tests.toolkit.waiting import wait_until_sync


def _get(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


def stack_services() -> list[Managed]:
    return Stack(Settings.from_env()).services()


def test_run_prints_urls_serves_and_stops_what_it_started(stack: object, settings: object) -> None:
    api_port = _free_port_pair()
    env = dict(os.environ, VANTHU_API_PORT=str(api_port))  # reuses the running stack
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.run"], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    out: list[str] = []
    try:
        assert proc.stdout is not None
        stdout = proc.stdout

        def ready() -> bool:  # one line a call
            line = stdout.readline()
            assert line, "make run's program exited early:\n" + "".join(out)
            out.append(line)
            return line.startswith("Press Ctrl-C")

        wait_until_sync(ready, 120, "make run to say it is ready", every=0)
        text = "".join(out)
        assert f"http://127.0.0.1:{api_port}/docs" in text and "Kafka" in text and "PostgreSQL" in text
        status, body = _get(f"http://127.0.0.1:{api_port}/readyz")
        assert status == 200 and body["ready"] is True, body
        workers = {m.name: m.pid() for m in stack_services() if m.marker == "processors.worker"}
        assert set(workers) == {"processor", "processor-2"}, workers  # VANTHU_PROCESSOR_WORKERS: 2
        assert None not in workers.values() and len(set(workers.values())) == 2, workers
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not port_open(api_port)
    assert not any(m.running() for m in stack_services()), "Ctrl-C stops every service it started"
    # the stack was running before, so it is left running
    assert port_open(int(env.get("VANTHU_KAFKA_PORT", "19092")))
