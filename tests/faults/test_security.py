"""Intruders: bad tokens on every route, a secret document probed through every route by everyone who
may not see it, SQL injection in every parameter, and the store altered behind the service's back.
Then the holes of issue 12, each a probe kind: token rules, a document's secret past, the duplicate
warning, a recipient reading the sender's original, names a client makes up, formulas and control
characters in exports, the secret-read log on every route, an SSE flood, oversized bodies, someone else's
idempotency key and secrecy lowered by revise.
Writes tests/faults/security.json (probes tried, leaks found, figures measured; committed)."""

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
from deploy.config.settings import Settings
from tests.e2e.conftest import System
from tests.faults.fuzz import INJECTIONS, operations
from tests.faults.test_bad_input import _event_count
from tests.unit.lifecycle import body, create_body

HERE = Path(__file__).parent
SECRET_OFFICE = "qu-5"  # nothing else in this module writes there, so its counts are this module's
OTHER = "qu-1"
MARKER = f"MATKHAN{uuid.uuid4().hex[:8].upper()}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Tally:
    def __init__(self) -> None:
        self.probes: Counter[str] = Counter()
        self.leaks: list[str] = []
        self.figures: dict[str, Any] = {}  # what a probe measured (e.g. the SSE flood's connections)

    def probe(self, kind: str, leaked: str | None = None) -> None:
        self.probes[kind] += 1
        if leaked:
            self.leaks.append(f"{kind}: {leaked}")


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    t = Tally()
    yield t
    # The committed file is the full run's (`make faults`); a quick run's tally goes beside the stack's data.
    full = bool(os.environ.get("VANTHU_FAULTS"))
    out = HERE / "security.json" if full else Settings.from_env().data_dir / "security.quick.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "probes": sum(t.probes.values()),
                "leaks": len(t.leaks),
                "by_kind": dict(sorted(t.probes.items())),
                "leaked": t.leaks,
                "figures": t.figures,
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


def _feed_text(client: httpx.Client, headers: dict[str, str], office: str = SECRET_OFFICE) -> str:
    """What an office's feed replays from its beginning (read until it has nothing more to say)."""
    chunks: list[str] = []
    try:
        with client.stream(
            "GET", f"/v1/offices/{office}/feed?after=0", headers=headers, timeout=httpx.Timeout(3.0)
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


# --- issue 12: each hole a probe kind ------------------------------------------------------------------

PROBE_OFFICE, RECIPIENT = "qu-10", "qu-11"  # written only by the probes below


def _write(
    client: httpx.Client, headers: dict[str, str], doc: dict[str, Any], action: str, **params: Any
) -> Any:
    resp = client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": action, **params},
        headers={**headers, "If-Match": f'"{doc["version"]}"'},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    body["_position"] = resp.headers["x-vanthu-position"]
    return body


def _seen(client: httpx.Client, headers: dict[str, str], doc: dict[str, Any]) -> dict[str, Any]:
    """The document once the read models include the write that answered `doc`."""
    resp = client.get(f"/v1/documents/{doc['id']}?after={doc['_position']}", headers=headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _created(client: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    resp = client.post("/v1/documents", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    doc: dict[str, Any] = resp.json()
    doc["_position"] = resp.headers["x-vanthu-position"]
    return doc


def _signed(system: System, client: httpx.Client, office: str, **fields: Any) -> dict[str, Any]:
    drafter = system.token(office, "specialist", user=f"cv.{office}")
    leader = system.token(office, "leader", user=f"ld.{office}", clearance="tuyet_mat")
    doc = _created(client, drafter, create_body("outgoing", office, **fields))
    doc = _write(client, drafter, doc, "submit_review")
    doc = _write(client, leader, doc, "review", approve=True)
    return dict(_write(client, leader, doc, **body("sign")))


def test_token_rules_of_the_identity_section(system: System, client: httpx.Client, tally: Tally) -> None:
    s = system.settings
    now = int(time.time())
    good = {"sub": "mallory", "office": PROBE_OFFICE, "roles": ["admin"], "clearance": "tuyet_mat"}
    good |= {"aud": s.jwt_audience, "iat": now, "exp": now + 3600}
    tokens = {
        "no aud": {k: v for k, v in good.items() if k != "aud"},
        "another audience": {**good, "aud": "another-service"},
        "100 years": {**good, "exp": now + 100 * 365 * 86400},
        "no iat": {k: v for k, v in good.items() if k != "iat"},
        "sub system": {**good, "sub": "system"},
        "sub system:saga": {**good, "sub": "system:saga"},
    }
    url = f"/v1/offices/{PROBE_OFFICE}/documents"
    assert (
        client.get(url, headers={"Authorization": "Bearer " + jwt.encode(good, s.jwt_secret)}).status_code
        == 200
    )
    for name, claims in tokens.items():
        resp = client.get(url, headers={"Authorization": "Bearer " + jwt.encode(claims, s.jwt_secret)})
        tally.probe("token rules", None if resp.status_code == 401 else f"{name} -> {resp.status_code}")
    assert tally.leaks == []


def test_production_tokens_over_http(system: System, tally: Tally, tmp_path: Path) -> None:
    """Done-when: with a JWKS, an audience and an issuer configured, an HS256 token, another audience, a
    token longer-lived than the maximum and a `sub` of `system` all answer 401 (the app in-process)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from api.app import create_app

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]}))
    prod = system.settings.with_(
        jwks_file=str(tmp_path / "jwks.json"),
        jwt_audience="vanthu-prod",
        jwt_issuer="https://sso.example.vn",
        environment="production",
    )
    now = int(time.time())
    good = {"sub": "ld.prod", "office": PROBE_OFFICE, "roles": ["leader"], "aud": "vanthu-prod"}
    good |= {"iss": "https://sso.example.vn", "iat": now, "exp": now + 3600}

    def rs(claims: dict[str, Any]) -> str:
        return "Bearer " + jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    refused = {
        "HS256": "Bearer " + issue_token(prod, office=PROBE_OFFICE, roles=["leader"]),
        "another audience": rs({**good, "aud": "vanthu"}),
        "longer than the maximum": rs({**good, "exp": now + 30 * 86400}),
        "sub system": rs({**good, "sub": "system"}),
    }

    async def run() -> dict[str, int]:
        from deploy.config.db import create_pool

        app = create_app(prod)
        app.state.pool = await create_pool(prod.app_dsn, min_size=1, max_size=2)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as c:
                url = f"/v1/offices/{PROBE_OFFICE}/deadlines"
                answers = {
                    name: (await c.get(url, headers={"Authorization": a})).status_code
                    for name, a in refused.items()
                }
                answers["RS256 as configured"] = (
                    await c.get(url, headers={"Authorization": rs(good)})
                ).status_code
                return answers
        finally:
            await app.state.pool.close()

    answers = asyncio.run(run())
    assert answers.pop("RS256 as configured") == 200
    for name, status in answers.items():
        tally.probe("production tokens", None if status == 401 else f"{name} -> {status}")
    tally.figures["production_tokens"] = answers
    assert tally.leaks == []


def test_a_document_raised_to_toi_mat_was_secret_all_along(
    system: System, client: httpx.Client, tally: Tally
) -> None:
    marker = f"NANGMAT{uuid.uuid4().hex[:8].upper()}"
    drafter = system.token(PROBE_OFFICE, "specialist", user="cv.drafter")
    colleague = system.token(PROBE_OFFICE, "specialist", "clerk", "leader", user="cv.colleague")
    draft = _created(client, drafter, create_body("outgoing", PROBE_OFFICE, summary=f"Dự thảo {marker}"))
    assert marker in json.dumps(_seen(client, colleague, draft), ensure_ascii=False)  # plain: seen
    before = datetime.now(UTC).isoformat().replace("+", "%2B")
    raised = _write(client, drafter, draft, "revise", secrecy="toi_mat")
    _seen(client, drafter, raised)
    d = f"/v1/documents/{draft['id']}"
    for url in (d, f"{d}?as_of={before}", f"{d}/events", f"/v1/offices/{PROBE_OFFICE}/documents?q={marker}"):
        resp = client.get(url, headers=colleague)
        leaked = marker in resp.text or (
            resp.status_code == 200 and url != f"/v1/offices/{PROBE_OFFICE}/documents?q={marker}"
        )
        tally.probe("secret past", f"{url} -> {resp.status_code}" if leaked else None)
    replay = _feed_text(client, colleague, PROBE_OFFICE)
    tally.probe("secret past", f"the feed replay names {draft['id']}" if draft["id"] in replay else None)
    cleared = system.token(PROBE_OFFICE, "leader", user="ld.toimat", clearance="toi_mat")
    assert client.get(f"{d}?as_of={before}", headers=cleared).status_code == 200
    assert tally.leaks == []


def test_the_duplicate_warning_names_only_documents_the_clerk_may_see(
    system: System, client: httpx.Client, tally: Tally
) -> None:
    code = f"{uuid.uuid4().hex[:6].upper()}-CV/TW"
    body = create_body(
        "incoming", PROBE_OFFICE, number_code=code, secrecy="toi_mat", summary="Về việc bảo mật"
    )
    cleared = system.token(PROBE_OFFICE, "clerk", user="vt.cleared", clearance="toi_mat")
    first = _created(client, cleared, body)
    _seen(client, cleared, first)
    uncleared = system.token(PROBE_OFFICE, "clerk", user="vt.uncleared")
    second = _created(client, uncleared, {**body, "secrecy": "thuong"})
    warned = " ".join(second.get("warnings", []))
    assert "duplicate" in warned
    tally.probe("duplicate warning", f"names {first['id']}: {warned}" if first["id"] in warned else None)
    third = _created(client, cleared, body)
    assert first["id"] in " ".join(third.get("warnings", []))  # one who may see it is told which
    assert tally.leaks == []


def test_a_recipient_office_sees_its_copy_only(system: System, client: httpx.Client, tally: Tally) -> None:
    marker = f"BANGOC{uuid.uuid4().hex[:8].upper()}"
    doc = _signed(system, client, PROBE_OFFICE, summary=f"Thông báo {marker}")
    clerk = system.token(PROBE_OFFICE, "clerk", user=f"vt.{PROBE_OFFICE}")
    issued = _write(client, clerk, doc, "issue", recipients=[RECIPIENT])
    from tests.toolkit.waiting import wait_until_sync

    def copy() -> str | None:
        seen = client.get(f"/v1/documents/{issued['id']}", headers=clerk).json()
        return next((d["document_id"] for d in seen.get("deliveries", []) if d["document_id"]), None)

    copy_id = wait_until_sync(copy, what="the recipient's copy")
    there = system.token(
        RECIPIENT, "clerk", "leader", "specialist", user="ld.recipient", clearance="tuyet_mat"
    )
    assert client.get(f"/v1/documents/{copy_id}", headers=there).status_code == 200
    o = f"/v1/offices/{RECIPIENT}"
    for url in (f"/v1/documents/{issued['id']}", f"/v1/documents/{issued['id']}/events"):
        resp = client.get(url, headers=there)
        tally.probe("recipient original", None if resp.status_code == 404 else f"{url} -> {resp.status_code}")
    listed = [d["id"] for d in client.get(f"{o}/documents", headers=there).json()["items"]]
    assert copy_id in listed  # its copy, which names its source, is there
    tally.probe("recipient original", "the list shows the original" if issued["id"] in listed else None)
    feed = _feed_text(client, there, RECIPIENT)
    tally.probe("recipient original", "the feed names the original" if issued["id"] in feed else None)
    act = client.post(
        f"/v1/documents/{issued['id']}/actions",
        json={"action": "confirm_recall"},
        headers={**there, "If-Match": f'"{issued["version"]}"'},
    )
    tally.probe("recipient original", None if act.status_code == 404 else f"action -> {act.status_code}")
    assert tally.leaks == []


def test_names_a_client_makes_up_are_refused(system: System, client: httpx.Client, tally: Tally) -> None:
    clerk = system.token(PROBE_OFFICE, "clerk", user="vt.names")
    leader = system.token(PROBE_OFFICE, "leader", user="ld.names")
    forged = {**create_body("incoming", PROBE_OFFICE), "source": {"office_id": "tu-hcm", "document_id": "x"}}
    resp = client.post("/v1/documents", json=forged, headers=clerk)
    tally.probe("client names", None if resp.status_code == 422 else f"source accepted -> {resp.status_code}")
    signed = _signed(system, client, PROBE_OFFICE)
    for recipients in (["nowhere"], ["qu-1", "qu-1-fake"], [PROBE_OFFICE]):
        resp = client.post(
            f"/v1/documents/{signed['id']}/actions",
            json={"action": "issue", "recipients": recipients},
            headers={**clerk, "If-Match": f'"{signed["version"]}"'},
        )
        tally.probe(
            "client names", None if resp.status_code == 422 else f"issue {recipients} -> {resp.status_code}"
        )
    doc = _write(client, clerk, _created(client, clerk, create_body("incoming", PROBE_OFFICE)), "register")
    for lead, cooperating in (
        ({"unit": "qu-1.tong-hop"}, []),
        ({"unit": f"{PROBE_OFFICE}.tong-hop"}, ["nope"]),
    ):
        resp = client.post(
            f"/v1/documents/{doc['id']}/actions",
            json={
                "action": "assign",
                "lead": lead,
                "cooperating": cooperating,
                "deadline": {"working_days": 2},
            },
            headers={**leader, "If-Match": f'"{doc["version"]}"'},
        )
        tally.probe(
            "client names", None if resp.status_code == 422 else f"assign {lead} -> {resp.status_code}"
        )
    assert tally.leaks == []


FORMULAS = ("=1+1", "+1+1", "-1+1", "@SUM(A1)", '=HYPERLINK("http://x")')


def test_export_cells_are_text_never_formulas_and_hold_no_control_characters(
    system: System, client: httpx.Client, tally: Tally
) -> None:
    from openpyxl import load_workbook

    clerk = system.token(PROBE_OFFICE, "clerk", user="vt.export")
    last: dict[str, Any] = {}
    for n, formula in enumerate(FORMULAS):
        body = create_body(
            "incoming",
            PROBE_OFFICE,
            summary=f"{formula}\x07 chuông\x1b",
            issuing_body=formula,
            number_code=f"{formula}-{n}",
        )
        last = _write(client, clerk, _created(client, clerk, body), "register")
    _seen(client, clerk, last)
    url = f"/v1/offices/{PROBE_OFFICE}/registers/incoming"
    csv_resp = client.get(url, headers={**clerk, "Accept": "text/csv"})
    xlsx_resp = client.get(url, headers={**clerk, "Accept": XLSX})
    for resp in (csv_resp, xlsx_resp):
        tally.probe(
            "export injection",
            None if resp.status_code == 200 else f"{resp.headers['content-type']} -> {resp.status_code}",
        )
    if csv_resp.status_code == 200:
        import csv as csvmod

        cells = [c for row in csvmod.reader(io.StringIO(csv_resp.text.lstrip("\ufeff"))) for c in row]
        for cell in cells:
            bad = cell.startswith(("=", "+", "-", "@")) or any(
                ord(ch) < 32 and ch not in "\t\n\r" for ch in cell
            )
            tally.probe("export injection", f"CSV cell {cell!r}" if bad else None)
    if xlsx_resp.status_code == 200:
        sheet = load_workbook(io.BytesIO(xlsx_resp.content)).active
        for row in sheet.iter_rows():
            for cell in row:
                text = str(cell.value or "")
                bad = (
                    cell.data_type == "f"
                    or text.startswith("=")
                    or any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text)
                )
                tally.probe(
                    "export injection", f"XLSX cell {cell.coordinate} {cell.value!r}" if bad else None
                )
    assert tally.leaks == []


def test_every_route_that_shows_a_secret_document_logs_the_read(
    system: System, client: httpx.Client, tally: Tally
) -> None:
    marker = f"NHATKY{uuid.uuid4().hex[:8].upper()}"
    clerk = system.token(PROBE_OFFICE, "clerk", user="vt.secret", clearance="tuyet_mat")
    leader = system.token(PROBE_OFFICE, "leader", user="ld.secret", clearance="tuyet_mat")
    body = create_body("incoming", PROBE_OFFICE, summary=f"Kế hoạch {marker}", secrecy="tuyet_mat")
    doc = _write(client, clerk, _created(client, clerk, body), "register")
    doc = _write(client, leader, doc, "assign", lead={"user": "cv.secret"}, deadline={"working_days": 2})
    _seen(client, clerk, doc)
    doc_id, o = doc["id"], f"/v1/offices/{PROBE_OFFICE}"
    reads: list[tuple[str, str | None]] = [
        (f"/v1/documents/{doc_id}", None),
        (f"/v1/documents/{doc_id}?as_of={datetime.now(UTC).isoformat().replace('+', '%2B')}", None),
        (f"/v1/documents/{doc_id}/events", None),
        (f"{o}/documents", None),
        (f"{o}/documents?q={marker}", None),
        (f"{o}/deadlines?due_within=60", None),
        (f"{o}/registers/incoming", None),
        (f"{o}/registers/incoming", "text/csv"),
        (f"{o}/registers/incoming", XLSX),
        (f"{o}/stats", None),
        (f"{o}/reports/incoming", None),
        (f"{o}/reports/incoming", XLSX),
        (f"{o}/feed", None),
    ]
    auditor = system.token(PROBE_OFFICE, "auditor", user="kt.log")
    for n, (url, accept) in enumerate(reads):
        user = f"vt.logged{n}"
        reader = system.token(PROBE_OFFICE, "clerk", "leader", user=user, clearance="tuyet_mat")
        if url.endswith("/feed"):
            shown = doc_id in _feed_text(client, reader, PROBE_OFFICE)
        else:
            resp = client.get(url, headers={**reader, **({"Accept": accept} if accept else {})})
            counts = "/stats" in url or "/reports/" in url  # counts, not rows: the document is counted
            shown = resp.status_code == 200 and (
                marker in resp.text or doc_id in resp.text or accept == XLSX or counts
            )
        assert shown, url
        log = client.get(f"/v1/audit/secret-reads?document_id={doc_id}", headers=auditor).json()["items"]
        logged = [r for r in log if r["user_id"] == user]
        tally.probe(
            "secret read logged",
            None if len(logged) == 1 else f"{url} ({accept or 'json'}): {len(logged)} lines in the log",
        )
    assert tally.leaks == []


def test_an_sse_flood_by_one_user_is_refused_and_the_api_keeps_answering(
    system: System, client: httpx.Client, tally: Tally
) -> None:
    """500 concurrent feed clients of one user: those past the per-user limit get a 429 at once; while
    the others stay open the API answers, with PostgreSQL connections to spare."""
    from deploy.config.db import connect

    clients = 500
    flooder = system.token(PROBE_OFFICE, "clerk", user="vt.flood")
    other = system.token(PROBE_OFFICE, "clerk", user="vt.other")

    async def pg_connections() -> tuple[int, int]:
        conn = await connect(system.settings.dsn)
        try:
            used = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            most = int(await conn.fetchval("SHOW max_connections"))
            return int(used), most
        finally:
            await conn.close()

    async def flood() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=system.base_url, timeout=60, limits=limits) as c:
            url = f"/v1/offices/{PROBE_OFFICE}/feed"
            opened: list[Any] = []

            async def one() -> int:
                cm = c.stream("GET", url, headers=flooder)
                resp = await cm.__aenter__()
                if resp.status_code == 200:
                    opened.append(cm)
                else:
                    body = json.loads(await resp.aread())
                    assert body["type"] == "/problems/too-many-streams" and body["detail"], body
                    await cm.__aexit__(None, None, None)
                return resp.status_code

            before, most = await pg_connections()
            statuses = Counter(await asyncio.gather(*(one() for _ in range(clients))))
            during, _ = await pg_connections()
            listed = await c.get(f"/v1/offices/{PROBE_OFFICE}/documents", headers=other)
            health = await c.get("/healthz")
            mine = await c.get(f"/v1/offices/{PROBE_OFFICE}/deadlines", headers=other)
            for cm in opened:
                await cm.__aexit__(None, None, None)
            return {
                "clients": clients,
                "by_status": {str(k): v for k, v in sorted(statuses.items())},
                "other_requests": [listed.status_code, health.status_code, mine.status_code],
                "pg_connections_before": before,
                "pg_connections_during": during,
                "pg_max_connections": most,
            }

    figures = asyncio.run(flood())
    tally.figures["sse_flood"] = figures
    limit = system.settings.feed_streams_per_user
    ok = figures["by_status"] == {"200": limit, "429": clients - limit}
    tally.probe("sse flood", None if ok else f"statuses {figures['by_status']}")
    tally.probe("sse flood", None if figures["other_requests"] == [200, 200, 200] else f"{figures}")
    spare = figures["pg_connections_during"] < figures["pg_max_connections"] // 2
    tally.probe("sse flood", None if spare else f"PostgreSQL connections {figures}")
    assert tally.leaks == []


def test_bodies_over_the_limit_idempotency_keys_and_lowered_secrecy(
    system: System, client: httpx.Client, tally: Tally
) -> None:
    clerk = system.token(PROBE_OFFICE, "clerk", user="vt.alice")
    big = create_body("incoming", PROBE_OFFICE, summary="x" * (4 * 1024 * 1024))
    resp = client.post("/v1/documents", json=big, headers=clerk)
    tally.probe("body size", None if resp.status_code == 413 else f"a 4 MiB body -> {resp.status_code}")

    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    mine = _created(client, {**clerk, **key}, create_body("incoming", PROBE_OFFICE, summary="Của Alice"))
    mallory = system.token(PROBE_OFFICE, "clerk", user="vt.mallory")
    theirs = client.post(
        "/v1/documents",
        json=create_body("incoming", PROBE_OFFICE, summary="Của Alice"),
        headers={**mallory, **key},
    )
    leaked = theirs.status_code == 201 and (
        theirs.json()["id"] == mine["id"] or theirs.json()["created_by"] != "vt.mallory"
    )
    tally.probe(
        "idempotency", f"another user's key -> {theirs.status_code} {theirs.text[:200]}" if leaked else None
    )

    drafter = system.token(PROBE_OFFICE, "specialist", user="cv.lower")
    draft = _created(client, drafter, create_body("outgoing", PROBE_OFFICE, secrecy="toi_mat"))
    lowered = client.post(
        f"/v1/documents/{draft['id']}/actions",
        json={"action": "revise", "secrecy": "thuong"},
        headers={**drafter, "If-Match": f'"{draft["version"]}"'},
    )
    tally.probe(
        "secrecy lowered",
        None if lowered.status_code == 422 else f"revise to thuong -> {lowered.status_code}",
    )
    assert tally.leaks == []
