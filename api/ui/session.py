"""Who is at the browser: the token in an HttpOnly cookie, verified like a Bearer token on every page.

Sign-in either takes a token from the deployment's identity provider (pasted, or set by a gateway), or,
only while the built-in development secret is in use, mints one for a demo user picked from a list.
Forms carry a CSRF value derived from the token, so another site cannot post as the user."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request

from api.auth import Principal, Unauthenticated, Verifier
from deploy.config.settings import DEV_JWT_SECRET, Settings

COOKIE = "vanthu_ui_token"


class SignInNeeded(Exception):
    """No token, or one that no longer verifies: the page sends the browser to the sign-in page."""


def dev_sign_in(request: Request) -> bool:
    """Whether the sign-in page may mint tokens for demo users: only with the development secret."""
    settings: Settings = request.app.state.settings
    verifier: Verifier = request.app.state.verifier
    return verifier.hs256 and settings.jwt_secret == DEV_JWT_SECRET


def csrf_for(token: str) -> str:
    return hmac.new(b"vanthu-ui-csrf", token.encode(), hashlib.sha256).hexdigest()[:32]


async def ui_user(request: Request) -> Principal:
    token = request.cookies.get(COOKIE, "")
    if not token:
        raise SignInNeeded()
    try:
        principal: Principal = request.app.state.verifier.verify(f"Bearer {token}")
    except Unauthenticated as exc:
        raise SignInNeeded() from exc
    request.state.principal = principal
    request.state.csrf = csrf_for(token)
    return principal


UiUser = Annotated[Principal, Depends(ui_user)]


def check_csrf(request: Request, sent: str) -> bool:
    expected = getattr(request.state, "csrf", "")
    return bool(expected) and hmac.compare_digest(expected, sent)
