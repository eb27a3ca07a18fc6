"""`make run`: the stack, then every service, then where to look; Ctrl-C stops what this started."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request

from deploy.config.settings import Settings
from deploy.demo import demo_ca
from deploy.procs import Managed, StackError, say, tail, wait_for
from deploy.services import services
from deploy.stack import Stack


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _where_to_look(settings: Settings, api: str) -> str:
    from api.auth import issue_token

    clerk = issue_token(settings, office="tu-hcm", roles=["clerk"], user="vt.demo")
    leader = issue_token(
        settings, office="tu-hcm", roles=["leader", "auditor"], user="ld.demo", clearance="mat"
    )
    ward = issue_token(settings, office="phuong-sai-gon", roles=["clerk", "leader"], user="vt.saigon")
    district = issue_token(settings, office="qu-1", roles=["clerk"], user="vt.quan1")
    return "\n".join(
        [
            "",
            "vanthu is running:",
            f"  web pages      {api}/ui   (sign in as any demo user: office, role, clearance)",
            f"  API            {api}   (docs: {api}/docs, readiness: {api}/readyz, metrics: {api}/metrics)",
            f"  Kafka          {settings.bootstrap}   topic {settings.events_topic}",
            f"  PostgreSQL     {settings.dsn}",
            f"  logs           {settings.data_dir / 'logs'}   (`.venv/bin/vanthu stack logs NAME`)",
            "  status         .venv/bin/vanthu stack status",
            "",
            "Today's city: the Văn phòng Thành ủy (tu-hcm), 168 commune-level committees (phuong-sai-gon,",
            "xa-can-gio, dac-khu-con-dao …) and 4 committees of city agencies; the 22 district offices",
            "(qu-1 …) closed on 2025-06-30 and handed their open documents over.",
            "Try it (tokens valid 12 hours; make more with `.venv/bin/vanthu token --office O --role R`):",
            f"  export CLERK={clerk}   # tu-hcm",
            f"  export LEADER={leader}   # tu-hcm",
            f"  export WARD={ward}   # phuong-sai-gon",
            f"  export DISTRICT={district}   # qu-1, closed",
            f"  curl -s {api}/v1/offices | head -c 400; echo",
            f'  curl -s "{api}/v1/offices?include_closed=true" | head -c 400; echo',
            f'  curl -s -H "Authorization: Bearer $LEADER" "{api}/v1/offices/tu-hcm/deadlines?due_within=5"',
            f'  curl -s -H "Authorization: Bearer $CLERK" "{api}/v1/offices/tu-hcm/documents?q=quy%20hoach%20can%20bo&limit=5"',  # noqa: E501 (a command line to paste)
            f'  curl -s -H "Authorization: Bearer $LEADER" "{api}/v1/offices/tu-hcm/stats"',
            f'  curl -s -H "Authorization: Bearer $WARD" "{api}/v1/offices/phuong-sai-gon/documents?limit=5"',
            f'  curl -s -H "Authorization: Bearer $DISTRICT" "{api}/v1/offices/qu-1/registers/incoming?year=2025"',  # noqa: E501 (a command line to paste)
            f'  curl -s -H "Authorization: Bearer $CLERK" -H "Accept: text/csv" "{api}/v1/offices/tu-hcm/registers/incoming"',  # noqa: E501 (a command line to paste)
            f'  curl -s -N -H "Authorization: Bearer $CLERK" "{api}/v1/offices/tu-hcm/feed"   # live changes (SSE)',  # noqa: E501 (a command line to paste)
            f"  curl -s -X POST {api}/v1/documents -H \"Authorization: Bearer $CLERK\" -H 'Content-Type: application/json' \\",  # noqa: E501 (a command line to paste)
            '       -d \'{"kind":"incoming","office_id":"tu-hcm","issuing_body":"Ban Bí thư","number_code":"12-TB/TW",'  # noqa: E501 (a command line to paste)
            '"document_date":"2026-11-20","document_type":"TB","summary":"Thông báo kết luận"}\'',
            "Press Ctrl-C to stop what `make run` started.",
            "",
        ]
    )


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
        if settings.demo and not settings.trust_roots:
            # the demo's signed PDFs are signed by a demo CA that the demo's services trust
            demo_ca(settings)
            roots = str(settings.data_dir / "demo-ca" / "root.pem")
            os.environ["VANTHU_TRUST_ROOTS"] = roots
            settings = settings.with_(trust_roots=roots)
            say(f"demo: signatures are verified against the demo CA in {roots}")
        for svc, managed in zip(services(settings), stack.services(), strict=True):
            if managed.running():
                say(f"{svc.name} already running (pid {managed.pid()})")
                continue
            say(f"starting {svc.name}")
            managed.start(svc.argv(), env=svc.environ())
            started.append(managed)
        api = f"http://{settings.api_host}:{settings.api_port}"
        wait_for(
            "the API", lambda: _http_ok(f"{api}/healthz"), 60, log=settings.data_dir / "logs" / "api.log"
        )
        if settings.demo:
            import asyncio

            from deploy.demo import seed

            asyncio.run(seed(settings))
        print(_where_to_look(settings, api), flush=True)
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
