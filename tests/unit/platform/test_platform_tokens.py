"""Bearer-token verification: what is accepted, and every way a token is refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any
from unittest import mock

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from dhr_platform import auth
from dhr_platform.auth import (
    InvalidToken,
    JwksFile,
    JwksUrl,
    NotAuthenticated,
    SigningKeysUnavailable,
    TokenVerifier,
    keys_from_jwks,
)
from dhr_platform.dev_issuer import DevelopmentIssuer, parse_duration, public_jwk
from dhr_platform.principal import Principal, Role
from dhr_platform.settings import PlatformSettings

ISSUER, AUDIENCE = "urn:dhr:unit-issuer", "dhr-unit"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def issuer(tmp_path: Path) -> DevelopmentIssuer:
    return DevelopmentIssuer.load_or_create(tmp_path / "issuer", issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture
def verifier(issuer: DevelopmentIssuer) -> TokenVerifier:
    return TokenVerifier(JwksFile(issuer.jwks_path, ["EdDSA", "ES256", "RS256"]), issuer=ISSUER,
                         audience=AUDIENCE, algorithms=["EdDSA", "ES256", "RS256"],
                         leeway_seconds=30)


def claims(issuer: DevelopmentIssuer, **changes: Any) -> dict[str, Any]:
    body = issuer.claims(role="review_manager", organisation="Norfolk", subject="rm-1")
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as refusal:
        await verifier.verify(token)
    return refusal.value.reason


# --- accepted -----------------------------------------------------------------------------------


async def test_a_token_of_the_issuer_gives_its_subject_roles_and_organisation(
        issuer: DevelopmentIssuer, verifier: TokenVerifier) -> None:
    principal = await verifier.verify(issuer.sign(claims(issuer)))

    assert principal == Principal("rm-1", frozenset({Role.REVIEW_MANAGER}), "Norfolk")


async def test_a_role_claim_may_be_a_string_and_unknown_roles_are_ignored(
        issuer: DevelopmentIssuer, verifier: TokenVerifier) -> None:
    single = await verifier.verify(issuer.sign(claims(issuer, roles="chair")))
    mixed = await verifier.verify(issuer.sign(claims(issuer, roles=["superuser", "admin"])))

    assert single.roles == {Role.CHAIR}
    assert mixed.roles == {Role.ADMIN}


async def test_expiry_and_not_before_are_judged_with_the_leeway(
        issuer: DevelopmentIssuer, verifier: TokenVerifier) -> None:
    now = int(time.time())
    just_expired = issuer.sign(claims(issuer, exp=now - 10))
    almost_valid = issuer.sign(claims(issuer, nbf=now + 10, iat=now))

    assert (await verifier.verify(just_expired)).subject == "rm-1"
    assert (await verifier.verify(almost_valid)).subject == "rm-1"


# --- refused ------------------------------------------------------------------------------------


async def test_a_forged_signature_is_refused(issuer: DevelopmentIssuer,
                                             verifier: TokenVerifier) -> None:
    header, payload, signature = issuer.sign(claims(issuer)).split(".")
    promoted = b64url(json.dumps(claims(issuer, roles=["oversight_reader"])).encode())
    flipped = b64url(bytes([base64.urlsafe_b64decode(signature + "==")[0] ^ 1])
                     + base64.urlsafe_b64decode(signature + "==")[1:])

    assert "signature" in await refused(verifier, f"{header}.{promoted}.{signature}")
    assert "signature" in await refused(verifier, f"{header}.{payload}.{flipped}")


async def test_an_expired_token_is_refused(issuer: DevelopmentIssuer,
                                           verifier: TokenVerifier) -> None:
    token = issuer.sign(claims(issuer, exp=int(time.time()) - 120))

    assert await refused(verifier, token) == "the token has expired"


async def test_a_token_not_yet_valid_is_refused(issuer: DevelopmentIssuer,
                                                verifier: TokenVerifier) -> None:
    token = issuer.sign(claims(issuer, nbf=int(time.time()) + 600))

    assert await refused(verifier, token) == "the token is not valid yet"


async def test_a_token_of_another_issuer_is_refused(issuer: DevelopmentIssuer,
                                                    verifier: TokenVerifier) -> None:
    token = issuer.sign(claims(issuer, iss="https://elsewhere.example"))

    assert await refused(verifier, token) == "the token's issuer is not trusted"


async def test_a_token_for_another_audience_is_refused(issuer: DevelopmentIssuer,
                                                       verifier: TokenVerifier) -> None:
    token = issuer.sign(claims(issuer, aud="another-api"))

    assert "audience" in await refused(verifier, token)


@pytest.mark.parametrize("missing", ["exp", "iss", "aud", "sub"])
async def test_a_token_without_a_required_claim_is_refused(
        issuer: DevelopmentIssuer, verifier: TokenVerifier, missing: str) -> None:
    token = issuer.sign(claims(issuer, **{missing: None}))

    assert missing in await refused(verifier, token)


async def test_an_unsigned_alg_none_token_is_refused(issuer: DevelopmentIssuer,
                                                     verifier: TokenVerifier) -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": issuer.key_id}).encode())
    payload = b64url(json.dumps(claims(issuer)).encode())

    assert await refused(verifier, f"{header}.{payload}.") == (
        "the token's algorithm 'none' is not accepted")
    assert await refused(verifier, f"{header}.{payload}") == "the token is not a well-formed JWT"


async def test_an_hs256_token_signed_with_the_public_key_is_refused(
        issuer: DevelopmentIssuer, verifier: TokenVerifier) -> None:
    """The classic key confusion: HMAC keyed with the public key the verifier knows."""
    public = issuer.private_key.public_key()
    secrets = [
        public.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        json.dumps(public_jwk(issuer.private_key)).encode(),
    ]
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.key_id}).encode())
    payload = b64url(json.dumps(claims(issuer)).encode())
    for secret in secrets:
        mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        assert "not accepted" in await refused(verifier, f"{header}.{payload}.{b64url(mac)}")


async def test_hs256_is_refused_even_when_configured_and_the_jwks_holds_a_secret(
        issuer: DevelopmentIssuer, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="algorithms"):
        TokenVerifier(JwksFile(issuer.jwks_path, ["EdDSA"]), issuer=ISSUER, audience=AUDIENCE,
                      algorithms=["EdDSA", "HS256"])
    secret = {"kty": "oct", "kid": "shared", "k": b64url(b"s" * 32), "alg": "HS256"}
    assert keys_from_jwks({"keys": [secret]}, ["HS256", "EdDSA"]) == {}


async def test_a_token_with_an_unknown_key_id_is_refused(issuer: DevelopmentIssuer,
                                                         verifier: TokenVerifier) -> None:
    token = issuer.sign(claims(issuer), headers={"kid": "rotated-away"})

    assert await refused(verifier, token) == "the token was signed with an unknown key"


async def test_a_token_signed_by_another_key_is_refused_whatever_key_id_it_names(
        issuer: DevelopmentIssuer, verifier: TokenVerifier, tmp_path: Path) -> None:
    stranger = DevelopmentIssuer.load_or_create(tmp_path / "stranger", issuer=ISSUER,
                                                audience=AUDIENCE)
    own_kid = stranger.sign(claims(issuer))
    our_kid = jwt.encode(claims(issuer), stranger.private_key, algorithm="EdDSA",
                         headers={"kid": issuer.key_id})

    assert await refused(verifier, own_kid) == "the token was signed with an unknown key"
    assert "signature" in await refused(verifier, our_kid)


async def test_a_key_is_used_only_with_its_own_algorithm(tmp_path: Path) -> None:
    """An EC key named in an RS256 token (or the other way round) is never tried."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {"keys": [{**json.loads(ECAlgorithm.to_jwk(ec_key.public_key())), "kid": "ec"},
                     {**json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "rsa"}]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    verifier = TokenVerifier(JwksFile(path, ["ES256", "RS256"]), issuer=ISSUER, audience=AUDIENCE,
                             algorithms=["ES256", "RS256"])
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "exp": int(time.time()) + 60}

    good = await verifier.verify(jwt.encode(body, ec_key, algorithm="ES256", headers={"kid": "ec"}))
    mismatched = jwt.encode(body, rsa_key, algorithm="RS256", headers={"kid": "ec"})

    assert good.subject == "s"
    assert await refused(verifier, mismatched) == "the token's algorithm does not match its key"


async def test_an_unconfigured_algorithm_is_refused_even_with_a_good_signature(
        issuer: DevelopmentIssuer) -> None:
    only_es256 = TokenVerifier(JwksFile(issuer.jwks_path, ["EdDSA"]), issuer=ISSUER,
                               audience=AUDIENCE, algorithms=["ES256"])

    assert "not accepted" in await refused(only_es256, issuer.sign(claims(issuer)))


async def test_garbage_is_refused_as_not_a_jwt(verifier: TokenVerifier) -> None:
    assert await refused(verifier, "not-a-token") == "the token is not a well-formed JWT"


def test_a_refusal_carries_an_rfc_6750_challenge() -> None:
    missing = NotAuthenticated("A bearer token is required.")
    invalid = NotAuthenticated('The bearer token was refused: the "token" has expired.',
                               "invalid_token")

    assert missing.www_authenticate() == 'Bearer realm="dhr"'
    assert invalid.www_authenticate() == ('Bearer realm="dhr", error="invalid_token", '
                                          "error_description=\"The bearer token was refused: "
                                          "the 'token' has expired.\"")


# --- keys ---------------------------------------------------------------------------------------


def test_keys_with_private_members_or_other_uses_are_left_out(issuer: DevelopmentIssuer) -> None:
    public = public_jwk(issuer.private_key)
    private_raw = issuer.private_key.private_bytes(serialization.Encoding.Raw,
                                                   serialization.PrivateFormat.Raw,
                                                   serialization.NoEncryption())
    jwks = {"keys": [{**public, "kid": "with-d", "d": b64url(private_raw)},
                     {**public, "kid": "encryption", "use": "enc"},
                     {**public, "kid": "good"}]}

    assert list(keys_from_jwks(jwks, ["EdDSA"])) == ["good"]


async def test_a_rotated_jwks_file_is_read_again_on_an_unknown_key_id(
        issuer: DevelopmentIssuer, tmp_path: Path) -> None:
    keys = JwksFile(issuer.jwks_path, ["EdDSA"])
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, algorithms=["EdDSA"])
    newcomer = Ed25519PrivateKey.generate()
    rotated = {"keys": [public_jwk(issuer.private_key), public_jwk(newcomer)]}
    issuer.jwks_path.write_text(json.dumps(rotated))
    bumped = issuer.jwks_path.stat().st_mtime + 5
    os.utime(issuer.jwks_path, (bumped, bumped))
    token = jwt.encode(claims(issuer), newcomer, algorithm="EdDSA",
                       headers={"kid": public_jwk(newcomer)["kid"]})

    assert (await verifier.verify(token)).subject == "rm-1"


class FakeIssuerEndpoint:
    """A JWKS URL answered from memory, counting fetches, with a clock the test moves."""

    def __init__(self, *keys: Ed25519PrivateKey):
        self.keys = list(keys)
        self.now = 1000.0
        self.fetched = 0
        self.down = False

    async def fetch(self, url: str) -> Any:
        self.fetched += 1
        if self.down:
            raise ValueError("connection refused")
        return {"keys": [public_jwk(key) for key in self.keys]}

    def clock(self) -> float:
        return self.now


async def test_a_jwks_url_is_cached_and_fetched_again_on_an_unknown_key_id() -> None:
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    endpoint = FakeIssuerEndpoint(first)
    keys = JwksUrl("https://issuer.example/jwks", ["EdDSA"], cache_seconds=300,
                   min_refresh_seconds=10, fetch=endpoint.fetch, clock=endpoint.clock)
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, algorithms=["EdDSA"])
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "exp": int(time.time()) + 60}

    def token(key: Ed25519PrivateKey) -> str:
        return jwt.encode(body, key, algorithm="EdDSA", headers={"kid": public_jwk(key)["kid"]})

    for _ in range(3):
        await verifier.verify(token(first))
    assert endpoint.fetched == 1

    endpoint.keys.append(second)  # the issuer rotates
    endpoint.now += 11
    assert (await verifier.verify(token(second))).subject == "s"
    assert endpoint.fetched == 2

    stranger = Ed25519PrivateKey.generate()
    for _ in range(5):  # made-up key ids do not make it fetch on every request
        await refused(verifier, token(stranger))
    assert endpoint.fetched == 2


async def test_an_unreachable_jwks_url_with_no_keys_yet_is_a_503_not_a_401() -> None:
    endpoint = FakeIssuerEndpoint(Ed25519PrivateKey.generate())
    endpoint.down = True
    keys = JwksUrl("https://issuer.example/jwks", ["EdDSA"], fetch=endpoint.fetch,
                   clock=endpoint.clock)

    with pytest.raises(SigningKeysUnavailable):
        await keys.key_for("any")


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithms", ['["none"]', '["HS256"]', '["EdDSA", "HS512"]', "[]"])
def test_settings_refuse_none_and_hmac_algorithms(monkeypatch: pytest.MonkeyPatch,
                                                  algorithms: str) -> None:
    monkeypatch.setenv("DHR_AUTH_ALGORITHMS", algorithms)
    with pytest.raises(ValueError, match="never none or HMAC"):
        PlatformSettings()


def test_serving_without_a_token_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="DHR_AUTH_ISSUER"):
        PlatformSettings(auth_jwks_file=None).require_auth_configuration()


def test_production_refuses_the_development_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = PlatformSettings(environment="production",
                                database_url="postgresql://dhr@db.internal/dhr",
                                kafka_bootstrap="kafka-0.internal:9092",
                                auth_issuer="urn:dhr:development-issuer")
    with pytest.raises(ValueError, match="development token issuer"):
        settings.refuse_development_defaults()


def test_token_lifetimes_read_as_durations() -> None:
    assert parse_duration("90").total_seconds() == 90
    assert parse_duration("30m").total_seconds() == 1800
    assert parse_duration("8h").total_seconds() == 8 * 3600
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("forever")
    with pytest.raises(ValueError, match="at most 30 days"):
        parse_duration("400d")


# --- verified tokens remembered ------------------------------------------------------------------


class KeysInMemory:
    """Signing keys by id that a test can take away or swap."""

    def __init__(self, issuer: DevelopmentIssuer) -> None:
        self.keys = dict(keys_from_jwks(json.loads(issuer.jwks_path.read_text()), ["EdDSA"]))

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        key = self.keys.get(kid)
        if key is None:
            raise InvalidToken("the token was signed with an unknown key")
        return key


def remembering(keys: Any, leeway: float = 30) -> TokenVerifier:
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, algorithms=["EdDSA"],
                         leeway_seconds=leeway)


async def test_a_token_is_verified_once_and_then_remembered(issuer: DevelopmentIssuer) -> None:
    verifier = remembering(KeysInMemory(issuer))
    token = issuer.sign(claims(issuer))

    with mock.patch.object(verifier, "_verify", wraps=verifier._verify) as checked:
        first = await verifier.verify(token)
        again = await verifier.verify(token)

    assert first == again == Principal("rm-1", frozenset({Role.REVIEW_MANAGER}), "Norfolk")
    assert checked.call_count == 1


async def test_a_remembered_token_is_refused_once_it_expires(issuer: DevelopmentIssuer) -> None:
    verifier = remembering(KeysInMemory(issuer), leeway=0)
    token = issuer.sign(claims(issuer, exp=int(time.time()) + 1))
    assert (await verifier.verify(token)).subject == "rm-1"

    await asyncio.sleep(int(time.time()) + 1.1 - time.time())  # past `exp`, leeway 0

    assert await refused(verifier, token) == "the token has expired"


async def test_a_remembered_token_is_refused_once_its_key_is_gone_or_replaced(
        issuer: DevelopmentIssuer) -> None:
    keys = KeysInMemory(issuer)
    verifier = remembering(keys)
    token = issuer.sign(claims(issuer))
    assert (await verifier.verify(token)).subject == "rm-1"
    (kid, key), = keys.keys.items()

    keys.keys.clear()
    assert await refused(verifier, token) == "the token was signed with an unknown key"

    other = Ed25519PrivateKey.generate()
    keys.keys[kid] = jwt.PyJWK({**public_jwk(other), "kid": kid})
    assert "signature" in await refused(verifier, token)

    keys.keys[kid] = key
    assert (await verifier.verify(token)).subject == "rm-1"


async def test_only_so_many_tokens_are_remembered(issuer: DevelopmentIssuer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "VERIFIED_TOKENS_CACHED", 2)
    verifier = remembering(KeysInMemory(issuer))
    tokens = [issuer.sign(claims(issuer, subject=f"rm-{n}")) for n in range(3)]

    with mock.patch.object(verifier, "_verify", wraps=verifier._verify) as checked:
        for token in [*tokens, tokens[2], tokens[0]]:
            await verifier.verify(token)

    # The third pushed the first out; the third again was remembered; the first was not.
    assert checked.call_count == 4
