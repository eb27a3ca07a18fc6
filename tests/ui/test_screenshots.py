"""The screenshots the README shows are rewritten only when a page looks different: a run whose pages look
the same leaves a clean clone clean (`make test` used to rewrite all eight PNGs every time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import VIEWPORT, keep_screenshot

PAGE = """<!doctype html><html lang="vi"><body style="font: 16px sans-serif; margin: 40px">
<h1>Tổng quan</h1><p>Từ 01/01/2026 đến {day}/11/2026.</p>{form}
<table>{rows}</table></body></html>"""
# what new forms on a page look like: framed blocks with fields and a filled button (the document page's
# actions)
FORM = """<fieldset style="width: 600px; padding: 16px"><legend>Giải mật, hạ độ mật</legend>
<label>Độ mật mới <select><option>Thường</option></select></label><br><label>Căn cứ
<textarea rows="3" cols="60"></textarea></label><br>
<button style="background: #8b1a1a; color: #fff; padding: 3px 12px">Giải mật, hạ độ mật</button></fieldset>"""


@pytest.fixture(scope="module", autouse=True)
async def demo() -> None:
    """No system and no demo year here: only the browser (this overrides the package's fixture)."""


async def _shot(browser: Any, day: str, rows: int, colour: str = "white", form: str = "") -> bytes:
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        body = "".join(f"<tr><td>Đơn vị {i}</td><td>{i * 7}</td></tr>" for i in range(rows))
        html = PAGE.format(day=day, rows=body, form=form)
        await page.set_content(html.replace("margin: 40px", f"background: {colour}; margin: 40px"))
        return bytes(await page.screenshot())
    finally:
        await context.close()


async def test_a_screenshot_is_rewritten_only_when_the_page_looks_different(
    browser: Any, tmp_path: Path
) -> None:
    path = tmp_path / "tong-quan.png"
    first = await _shot(browser, "29", rows=5)
    assert await keep_screenshot(browser, path, first)  # none yet: written
    assert path.read_bytes() == first
    # the same page again, and the same page a day later (one date changed): the file is left alone
    assert not await keep_screenshot(browser, path, await _shot(browser, "29", rows=5))
    assert not await keep_screenshot(browser, path, await _shot(browser, "30", rows=5))
    assert path.read_bytes() == first
    # a new form on the page, or another background: the page looks different, the file is replaced (the
    # document page's new forms changed 2-5 % of its pixels)
    with_form = await _shot(browser, "30", rows=5, form=FORM * 2)
    assert await keep_screenshot(browser, path, with_form)
    assert path.read_bytes() == with_form
    grey = await _shot(browser, "30", rows=5, colour="#ddd", form=FORM * 2)
    assert await keep_screenshot(browser, path, grey)
    assert path.read_bytes() == grey
