"""Who is calling: JWT bearer tokens (HS256 locally, RS256 via a JWKS), turned into a Principal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from deploy.config.settings import DEV_JWT_SECRET, Settings
from schemas.enums import Secrecy
from schemas.envelope import Actor

ROLES = ("clerk", "specialist", "leader", "auditor", "admin")
CLEARANCES = tuple(s.value for s in Secrecy if s.is_secret)


class Unauthenticated(Exception):
    """No token, or one that does not verify: 401."""


class Forbidden(Exception):
    """A valid token that may not do this: 403."""


@dataclass(frozen=True)
class Principal:
    user: str
    office: str
    roles: tuple[str, ...]
    clearance: str | None = None

    def has(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise Forbidden(
                f"this needs one of the roles {', '.join(roles)}; the token has {', '.join(self.roles)}"
            )

    def cleared_for(self, secrecy: str | None) -> bool:
        """Whether the clearance alone covers a secrecy level (grants are checked separately)."""
        need = Secrecy.rank_of(secrecy)
        return need == 0 or Secrecy.rank_of(self.clearance) >= need

    @property
    def actor(self) -> Actor:
        return Actor(user=self.user, office=self.office, roles=self.roles)


MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash


def is_system_user(user: str) -> bool:
    """User ids the system acts as (the delivery saga, the deadline chaser): never accepted from a token."""
    return user == "system" or user.startswith("system:")


class Verifier:
    """Verifies tokens against the configured keys; built once per app.

    The rules (API.md, Identity): `aud` is the configured audience; `exp` - `iat` within the maximum
    lifetime; `iss` when an issuer is configured; a few seconds of clock skew; HS256 only while no JWKS is
    configured; never a reserved system user."""

    CACHE_SIZE = 10_000  # verified tokens kept (a few hundred bytes each)

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        # token -> (principal, the instant it stops being valid: exp + leeway, as jwt.decode judges it).
        # Only what passed every rule is kept, and the only rule time can break later is exp: iat and
        # nbf only grow truer. A cached token still expires on time, judged at every use.
        self._verified: dict[str, tuple[Principal, float]] = {}
        self.secret = settings.jwt_secret
        self.issuer = settings.jwt_issuer or None
        self.audience = settings.jwt_audience
        self.max_lifetime = settings.jwt_max_lifetime_hours * 3600
        self.leeway = settings.jwt_leeway_seconds
        self.jwks: jwt.PyJWKClient | None = None
        self.jwks_keys: jwt.PyJWKSet | None = None
        source = settings.jwks_file
        if source.startswith(("http://", "https://")):
            self.jwks = jwt.PyJWKClient(source)
        elif source:
            self.jwks_keys = jwt.PyJWKSet.from_dict(json.loads(Path(source).read_text()))
        self.hs256 = self.jwks is None and self.jwks_keys is None
        if self.hs256 and len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"VANTHU_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        if self.hs256 and settings.environment != "development" and self.secret == DEV_JWT_SECRET:
            raise ValueError(
                "outside development (VANTHU_ENVIRONMENT) the built-in development secret is refused: "
                "set VANTHU_JWT_SECRET or VANTHU_JWKS_FILE"
            )

    def _key(self, token: str) -> tuple[Any, list[str]]:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg == "HS256" and self.hs256:
            return self.secret, ["HS256"]
        if alg == "RS256" and (self.jwks or self.jwks_keys):
            kid = header.get("kid")
            if self.jwks is not None:
                return self.jwks.get_signing_key_from_jwt(token).key, ["RS256"]
            assert self.jwks_keys is not None
            for k in self.jwks_keys.keys:
                if kid is None or k.key_id == kid:
                    return k.key, ["RS256"]
            raise Unauthenticated("no key in the JWKS matches the token's kid")
        raise Unauthenticated(f"tokens signed with {alg!r} are not accepted")

    def verify(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("an Authorization: Bearer <token> header is required")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        known = self._verified.get(token)
        if known is not None:
            principal, until = known
            if self.clock() < until:
                return principal
            del self._verified[token]
            raise Unauthenticated("the token has expired")
        principal, until = self._verify(token)
        self._remember(token, principal, until)
        return principal

    def _remember(self, token: str, principal: Principal, until: float) -> None:
        if len(self._verified) >= self.CACHE_SIZE:
            now = self.clock()
            for stale in [t for t, (_, u) in self._verified.items() if u <= now]:
                del self._verified[stale]
            while len(self._verified) >= self.CACHE_SIZE:  # the oldest kept go first
                del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, until)

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            key, algorithms = self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": ["sub", "exp", "iat", "aud"]},
            )
        except Unauthenticated:
            raise
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired") from exc
        except (jwt.InvalidTokenError, jwt.PyJWKClientError, ValueError) as exc:
            raise Unauthenticated(f"the token is not valid: {exc}") from exc
        lifetime = claims["exp"] - claims["iat"]
        if not isinstance(lifetime, int | float) or lifetime > self.max_lifetime:
            raise Unauthenticated(
                f"the token lives {lifetime} s; at most {self.max_lifetime} s (exp - iat) are accepted"
            )
        return principal_from_claims(claims), float(claims["exp"]) + self.leeway


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    user, office, roles = claims.get("sub"), claims.get("office"), claims.get("roles")
    if not isinstance(user, str) or not user:
        raise Unauthenticated("the token's sub claim must name the user")
    if is_system_user(user):
        raise Unauthenticated(f"the user id {user!r} is reserved for the system")
    if not isinstance(office, str) or not office:
        raise Unauthenticated("the token's office claim must name the office")
    if not isinstance(roles, list) or not roles or not all(r in ROLES for r in roles):
        raise Unauthenticated(f"the token's roles claim must be a non-empty list of {', '.join(ROLES)}")
    clearance = claims.get("clearance")
    if clearance is not None and clearance not in CLEARANCES:
        raise Unauthenticated(f"the token's clearance claim must be one of {', '.join(CLEARANCES)}")
    return Principal(user=user, office=office, roles=tuple(roles), clearance=clearance)


def issue_token(
    settings: Settings,
    *,
    office: str,
    roles: list[str],
    user: str | None = None,
    clearance: str | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    """A local HS256 token (what `vanthu token` prints)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user or f"{roles[0]}@{office}",
        "office": office,
        "roles": roles,
        "iat": now,
        "exp": now + ttl_seconds,
        "aud": settings.jwt_audience,
    }
    if clearance:
        claims["clearance"] = clearance
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
