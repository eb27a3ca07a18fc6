"""Intruders: bad tokens on every route, a secret document probed through every route by everyone who
may not see it, SQL injection in every parameter, and the store altered behind the service's back.
Writes tests/faults/security.json (probes tried, leaks found)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from api.auth import issue_token
from tests.e2e.conftest import System
from tests.faults.fuzz import INJECTIONS, operations
from tests.faults.test_bad_input import _event_count
from tests.unit.lifecycle import create_body

HERE = Path(__file__).parent
SECRET_OFFICE = "qu-5"  # nothing else in this module writes there, so its counts are this module's
OTHER = "qu-1"
MARKER = f"MATKHAN{uuid.uuid4().hex[:8].upper()}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Tally:
    def __init__(self) -> None:
        self.probes: Counter[str] = Counter()
        self.leaks: list[str] = []

    def probe(self, kind: str, leaked: str | None = None) -> None:
        self.probes[kind] += 1
        if leaked:
            self.leaks.append(f"{kind}: {leaked}")


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    t = Tally()
    yield t
    (HERE / "security.json").write_text(
        json.dumps(
            {
                "probes": sum(t.probes.values()),
                "leaks": len(t.leaks),
                "by_kind": dict(sorted(t.probes.items())),
                "leaked": t.leaks,
            },
            ensure_ascii=False,
            indent=2,
        )
        + "\n"
    )


@pytest.fixture(scope="module")
def client(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.base_url, timeout=30) as c:
        yield c


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _hs_signed(header: dict[str, Any], claims: dict[str, Any], secret: str) -> str:
    import hashlib
    import hmac

    signing = f"{_b64(header)}.{_b64(claims)}"
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(sig).decode().rstrip('=')}"


def bad_tokens(system: System) -> dict[str, str]:
    s = system.settings
    now = int(time.time())
    claims = {"sub": "mallory", "office": "tu-hcm", "roles": ["admin"], "iat": now, "exp": now + 3600}
    good = issue_token(s, office="tu-hcm", roles=["admin"], user="mallory")
    head, _, sig = good.split(".")
    return {
        "none": "",
        "not bearer": f"Basic {base64.b64encode(b'admin:admin').decode()}",
        "garbage": "Bearer not.a.jwt",
        "expired": "Bearer " + issue_token(s, office="tu-hcm", roles=["admin"], ttl_seconds=-60),
        "badly signed": "Bearer "
        + jwt.encode(claims, "not-the-secret-but-long-enough-32b", algorithm="HS256"),
        "alg none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "alg None mixed case": f"Bearer {_b64({'alg': 'None', 'typ': 'JWT'})}.{_b64(claims)}.",
        "payload swapped": f"Bearer {head}.{_b64({**claims, 'office': 'qu-1'})}.{sig}",
        "RS256 header, HS signature": "Bearer "
        + _hs_signed({"alg": "RS256", "typ": "JWT"}, claims, s.jwt_secret),
        "HS512": "Bearer " + jwt.encode(claims, s.jwt_secret + "x" * 40, algorithm="HS512"),
        "no exp": "Bearer " + jwt.encode({k: v for k, v in claims.items() if k != "exp"}, s.jwt_secret),
        "no office": "Bearer " + jwt.encode({k: v for k, v in claims.items() if k != "office"}, s.jwt_secret),
        "unknown role": "Bearer " + jwt.encode({**claims, "roles": ["root"]}, s.jwt_secret),
        "empty roles": "Bearer " + jwt.encode({**claims, "roles": []}, s.jwt_secret),
        "clearance forged": "Bearer " + jwt.encode({**claims, "clearance": "god"}, s.jwt_secret),
    }


def _urls(client: httpx.Client, doc_id: str) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    out = []
    for method, path, _ in operations(spec):
        if not path.startswith("/v1/") or path == "/v1/offices":
            continue  # the office list is public
        url = path.replace("{office}", SECRET_OFFICE).replace("{document_id}", doc_id)
        out.append((method, url.replace("{which}", "incoming")))
    return out


def test_bad_tokens_are_401_on_every_route_and_write_nothing(
    system: System, client: httpx.Client, tally: Tally
) -> None:
    before = asyncio.run(_event_count(system.settings.dsn))
    for name, auth in bad_tokens(system).items():
        for method, url in _urls(client, str(uuid.uuid4())):
            headers = {"Authorization": auth} if auth else {}
            body = create_body("task", "tu-hcm", title="x") if method == "POST" else None
            if url.endswith("/feed"):
                with client.stream(method, url, headers=headers, timeout=5) as resp:
                    status = resp.status_code
            else:
                resp = client.request(method, url, headers=headers, json=body)
                status = resp.status_code
            tally.probe("bad token", None if status == 401 else f"{name} {method} {url} -> {status}")
            if status == 401 and not url.endswith("/feed"):
                assert resp.headers["www-authenticate"] == "Bearer" and resp.json()["detail"]
    assert asyncio.run(_event_count(system.settings.dsn)) == before


@pytest.fixture(scope="module")
def secret(system: System, client: httpx.Client) -> dict[str, Any]:
    """A registered, assigned tuyệt mật document in SECRET_OFFICE, and the office's figures before it."""
    clerk = system.token(SECRET_OFFICE, "clerk", user="vt.owner")
    uncleared = system.token(SECRET_OFFICE, "clerk", "leader", "specialist", "auditor", user="nobody")
    baseline = {
        "stats": client.get(f"/v1/offices/{SECRET_OFFICE}/stats", headers=uncleared).json(),
        "report": client.get(f"/v1/offices/{SECRET_OFFICE}/reports/incoming", headers=uncleared).json(),
    }
    body = create_body(
        "incoming",
        SECRET_OFFICE,
        issuing_body=f"Ban {MARKER}",
        number_code=f"{MARKER}-CV/TW",
        summary=f"Kế hoạch {MARKER}",
        urgency="khan",
        secrecy="tuyet_mat",
    )
    created = client.post("/v1/documents", json=body, headers=clerk)
    assert created.status_code == 201, created.text
    doc = created.json()
    for action, extra, who in (
        ("register", {}, clerk),
        ("submit", {}, clerk),
        (
            "assign",
            {"lead": {"user": "cv.secret"}, "directive": "", "deadline": {"working_days": 2}},
            system.token(SECRET_OFFICE, "leader", user="ld.owner", clearance="tuyet_mat"),
        ),
    ):
        resp = client.post(
            f"/v1/documents/{doc['id']}/actions",
            json={"action": action, **extra},
            headers={**who, "If-Match": f'"{doc["version"]}"'},
        )
        assert resp.status_code == 200, resp.text
        doc = resp.json()
        position = resp.headers["x-vanthu-position"]
    seen = client.get(f"/v1/documents/{doc['id']}?after={position}", headers=clerk)
    assert seen.status_code == 200 and MARKER in seen.text
    return {"doc": doc, "baseline": baseline, "at": datetime.now(UTC).isoformat()}


def _leaked(resp: httpx.Response, doc_id: str) -> str | None:
    if resp.status_code >= 400:
        return None
    if XLSX in resp.headers.get("content-type", ""):
        from openpyxl import load_workbook

        cells = [
            str(c)
            for row in load_workbook(io.BytesIO(resp.content)).active.iter_rows(values_only=True)
            for c in row
        ]
        text = " ".join(cells)
    else:
        text = resp.text
    return f"{resp.request.url} -> {resp.status_code}" if MARKER in text or doc_id in text else None


def _feed_text(client: httpx.Client, headers: dict[str, str]) -> str:
    """What the office's feed replays from its beginning (read until it has nothing more to say)."""
    chunks: list[str] = []
    try:
        with client.stream(
            "GET", f"/v1/offices/{SECRET_OFFICE}/feed?after=0", headers=headers, timeout=httpx.Timeout(3.0)
        ) as resp:
            if resp.status_code != 200:
                return ""
            for chunk in resp.iter_text():
                chunks.append(chunk)
    except httpx.ReadTimeout:
        pass  # the replay is done and the stream is waiting for news
    return "".join(chunks)


def probers(system: System) -> dict[str, dict[str, str]]:
    t = system.token
    return {
        "same office, no clearance": t(SECRET_OFFICE, "clerk", "leader", "specialist", user="nobody"),
        "same office, clearance mat": t(SECRET_OFFICE, "leader", user="ld.mat", clearance="mat"),
        "same office, clearance toi_mat": t(SECRET_OFFICE, "leader", user="ld.toimat", clearance="toi_mat"),
        "same office auditor": t(SECRET_OFFICE, "auditor", user="kt.audit"),
        "other office, top clearance": t(OTHER, "leader", "clerk", user="ld.other", clearance="tuyet_mat"),
        "other office admin, no clearance": t(OTHER, "admin", user="root.other"),
        "same office admin, no clearance": t(SECRET_OFFICE, "admin", user="root.same"),
    }


def test_a_secret_document_leaks_through_no_route(
    system: System, client: httpx.Client, secret: dict[str, Any], tally: Tally
) -> None:
    doc_id = secret["doc"]["id"]
    d = f"/v1/documents/{doc_id}"
    o = f"/v1/offices/{SECRET_OFFICE}"
    reads = [
        d,
        f"{d}?as_of={secret['at'].replace('+', '%2B')}",
        f"{d}/events",
        f"{o}/documents",
        f"{o}/documents?q={MARKER}",
        f"{o}/documents?q={MARKER.lower()}-cv",
        f"{o}/documents?kind=incoming&state=assigned",
        f"{o}/documents?overdue=false&due_within=30",
        f"{o}/deadlines?due_within=60",
        f"{o}/registers/incoming",
        f"{o}/registers/incoming?series=mat",
        f"{o}/reports/incoming",
        f"{o}/stats",
    ]
    for who, headers in probers(system).items():
        for url in reads:
            for accept in (
                ("application/json", "text/csv", XLSX)
                if "/registers/" in url or "/reports/" in url
                else (None,)
            ):
                h = {**headers, "Accept": accept} if accept else headers
                resp = client.get(url, headers=h)
                assert resp.status_code < 500, resp.text
                tally.probe("secret read", _leaked(resp, doc_id) and f"{who}: {_leaked(resp, doc_id)}")
        for what in ("stats", "report"):
            url = f"{o}/{'stats' if what == 'stats' else 'reports/incoming'}"
            resp = client.get(url, headers=headers)
            if resp.status_code == 200:
                now = resp.json()
                was = secret["baseline"][what]
                same = now.get("total") == was.get("total") and now.get("units") == was.get("units")
                tally.probe("secret counted", None if same else f"{who}: {what} counts the secret document")
        feed = _feed_text(client, headers)
        tally.probe("secret feed", f"{who}: the feed names it" if doc_id in feed else None)
        act = client.post(
            f"{d}/actions",
            json={"action": "start"},
            headers={**headers, "If-Match": f'"{secret["doc"]["version"]}"'},
        )
        tally.probe(
            "secret action", None if act.status_code == 404 else f"{who}: action -> {act.status_code}"
        )
    # the probes can see a leak: those cleared do see the document, and each read is recorded
    cleared = system.token(SECRET_OFFICE, "clerk", user="vt.cleared", clearance="tuyet_mat")
    assert MARKER in client.get(f"{o}/documents?q={MARKER}", headers=cleared).text
    assert MARKER in client.get(d, headers=cleared).text
    assert doc_id in _feed_text(client, cleared)
    auditor = system.token(SECRET_OFFICE, "auditor", user="kt.check")
    reads_log = client.get("/v1/audit/secret-reads", headers=auditor)
    if reads_log.status_code == 200:
        assert "vt.cleared" in reads_log.text
    assert tally.leaks == []


def test_sql_injection_in_every_parameter_changes_nothing_and_leaks_nothing(
    system: System, client: httpx.Client, secret: dict[str, Any], tally: Tally
) -> None:
    spec = client.get("/openapi.json").json()
    doc_id = secret["doc"]["id"]
    headers = system.token(SECRET_OFFICE, "clerk", "leader", "specialist", "auditor", user="sqli")
    before = asyncio.run(_event_count(system.settings.dsn))
    for method, path, op in operations(spec, skip={"/v1/offices/{office}/feed"}):
        params = op.get("parameters", [])
        names = [(p["in"], p["name"]) for p in params if p["name"] != "authorization"]
        for where, name in names:
            for payload in INJECTIONS:
                url = path.replace("{office}", SECRET_OFFICE).replace("{document_id}", doc_id)
                url = url.replace("{which}", "incoming")
                query, hdrs = {}, dict(headers)
                if where == "path":
                    url = path.replace("{" + name + "}", httpx.URL("/" + payload).raw_path.decode()[1:])
                    url = url.replace("{office}", SECRET_OFFICE).replace("{document_id}", doc_id)
                    url = url.replace("{which}", "incoming")
                elif where == "query":
                    query[name] = payload
                else:
                    hdrs[name] = payload
                body = {"action": payload, "percent": payload} if method == "POST" else None
                resp = client.request(method, url, params=query, headers=hdrs, json=body)
                assert resp.status_code < 500, f"{method} {url} {where} {name}={payload!r}: {resp.text}"
                tally.probe("sql injection", _leaked(resp, doc_id))
    # and in body fields: stored as the text it is
    for payload in INJECTIONS[:5]:
        body = create_body("task", SECRET_OFFICE, title=payload, description=payload)
        resp = client.post("/v1/documents", json=body, headers=headers)
        assert resp.status_code == 201 and resp.json()["title"] == payload.strip(), resp.text
        tally.probe("sql injection")
    assert asyncio.run(_event_count(system.settings.dsn)) == before + 5
    assert tally.leaks == []


def test_the_store_altered_behind_the_services_back_is_detected(
    system: System, client: httpx.Client, secret: dict[str, Any], tally: Tally
) -> None:
    from deploy.config.db import connect

    auditor = system.token(SECRET_OFFICE, "auditor", user="kt.tamper")
    env = dict(  # the store, and the witness its relay signs for that topic
        os.environ,
        VANTHU_PG_DSN=system.settings.dsn,
        VANTHU_EVENTS_TOPIC=system.settings.events_topic,
        VANTHU_KAFKA_BOOTSTRAP=system.settings.bootstrap,
    )
    cli = [sys.executable, "-m", "deploy.cli", "audit", "verify", "--json"]
    assert subprocess.run(cli, env=env, capture_output=True, text=True).returncode == 0
    if (ok := client.get("/v1/audit/verify", headers=auditor)).status_code == 200:
        assert ok.json()["ok"] is True

    async def tamper(sql: str) -> None:
        app = await connect(system.settings.app_dsn)  # the services' role may not touch an event
        try:
            with pytest.raises(Exception, match=r"permission denied|append-only"):
                await app.execute(sql)
        finally:
            await app.close()
        owner = await connect(system.settings.dsn)
        try:
            async with owner.transaction():
                await owner.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
                await owner.execute(sql)
                await owner.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")
        finally:
            await owner.close()

    doc_id = secret["doc"]["id"]
    attacks = {
        "altered": "UPDATE events SET body = convert_to(replace(convert_from(body, 'UTF8'), 'khan', "
        f"'thuong'), 'UTF8') WHERE stream_id = '{doc_id}' AND version = 1",
        "deleted": f"DELETE FROM events WHERE stream_id = '{doc_id}' AND version = 2",
    }
    for kind, sql in attacks.items():
        asyncio.run(tamper(sql))
        res = subprocess.run(cli, env=env, capture_output=True, text=True)
        report = json.loads(res.stdout)
        found = res.returncode == 1 and any(
            p["kind"] in (kind, "missing", "altered", "anchor") for p in report["problems"]
        )
        api = client.get("/v1/audit/verify", headers=auditor)
        if api.status_code == 200:
            found = found and api.json()["ok"] is False
        tally.probe("tampering", None if found else f"{kind} was not detected: {res.stdout[:300]}")
        assert found, res.stdout
