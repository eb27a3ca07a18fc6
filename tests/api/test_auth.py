"""Token verification: HS256 locally, RS256 against a JWKS, and the tokens that must never pass."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import Unauthenticated, Verifier, issue_token
from deploy.config.settings import Settings

CLAIMS = {"sub": "ld.an", "office": "tu-hcm", "roles": ["leader"], "clearance": "mat"}


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
    token = jwt.encode(
        {**CLAIMS, "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "k1"}
    )
    assert verifier.verify(_bearer(token)).user == "ld.an"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {**CLAIMS, "exp": int(time.time()) + 60}, other, algorithm="RS256", headers={"kid": "k1"}
    )
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
    token = jwt.encode(
        {**CLAIMS, "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "k1"}
    )
    with pytest.raises(Unauthenticated, match="not accepted"):
        Verifier(Settings.from_env({})).verify(_bearer(token))
