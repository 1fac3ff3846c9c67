"""Bearer-token authentication: OIDC/JWT access tokens verified against a JWKS (ADR 0008).

Every service route depends on `authenticate` (the app factory refuses to start otherwise), which
verifies the token and gives the handler a `Principal`. What a principal may do is decided by
each service's policy module with `dhr_platform.policy`.

Security notes, in the order a token is checked:
- the algorithm comes from configuration, never from the token: a header naming any other
  algorithm (`none`, `HS256`...) is refused before a key is looked at;
- each key of the JWKS is bound to one algorithm when it is loaded, from its own `alg` or its
  key type and curve, and must match it (an RSA key is never read as an HMAC secret, an EC key
  of one curve never used for another); keys with private or secret members are ignored;
- PyJWT then verifies the signature with that key and that algorithm only, and checks `exp`,
  `nbf`, `iat`, `iss` and `aud` with a small leeway; `exp`, `iss`, `aud` and `sub` are required.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt import PyJWK
from starlette.routing import BaseRoute

from dhr_platform.principal import Principal, Role
from dhr_platform.settings import PlatformSettings

log = logging.getLogger(__name__)

# Algorithm -> (key type, curve) its key must have. Only asymmetric algorithms: a verifier that
# holds no secret cannot be tricked into treating a public key as an HMAC secret.
KEY_TYPES: Mapping[str, tuple[str, str | None]] = {
    "EdDSA": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "RS256": ("RSA", None), "RS384": ("RSA", None), "RS512": ("RSA", None),
    "PS256": ("RSA", None), "PS384": ("RSA", None), "PS512": ("RSA", None),
}
SUPPORTED_ALGORITHMS = frozenset(KEY_TYPES)
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
VERIFIED_TOKENS_CACHED = 4096
"""Verified tokens remembered by a verifier (the least recently used goes first)."""
# Members that only a private or secret key has: such a key has no place in a published JWKS.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class InvalidToken(Exception):
    """The token cannot be accepted; `reason` is safe to show to the caller."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotAuthenticated(Exception):
    """HTTP 401: no bearer token, or one that was refused (`error` is RFC 6750's code)."""

    def __init__(self, detail: str, error: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.error = error

    def www_authenticate(self, realm: str = "dhr") -> str:
        """The RFC 6750 challenge for this refusal."""
        if self.error is None:
            return f'Bearer realm="{realm}"'
        description = self.detail.replace("\\", "").replace('"', "'")
        return f'Bearer realm="{realm}", error="{self.error}", error_description="{description}"'


class SigningKeysUnavailable(Exception):
    """HTTP 503: the issuer's keys could not be fetched, so no token can be checked now."""


# --------------------------------------------------------------------------------------- keys


def algorithm_of(jwk: Mapping[str, Any], allowed: Collection[str]) -> str | None:
    """The one algorithm a JWK may verify, or None when it may verify none of `allowed`."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    declared = jwk.get("alg")
    if isinstance(declared, str):
        candidates: Iterable[str] = [declared]
    else:  # no `alg`: the first allowed algorithm its key type and curve fit
        candidates = [name for name in KEY_TYPES if name in allowed]
    for name in candidates:
        expected = KEY_TYPES.get(name)
        if name in allowed and expected is not None and expected[0] == kty and (
                expected[1] is None or expected[1] == crv):
            return name
    return None


def keys_from_jwks(document: Any, allowed: Collection[str]) -> dict[str | None, PyJWK]:
    """The verification keys of a JWKS document by key id, each bound to its one algorithm.

    Keys for other uses, of algorithms not allowed, with private members or malformed are
    skipped (and logged); a document that is not a JWKS at all is an error.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('a JWKS is a JSON object with a "keys" array')
    keys: dict[str | None, PyJWK] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if jwk.get("use", "sig") != "sig" or not (kid is None or isinstance(kid, str)):
            continue
        if _PRIVATE_MEMBERS & jwk.keys():
            log.warning("JWKS key %r holds private or secret material: ignored", kid)
            continue
        algorithm = algorithm_of(jwk, allowed)
        if algorithm is None:
            log.info("JWKS key %r fits no accepted algorithm: ignored", kid)
            continue
        try:
            keys[kid] = PyJWK(jwk, algorithm)
        except jwt.PyJWTError as error:
            log.warning("JWKS key %r is malformed: %s", kid, error)
    return keys


def _select(keys: Mapping[str | None, PyJWK], kid: str | None) -> PyJWK | None:
    if kid is None:  # a token without a key id is accepted only when there is one key
        return next(iter(keys.values())) if len(keys) == 1 else None
    return keys.get(kid)


class SigningKeys(Protocol):
    """Where the issuer's public keys come from."""

    async def key_for(self, kid: str | None) -> PyJWK:
        """The key with this id; InvalidToken when there is none."""
        ...


class JwksFile:
    """Keys from a JWKS file, read at start and read again when an unknown key id shows up and
    the file has changed (so a rotated key needs no restart)."""

    def __init__(self, path: Path, algorithms: Collection[str]):
        self.path = path
        self.algorithms = frozenset(algorithms)
        self._keys, self._modified = self._read()
        if not self._keys:
            raise ValueError(f"{path}: no key in this JWKS fits the accepted algorithms "
                             f"{sorted(self.algorithms)}")

    def _read(self) -> tuple[dict[str | None, PyJWK], float]:
        modified = self.path.stat().st_mtime
        return keys_from_jwks(json.loads(self.path.read_text(encoding="utf-8")),
                              self.algorithms), modified

    async def key_for(self, kid: str | None) -> PyJWK:
        key = _select(self._keys, kid)
        if key is None:
            try:
                if os.stat(self.path).st_mtime != self._modified:
                    self._keys, self._modified = await asyncio.to_thread(self._read)
                    key = _select(self._keys, kid)
            except (OSError, ValueError) as error:
                log.warning("could not read the JWKS file %s again: %s", self.path, error)
        if key is None:
            raise InvalidToken("the token was signed with an unknown key")
        return key


Fetch = Callable[[str], Awaitable[Any]]


async def fetch_json(url: str) -> Any:
    """GET a JSON document (the issuer's JWKS); redirects are not followed."""
    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()


class JwksUrl:
    """Keys from the issuer's JWKS URL, cached for `cache_seconds` and fetched again when a
    token names an unknown key id (the issuer rotated its keys), at most once every
    `min_refresh_seconds` so that tokens with made-up key ids cannot flood the issuer."""

    def __init__(self, url: str, algorithms: Collection[str], *, cache_seconds: float = 300.0,
                 min_refresh_seconds: float = 10.0, fetch: Fetch = fetch_json,
                 clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.algorithms = frozenset(algorithms)
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str | None, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key_for(self, kid: str | None) -> PyJWK:
        if self._fetched_at is None or self._clock() - self._fetched_at >= self.cache_seconds:
            await self._refresh(self._fetched_at)
        key = _select(self._keys, kid)
        if key is None and self._fetched_at is not None and (
                self._clock() - self._fetched_at >= self.min_refresh_seconds):
            await self._refresh(self._fetched_at)
            key = _select(self._keys, kid)
        if key is None:
            raise InvalidToken("the token was signed with an unknown key")
        return key

    async def _refresh(self, seen: float | None) -> None:
        async with self._lock:
            if self._fetched_at != seen:
                return  # another request fetched meanwhile
            try:
                self.fetches += 1
                keys = keys_from_jwks(await self._fetch(self.url), self.algorithms)
            except (httpx.HTTPError, ValueError) as error:
                log.warning("could not fetch the JWKS at %s: %s", self.url, error)
                if not self._keys:
                    raise SigningKeysUnavailable(
                        "The token issuer's signing keys cannot be fetched now; retry shortly."
                    ) from error
                self._fetched_at = self._clock()  # keep the old keys; try again later
                return
            self._keys, self._fetched_at = keys, self._clock()


# ----------------------------------------------------------------------------------- verifier


class TokenVerifier:
    """Verifies a bearer token and says who it names."""

    def __init__(self, keys: SigningKeys, *, issuer: str, audience: str,
                 algorithms: Collection[str], leeway_seconds: float = 30.0,
                 role_claim: str = "roles", organisation_claim: str = "org",
                 personal_data_claim: str = "personal_data"):
        unsupported = set(algorithms) - SUPPORTED_ALGORITHMS
        if unsupported or not algorithms:
            raise ValueError(f"accepted algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.algorithms = frozenset(algorithms)
        self.leeway_seconds = leeway_seconds
        self.role_claim = role_claim
        self.organisation_claim = organisation_claim
        self.personal_data_claim = personal_data_claim
        # Token -> (principal, key id, key, valid until): a client sends the same token with
        # every request until it expires, and checking its signature again each time was an
        # eighth of a command's CPU.
        self._verified: OrderedDict[str, tuple[Principal, str | None, PyJWK, float]] = (
            OrderedDict())

    async def verify(self, token: str) -> Principal:
        """The token's principal; InvalidToken (with a reason safe to show) when refused.

        A token verified before is taken from a bounded cache while it has not expired and its
        key id still gives the same key (a key rotated out of the key set stops its tokens at
        once, as when the token is verified afresh)."""
        cached = self._verified.get(token)
        if cached is not None:
            principal, kid, key, valid_until = cached
            if time.time() < valid_until and await self.keys.key_for(kid) is key:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, kid, key, claims = await self._verify(token)
        # `exp` is a required claim, checked with the leeway; `nbf`, once passed, stays passed.
        self._verified[token] = (principal, kid, key, float(claims["exp"]) + self.leeway_seconds)
        if len(self._verified) > VERIFIED_TOKENS_CACHED:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str
                      ) -> tuple[Principal, str | None, PyJWK, Mapping[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is not a well-formed JWT") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise InvalidToken(f"the token's algorithm {str(algorithm)[:20]!r} is not accepted")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the token's key id is not a string")
        key = await self.keys.key_for(kid)
        if key.algorithm_name != algorithm:
            raise InvalidToken("the token's algorithm does not match its key")
        try:
            claims = jwt.decode(token, key=key, algorithms=[algorithm], audience=self.audience,
                                issuer=self.issuer, leeway=self.leeway_seconds,
                                options={"require": list(REQUIRED_CLAIMS)})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is not meant for this service (audience)") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token's issuer is not trusted") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token has no {error.claim!r} claim") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token is not valid") from None
        return self.principal_of(claims), kid, key, claims

    def principal_of(self, claims: Mapping[str, Any]) -> Principal:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 255:
            raise InvalidToken("the token's subject is not a usable id")
        raw_roles = claims.get(self.role_claim, [])
        names = [raw_roles] if isinstance(raw_roles, str) else raw_roles
        if not isinstance(names, list):
            raise InvalidToken(f"the token's {self.role_claim!r} claim is not a list of roles")
        known = {role.value for role in Role}
        roles = frozenset(Role(name) for name in names if isinstance(name, str) and name in known)
        organisation = claims.get(self.organisation_claim)
        if organisation is not None and (not isinstance(organisation, str)
                                         or not organisation.strip() or len(organisation) > 200):
            raise InvalidToken(f"the token's {self.organisation_claim!r} claim is not a name")
        return Principal(subject=subject, roles=roles, organisation=organisation,
                         personal_data_granted=claims.get(self.personal_data_claim) is True)


def token_verifier_from(settings: PlatformSettings) -> TokenVerifier:
    """The verifier configured by the DHR_AUTH_* settings (refused when incomplete)."""
    settings.require_auth_configuration()
    assert settings.auth_issuer is not None
    assert settings.auth_audience is not None
    keys: SigningKeys
    if settings.auth_jwks_file is not None:
        keys = JwksFile(settings.auth_jwks_file, settings.auth_algorithms)
    else:
        assert settings.auth_jwks_url is not None
        keys = JwksUrl(settings.auth_jwks_url, settings.auth_algorithms,
                       cache_seconds=settings.auth_jwks_cache_seconds,
                       min_refresh_seconds=settings.auth_jwks_min_refresh_seconds)
    return TokenVerifier(keys, issuer=settings.auth_issuer, audience=settings.auth_audience,
                         algorithms=settings.auth_algorithms,
                         leeway_seconds=settings.auth_leeway_seconds,
                         role_claim=settings.auth_role_claim,
                         organisation_claim=settings.auth_organisation_claim,
                         personal_data_claim=settings.auth_personal_data_claim)


# ---------------------------------------------------------------------------------- FastAPI

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="bearer", bearerFormat="JWT",
    description="An OIDC/JWT access token from the configured issuer (in development: "
    "`uv run dhr token --role ROLE --org ORG`).")


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The request's principal, from its verified bearer token (401 without a valid one)."""
    verifier: TokenVerifier | None = request.app.state.token_verifier
    if verifier is None:
        raise SigningKeysUnavailable("Bearer-token verification is not configured.")
    if credentials is None:
        raise NotAuthenticated("A bearer token is required (Authorization: Bearer <token>).")
    try:
        principal = await verifier.verify(credentials.credentials)
    except InvalidToken as refused:
        log.info("bearer token refused on %s %s: %s", request.method, request.url.path,
                 refused.reason)
        raise NotAuthenticated(f"The bearer token was refused: {refused.reason}.",
                               "invalid_token") from None
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
"""A handler parameter that gives the authenticated caller (the token is verified once per
request, however many dependencies ask for it)."""


@dataclass(frozen=True)
class RouteGuards:
    """What stands in front of one route: the token check and the policy actions it checks."""

    authenticated: bool
    actions: tuple[str, ...]


def api_routes(routes: Iterable[BaseRoute]) -> dict[str, RouteGuards]:
    """Each API route of an app (`"GET /path"`) with its guards: whether it depends, directly or
    through other dependencies (an included router's too), on `authenticate`, and the actions
    of the policy checks it depends on (dependencies carrying a `policy_action`)."""
    found: dict[str, RouteGuards] = {}
    for context in iter_route_contexts(list(routes)):
        if not isinstance(context.original_route, APIRoute):
            continue
        pending = list(context.dependant.dependencies)
        authenticated, actions = False, []
        while pending:
            dependency = pending.pop()
            authenticated = authenticated or dependency.call is authenticate
            action = getattr(dependency.call, "policy_action", None)
            if isinstance(action, str):
                actions.append(action)
            pending.extend(dependency.dependencies)
        for method in sorted(context.methods or ()):
            found[f"{method} {context.path}"] = RouteGuards(authenticated, tuple(sorted(actions)))
    return found
