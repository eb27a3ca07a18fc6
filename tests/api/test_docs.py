"""/docs and /redoc load nothing from outside: every script, style and icon they name is served here."""

from __future__ import annotations

import re

import httpx
import pytest

_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_name_only_local_assets_and_serve_them(client: httpx.AsyncClient, page: str) -> None:
    html = (await client.get(page)).text
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html
    named = [a or b for a, b in _URL.findall(html)]
    assert any(u.endswith(".js") for u in named), named
    for url in named:
        assert url.startswith("/"), f"{page} names {url}, which is not served by the API"
        answer = await client.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
    assert "openapi.json" in html
