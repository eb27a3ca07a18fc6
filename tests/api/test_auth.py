"""Token verification: HS256 locally, RS256 against a JWKS, and the tokens that must never pass."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import Unauthenticated, Verifier, issue_token
from deploy.config.settings import Settings

CLAIMS = {"sub": "ld.an", "office": "tu-hcm", "roles": ["leader"], "clearance": "mat"}


def _fresh(**changes: object) -> dict[str, object]:
    """CLAIMS as a valid token carries them: the audience, issued now, one hour to live."""
    now = int(time.time())
    return {**CLAIMS, "aud": "vanthu", "iat": now, "exp": now + 3600, **changes}


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _rsa_jwks(tmp_path: Path) -> tuple[rsa.RSAPrivateKey, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return key, path


def test_local_hs256_token_round_trips() -> None:
    s = Settings.from_env({})
    p = Verifier(s).verify(_bearer(issue_token(s, office="qu-1", roles=["clerk"], clearance="toi_mat")))
    assert (p.office, p.roles, p.clearance, p.user) == ("qu-1", ("clerk",), "toi_mat", "clerk@qu-1")


def test_rs256_verified_against_the_jwks(tmp_path: Path) -> None:
    key, path = _rsa_jwks(tmp_path)
    verifier = Verifier(Settings.from_env({}).with_(jwks_file=str(path)))
    token = jwt.encode(_fresh(), key, algorithm="RS256", headers={"kid": "k1"})
    assert verifier.verify(_bearer(token)).user == "ld.an"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_fresh(), other, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(Unauthenticated):
        verifier.verify(_bearer(forged))


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            jwt.encode({**CLAIMS, "exp": int(time.time()) - 5}, "vanthu-local-development-only-hs256-secret"),
            id="expired",
        ),
        pytest.param(
            jwt.encode({**CLAIMS, "exp": int(time.time()) + 60}, "another-secret-of-sufficient-length!!"),
            id="bad-signature",
        ),
        pytest.param(
            jwt.encode({**CLAIMS, "exp": int(time.time()) + 60}, None, algorithm="none"), id="alg-none"
        ),
        pytest.param(jwt.encode({**CLAIMS}, "vanthu-local-development-only-hs256-secret"), id="no-exp"),
        pytest.param(
            jwt.encode(
                {**CLAIMS, "roles": ["root"], "exp": int(time.time()) + 60},
                "vanthu-local-development-only-hs256-secret",
            ),
            id="unknown-role",
        ),
        pytest.param("not-a-token", id="garbage"),
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(Unauthenticated):
        Verifier(Settings.from_env({})).verify(_bearer(token))


def test_rs256_without_a_jwks_is_refused(tmp_path: Path) -> None:
    key, _ = _rsa_jwks(tmp_path)
    token = jwt.encode(_fresh(), key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(Unauthenticated, match="not accepted"):
        Verifier(Settings.from_env({})).verify(_bearer(token))


DEV = "vanthu-local-development-only-hs256-secret"


# Each case's claims are made when the test runs (a time taken at collection ages with a long run: the
# token "two minutes ahead" is no longer ahead once the suite reaches it two minutes later).
@pytest.mark.parametrize(
    ("claims", "why"),
    [
        (lambda: _fresh(aud="another-service"), "audience"),
        (lambda: {k: v for k, v in _fresh().items() if k != "aud"}, "aud"),
        (lambda: {k: v for k, v in _fresh().items() if k != "iat"}, "iat"),
        (lambda: _fresh(exp=int(time.time()) + 100 * 365 * 86400), "lives"),
        (lambda: _fresh(iat=int(time.time()) - 48 * 3600), "lives"),  # exp an hour from now, not a minute
        (lambda: _fresh(iat=int(time.time()) + 120), "iat"),
        (lambda: _fresh(sub="system"), "reserved"),
        (lambda: _fresh(sub="system:saga"), "reserved"),
    ],
    ids=["other-aud", "no-aud", "no-iat", "100-years", "48h-lifetime", "iat-2min-ahead", "system", "system:"],
)
def test_token_rules_of_the_identity_section(claims: Callable[[], dict[str, object]], why: str) -> None:
    with pytest.raises(Unauthenticated, match=f"(?i){why}"):
        Verifier(Settings.from_env({})).verify(_bearer(jwt.encode(claims(), DEV)))


def test_a_few_seconds_of_clock_skew_are_tolerated() -> None:
    ahead = _fresh(iat=int(time.time()) + 3)
    assert Verifier(Settings.from_env({})).verify(_bearer(jwt.encode(ahead, DEV))).user == "ld.an"


def test_production_refuses_hs256_other_audiences_long_lives_and_the_system(tmp_path: Path) -> None:
    """Done-when: a JWKS, an audience and an issuer configured; each of these answers 401."""
    key, path = _rsa_jwks(tmp_path)
    settings = Settings.from_env(
        {
            "VANTHU_JWKS_FILE": str(path),
            "VANTHU_JWT_AUDIENCE": "vanthu-prod",
            "VANTHU_JWT_ISSUER": "https://sso.example.vn",
            "VANTHU_ENVIRONMENT": "production",
        }
    )
    verifier = Verifier(settings)
    good = {**_fresh(aud="vanthu-prod"), "iss": "https://sso.example.vn"}

    def rs(claims: dict[str, object]) -> str:
        return _bearer(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"}))

    assert verifier.verify(rs(good)).user == "ld.an"
    refused = {
        "hs256": _bearer(issue_token(settings, office="tu-hcm", roles=["admin"])),
        "hs256 dev secret": _bearer(jwt.encode(good, DEV)),
        "other audience": rs({**good, "aud": "vanthu"}),
        "other issuer": rs({**good, "iss": "https://evil.example"}),
        "too long-lived": rs({**good, "exp": int(time.time()) + 30 * 86400}),
        "system": rs({**good, "sub": "system"}),
    }
    for name, auth in refused.items():
        with pytest.raises(Unauthenticated):
            verifier.verify(auth)
            pytest.fail(name)


def test_an_empty_secret_is_refused_not_replaced_by_the_development_one() -> None:
    with pytest.raises(ValueError, match="empty"):
        Settings.from_env({"VANTHU_JWT_SECRET": ""})
    with pytest.raises(ValueError, match="32 bytes"):
        Verifier(Settings.from_env({"VANTHU_JWT_SECRET": "short"}))


def test_outside_development_the_built_in_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="development secret"):
        Verifier(Settings.from_env({"VANTHU_ENVIRONMENT": "production"}))
    strong = "a-production-secret-that-is-long-enough-0123456789"
    Verifier(Settings.from_env({"VANTHU_ENVIRONMENT": "production", "VANTHU_JWT_SECRET": strong}))


def test_a_verified_token_is_kept_until_it_expires_and_then_refused_on_time() -> None:
    s = Settings.from_env({})
    now = [time.time()]
    verifier = Verifier(s, clock=lambda: now[0])
    claims = _fresh()
    token = _bearer(jwt.encode(claims, s.jwt_secret))
    assert verifier.verify(token).user == "ld.an"
    verifier.secret = "another secret that would refuse the token if it were decoded again"
    assert verifier.verify(token).user == "ld.an"  # kept: not decoded again
    now[0] = float(claims["exp"]) + s.jwt_leeway_seconds - 0.5  # type: ignore[arg-type]
    assert verifier.verify(token).user == "ld.an"  # still within the tolerated skew
    now[0] += 1
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(token)
    with pytest.raises(Unauthenticated):  # and it is not kept any more
        verifier.verify(token)


def test_only_tokens_that_pass_every_rule_are_kept() -> None:
    s = Settings.from_env({})
    verifier = Verifier(s)
    too_long = _bearer(jwt.encode(_fresh(exp=int(time.time()) + 48 * 3600), s.jwt_secret))
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="lives"):
            verifier.verify(too_long)
    system = _bearer(jwt.encode(_fresh(sub="system"), s.jwt_secret))
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="reserved"):
            verifier.verify(system)


def test_the_kept_tokens_are_bounded() -> None:
    s = Settings.from_env({})
    verifier = Verifier(s)
    verifier.CACHE_SIZE = 3
    tokens = [_bearer(jwt.encode(_fresh(sub=f"u{i}"), s.jwt_secret)) for i in range(5)]
    assert [verifier.verify(t).user for t in tokens] == [f"u{i}" for i in range(5)]
    assert len(verifier._verified) == 3
