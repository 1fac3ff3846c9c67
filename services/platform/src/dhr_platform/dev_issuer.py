"""The local development token issuer: an Ed25519 signing key generated once into the local state
directory, its JWKS file (which the services read under `make run`) and minting of tokens for
any role (`dhr token`).

Its issuer name (`DEV_AUTH_ISSUER`) is refused outside development, so a token it mints is never
accepted by a production deployment, whatever key that deployment trusts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dhr_platform.principal import Role
from dhr_platform.settings import DEV_AUTH_AUDIENCE, DEV_AUTH_ISSUER

SIGNING_KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"
DEFAULT_TTL = timedelta(hours=8)
MAX_TTL = timedelta(days=30)
_REPOSITORY_ROOT = Path(__file__).resolve().parents[4]
_DURATION = re.compile(r"^(\d+)([smhd]?)$")


def default_directory() -> Path:
    """Where the development issuer keeps its key: <state dir>/auth, the state dir being
    $DHR_STATE_DIR or <repository>/.local as for `dhr-local` and `make run`."""
    configured = os.environ.get("DHR_STATE_DIR")
    state = Path(configured).expanduser() if configured else _REPOSITORY_ROOT / ".local"
    return state / "auth"


def parse_duration(text: str) -> timedelta:
    """`90`, `90s`, `30m`, `8h` or `2d` as a duration (at most MAX_TTL)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30m, 8h or 2d")
    unit = {"": "seconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
    duration = timedelta(**{unit: int(match[1])})
    if not timedelta(0) < duration <= MAX_TTL:
        raise ValueError(f"a token's lifetime must be more than 0 and at most {MAX_TTL.days} days")
    return duration


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    """The public JWK of a key, its `kid` the RFC 7638 thumbprint."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    thumbprint = hashlib.sha256(json.dumps(members, separators=(",", ":"),
                                           sort_keys=True).encode()).digest()
    return {**members, "kid": _b64url(thumbprint), "alg": "EdDSA", "use": "sig"}


@dataclass(frozen=True)
class DevelopmentIssuer:
    """A signing key and the names tokens are minted with."""

    directory: Path
    private_key: Ed25519PrivateKey
    issuer: str = DEV_AUTH_ISSUER
    audience: str = DEV_AUTH_AUDIENCE

    @classmethod
    def load_or_create(cls, directory: Path | None = None, *, issuer: str = DEV_AUTH_ISSUER,
                       audience: str = DEV_AUTH_AUDIENCE) -> DevelopmentIssuer:
        """The issuer of `directory`, its key generated (once, readable by its owner only) when
        missing; the JWKS file is written next to it."""
        directory = directory or default_directory()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path = directory / SIGNING_KEY_FILE
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(pem)
        issuer_of = cls._read(directory, issuer, audience)
        jwks = json.dumps(issuer_of.jwks(), indent=2) + "\n"
        jwks_path = directory / JWKS_FILE
        if not jwks_path.exists() or jwks_path.read_text() != jwks:
            temporary = jwks_path.with_suffix(".tmp")
            temporary.write_text(jwks)
            temporary.replace(jwks_path)
        return issuer_of

    @classmethod
    def _read(cls, directory: Path, issuer: str, audience: str) -> DevelopmentIssuer:
        key = serialization.load_pem_private_key((directory / SIGNING_KEY_FILE).read_bytes(),
                                                 password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{directory / SIGNING_KEY_FILE} is not an Ed25519 key")
        return cls(directory, key, issuer, audience)

    @property
    def jwks_path(self) -> Path:
        return self.directory / JWKS_FILE

    @property
    def key_id(self) -> str:
        return public_jwk(self.private_key)["kid"]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.private_key)]}

    def environment(self) -> dict[str, str]:
        """The DHR_AUTH_* variables that make a service accept this issuer's tokens."""
        return {"DHR_AUTH_JWKS_FILE": str(self.jwks_path), "DHR_AUTH_ISSUER": self.issuer,
                "DHR_AUTH_AUDIENCE": self.audience, "DHR_AUTH_ALGORITHMS": '["EdDSA"]'}

    def claims(self, *, role: str, organisation: str | None, subject: str | None = None,
               ttl: timedelta = DEFAULT_TTL, now: datetime | None = None,
               personal_data: bool = False) -> dict[str, Any]:
        """The claims of a token for `role` (one of `Role`) in `organisation`."""
        Role(role)  # refuses a role the platform does not know
        issued = int((now or datetime.now(UTC)).timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience,
            "sub": subject or _default_subject(role, organisation),
            "roles": [role], "iat": issued, "nbf": issued,
            "exp": issued + int(ttl.total_seconds()), "jti": str(uuid.uuid4()),
        }
        if organisation is not None:
            claims["org"] = organisation
        if personal_data:
            claims["personal_data"] = True  # grants an oversight reader plaintext personal data
        return claims

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """Any claims signed with this issuer's key (tests use it to forge odd tokens)."""
        return jwt.encode(claims, self.private_key, algorithm="EdDSA",
                          headers={"kid": self.key_id, **(headers or {})})

    def mint(self, *, role: str, organisation: str | None, subject: str | None = None,
             ttl: timedelta = DEFAULT_TTL, now: datetime | None = None,
             personal_data: bool = False) -> str:
        """A signed token for `role` in `organisation`."""
        return self.sign(self.claims(role=role, organisation=organisation, subject=subject,
                                     ttl=ttl, now=now, personal_data=personal_data))


def _default_subject(role: str, organisation: str | None) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (organisation or "").casefold()).strip("-")
    return f"dev-{role.replace('_', '-')}" + (f"-{slug}" if slug else "")
