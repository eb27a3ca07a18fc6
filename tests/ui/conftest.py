"""The web pages in a real headless Chromium (Debian's, driven by Playwright) against the whole system
(relay, processor with saga, API as real processes, from tests/e2e). Every request to an address that is
not this machine is blocked and recorded; a page that makes one, or whose requests fail, fails its test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from deploy.browser import chromium
from deploy.config.offices import Office, load_offices
from tests.e2e.conftest import System, http, system, system_database, system_env  # noqa: F401  (fixtures)
from tests.toolkit.waiting import wait_until

SCREENSHOTS = Path(__file__).parent / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}
# A screenshot replaces the committed one only when more than this share of its pixels changed visibly
# (a channel off by more than CHANNEL_STEP): a run whose pages look the same leaves a clean clone clean,
# while the day's date or a count moving by one (well under 1 % of 1366×768) does not rewrite the file.
CHANGED_SHARE = 0.01
CHANNEL_STEP = 24
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass
class Watch:
    """What the browser did that a page must not: reach outside, fail a request, log an error."""

    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [*(f"blocked {u}" for u in self.blocked), *self.failed, *self.errors]

    def clear(self) -> None:
        self.blocked.clear()
        self.failed.clear()
        self.errors.clear()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=str(chromium()),
            # no name resolves but this machine's: a request that slipped past the routing below would
            # still go nowhere
            args=[
                "--no-sandbox",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
            ],
        )
        try:
            yield b
        finally:
            await b.close()


_COMPARE = """async ([a, b, step]) => {
    const load = async (b64) => {
        const blob = await (await fetch('data:image/png;base64,' + b64)).blob();
        return await createImageBitmap(blob);
    };
    const [x, y] = [await load(a), await load(b)];
    if (x.width !== y.width || x.height !== y.height) return 1;
    const pixels = (img) => {
        const canvas = new OffscreenCanvas(img.width, img.height);
        const g = canvas.getContext('2d');
        g.drawImage(img, 0, 0);
        return g.getImageData(0, 0, img.width, img.height).data;
    };
    const [p, q] = [pixels(x), pixels(y)];
    let changed = 0;
    for (let i = 0; i < p.length; i += 4) {
        if (Math.abs(p[i] - q[i]) > step || Math.abs(p[i + 1] - q[i + 1]) > step
            || Math.abs(p[i + 2] - q[i + 2]) > step || Math.abs(p[i + 3] - q[i + 3]) > step) changed++;
    }
    return changed / (p.length / 4);
}"""


async def changed_share(browser: Any, old: bytes, new: bytes) -> float:
    """The share of pixels that differ visibly between two PNG images (1.0 when their sizes differ),
    decoded and compared by the browser itself in a blank page of its own (no image package needed)."""
    import base64

    context = await browser.new_context()
    try:
        page = await context.new_page()
        share = await page.evaluate(
            _COMPARE, [base64.b64encode(old).decode(), base64.b64encode(new).decode(), CHANNEL_STEP]
        )
        return float(share)
    finally:
        await context.close()


async def keep_screenshot(browser: Any, path: Path, png: bytes) -> bool:
    """Write the screenshot unless the committed one looks the same (at most CHANGED_SHARE of its pixels
    changed visibly); answers whether it wrote."""
    old = _read(path)
    if old is not None and (old == png or await changed_share(browser, old, png) <= CHANGED_SHARE):
        return False
    _write(path, png)
    return True


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def _write(path: Path, png: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


@dataclass
class Person:
    """One user's browser context (its own cookies) and page, watched."""

    context: Any
    page: Any
    watch: Watch


async def open_person(browser: Any, base_url: str) -> Person:
    watch = Watch()
    context = await browser.new_context(viewport=VIEWPORT, locale="vi-VN", base_url=base_url)

    async def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            await route.continue_()
        else:
            watch.blocked.append(route.request.url)
            await route.abort("blockedbyclient")

    await context.route("**/*", guard)
    page = await context.new_page()

    def failed(request: Any) -> None:
        # a request cut short by leaving the page (the SSE stream, an icon still loading) is not a failure
        # of the page; a blocked one is recorded by the guard (ERR_BLOCKED_BY_CLIENT)
        if request.failure and "ERR_ABORTED" in request.failure:
            return
        watch.failed.append(f"failed {request.url}: {request.failure}")

    def answered(response: Any) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            watch.failed.append(f"{response.status} {response.url}")

    page.on("requestfailed", failed)
    page.on("response", answered)
    page.on(
        "console", lambda m: watch.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: watch.errors.append(f"page error: {e}"))
    return Person(context, page, watch)


async def sign_in(person: Person, office: str, role: str, clearance: str = "") -> None:
    page = person.page
    await page.goto("/ui/signin")
    await page.select_option("#office", office)
    await page.select_option("#role", role)
    await page.select_option("#clearance", clearance)
    await page.click("text=Đăng nhập thử nghiệm")
    await page.wait_for_url("**/ui")


@pytest.fixture(scope="module", autouse=True)
async def demo(system: System) -> None:  # noqa: F811 (the fixture imported above)
    """A small demo year (deploy/demo.py, as `make run` seeds it) so the pages show what an office holds;
    waits until the read models hold every document's last event."""
    from deploy.config.db import connect
    from deploy.demo import seed
    from schemas.acts import is_act_stream

    await seed(system.settings, documents=60, quiet=True)
    conn = await connect(system.settings.dsn)
    try:

        async def caught_up() -> bool:
            stored = await conn.fetch("SELECT stream_id, max(version) AS v FROM events GROUP BY stream_id")
            applied = dict(await conn.fetch("SELECT id, version FROM rm.documents"))
            return all(
                applied.get(r["stream_id"]) == r["v"] for r in stored if not is_act_stream(r["stream_id"])
            )

        await wait_until(caught_up, within=120, every=0.5, what="the read models to hold the demo year")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def offices(system: System, demo: None) -> tuple[Office, Office]:  # noqa: F811 (the fixture imported above)
    """The top office and one office under it, from the configuration (never fixed ids: the demo's
    offices change)."""
    configured = load_offices(system.settings.offices_file)
    open_now = {o["id"] for o in httpx.get(f"{system.base_url}/v1/offices", timeout=30).json()["items"]}
    top = next(o for o in configured if o.parent_id is None)
    below = sorted((o for o in configured if o.parent_id == top.id and o.id in open_now), key=lambda o: o.id)[
        0
    ]
    return top, below
