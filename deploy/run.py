"""`make run`: the stack, then every service, then where to look; Ctrl-C stops what this started."""

from __future__ import annotations

import signal
import sys
import time
import urllib.request

from deploy.procs import Managed, StackError, say, tail, wait_for
from deploy.services import services
from deploy.settings import Settings
from deploy.stack import Stack


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def main() -> int:
    settings = Settings.from_env()
    stack = Stack(settings)
    stack_was_up = stack.postgres.running() and stack.kafka.managed.running()
    started: list[Managed] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        stack.up()
        for svc, managed in zip(services(settings), stack.services(), strict=True):
            if managed.running():
                say(f"{svc.name} already running (pid {managed.pid()})")
                continue
            say(f"starting {svc.name}")
            managed.start(svc.argv())
            started.append(managed)
        api = f"http://{settings.api_host}:{settings.api_port}"
        wait_for(
            "the API", lambda: _http_ok(f"{api}/healthz"), 60, log=settings.data_dir / "logs" / "api.log"
        )
        print(
            "\n".join(
                [
                    "",
                    "vanthu is running:",
                    f"  API            {api}   (docs: {api}/docs, readiness: {api}/readyz)",
                    f"  Kafka          {settings.bootstrap}   topic {settings.events_topic}",
                    f"  PostgreSQL     {settings.dsn}",
                    f"  logs           {settings.data_dir / 'logs'}   (`vanthu stack logs NAME`)",
                    "  status         .venv/bin/vanthu stack status",
                    "Press Ctrl-C to stop what `make run` started.",
                    "",
                ]
            ),
            flush=True,
        )
        while not stopping:
            for m in started:
                if not m.alive():
                    say(f"{m.name} exited; last lines of {m.log_file}:\n{tail(m.log_file, 20)}")
                    stopping = True
            time.sleep(0.5)
    except StackError as exc:
        print(f"vanthu: {exc}", file=sys.stderr)
        return 1
    finally:
        for m in reversed(started):
            if m.stop():
                say(f"stopped {m.name}")
        if not stack_was_up:
            stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
