"""What a response discloses: sealed personal values opened for callers allowed them, and every
read of restricted material recorded as an access event (docs/security.md).

Stores, read models and idempotent replies hold personal values sealed (`dhr_platform.sealing`),
so a handler's JSON answer holds them sealed too. `Disclosure`, an ASGI middleware every service
app has, opens them on the way out, in one place, whatever the route:

- a value whose review's data key was erased reads `[erased]`, for everyone;
- a caller whose role may not see personal data, or who states no purpose (`DHR-Purpose`
  header), gets `[withheld]`;
- otherwise the plaintext, and before the response leaves, one access event per review read
  (`dhr.<service>.RestrictedMaterialRead.v1`: who from the token, what, when, why) is committed
  to the service's store and so published to oversight. When it cannot be recorded, the caller
  gets a 503 instead of the plaintext.

Routes that serve other restricted material (IMRs, family testimony) declare it with
`restricted(Material...)`: they then require a stated purpose, and every successful read is
recorded even when no personal value is in the answer.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dhr_contracts.access import PURPOSE_PATTERN, Material, RestrictedMaterialRead
from dhr_contracts.base import SEALED_PREFIX
from dhr_platform.eventstore import ConcurrencyError, EventMetadata, EventStore, NewEvent
from dhr_platform.principal import Principal, Role
from dhr_platform.sealing import (
    ERASED,
    WITHHELD,
    Keyring,
    KeyringError,
    key_id_of,
    replace_sealed,
    sealed_values,
)

log = logging.getLogger(__name__)

PURPOSE_HEADER = "DHR-Purpose"
UNREADABLE = "[unreadable]"
"""What a sealed value reads as when it does not open with its key (it was altered)."""
_PURPOSE = re.compile(PURPOSE_PATTERN)
_SEALED = SEALED_PREFIX.encode()
_JSON_TYPES = (b"application/json", b"application/problem+json")
_NOT_DISCLOSED = {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                  "detail": "The answer holds restricted material, and its disclosure could not "
                  "be recorded or its keys read. Retry later."}

PERSONAL_DATA_ROLES = frozenset({Role.REVIEW_MANAGER, Role.CHAIR, Role.PANEL_MEMBER,
                                 Role.AGENCY_LEAD, Role.AGENCY_SYSTEM})
"""Roles that get plaintext personal data of what they may see at all (each route's object
checks decide that). Oversight readers need the grant claim besides; admins never get it."""


def may_read_personal_data(principal: Principal) -> bool:
    if principal.has(*PERSONAL_DATA_ROLES):
        return True
    return principal.has(Role.OVERSIGHT_READER) and principal.personal_data_granted


def purpose_of(headers: Mapping[str, str]) -> str | None:
    """The purpose a request states, when it is a well-formed purpose code."""
    purpose = headers.get(PURPOSE_HEADER.lower())
    return purpose if purpose is not None and _PURPOSE.match(purpose) else None


class PurposeRequired(Exception):
    """A route that serves restricted material was called without a stated purpose."""

    def __init__(self) -> None:
        super().__init__(f"State why you read this restricted material: a {PURPOSE_HEADER} "
                         "header with a purpose code such as review-work (lower-case letters, "
                         "digits and hyphens).")


def restricted(*materials: Material) -> Any:
    """A route dependency: the route serves restricted material of the review in its path
    (`review_id`); a purpose is required and each successful read is recorded."""

    async def declare(request: Request) -> None:
        if purpose_of(request.headers) is None:
            raise PurposeRequired
        declared: set[Material] | None = getattr(request.state, "restricted_material", None)
        if declared is None:
            declared = request.state.restricted_material = set()
        declared.update(materials)

    return Depends(declare)


@dataclass
class Reads:
    """What one response disclosed, review by review."""

    values: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    materials: dict[str, set[Material]] = field(default_factory=lambda: defaultdict(set))


class AccessLog:
    """Records access events in the service's own store (and so its topic)."""

    def __init__(self, service: str, store: Callable[[], EventStore],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.event_type = f"dhr.{service}.RestrictedMaterialRead.v1"
        self.store = store
        self.clock = clock

    async def record(self, principal: Principal, purpose: str, resource: str,
                     reads: Reads) -> None:
        store = self.store()
        read_at = self.clock()
        for review_id, materials in reads.materials.items():
            payload = RestrictedMaterialRead(
                review_id=UUID(review_id), purpose=purpose, resource=resource[:200],
                material=tuple(sorted(materials)), values_disclosed=reads.values[review_id],
                read_at=read_at)
            event = NewEvent(self.event_type, payload.model_dump(mode="json"))
            metadata = EventMetadata.for_request(review_id, principal)
            stream = f"access-{review_id}"
            for attempt in range(10):
                try:
                    async with store.pool.acquire() as connection, connection.transaction():
                        version = await store.stream_version(stream, connection)
                        await store.append(connection, stream, version, [event], metadata)
                    break
                except ConcurrencyError:
                    if attempt == 9:
                        raise


class Disclosure:
    """ASGI middleware: opens sealed values in JSON answers and records what was disclosed."""

    def __init__(self, app: ASGIApp, *, keyring: Callable[[], Keyring],
                 pool: Callable[[], asyncpg.Pool], access_log: AccessLog):
        self.app = app
        self.keyring = keyring
        self.pool = pool
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []
        passing = False

        async def capture(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                content_type = dict(message.get("headers") or ()).get(b"content-type", b"")
                if not content_type.startswith(_JSON_TYPES) or int(message["status"]) >= 400:
                    passing = True
                    await send(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            assert start is not None
            body = b"".join(chunks)
            status = int(start["status"])
            disclosed = await self.disclose(scope, body)
            if disclosed is None:
                status, body = 503, _dumps(_NOT_DISCLOSED)
            else:
                body = disclosed
            headers = [(name, value) for name, value in start.get("headers") or ()
                       if name != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            if status != int(start["status"]):
                headers = [(name, value) for name, value in headers
                           if name not in (b"content-type", b"etag")]
                headers.append((b"content-type", b"application/problem+json"))
                headers.append((b"retry-after", b"1"))
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, capture)

    async def disclose(self, scope: Scope, body: bytes) -> bytes | None:
        """The body with its sealed values opened or masked; None when what it discloses could
        not be recorded (or its keys read), which must not reach the caller."""
        state = scope.get("state") or {}
        declared: set[Material] = state.get("restricted_material") or set()
        if _SEALED not in body and not declared:
            return body
        principal: Principal | None = state.get("principal")
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope.get("headers") or ()}
        purpose = purpose_of(headers)
        try:
            document = json.loads(body)
            reads = Reads()
            if _SEALED in body:
                document = await self._open(document, principal, purpose, reads)
            if declared and principal is not None and purpose is not None:
                review_id = (scope.get("path_params") or {}).get("review_id")
                if review_id is not None:
                    reads.materials[str(review_id)].update(declared)
            if reads.materials:
                assert principal is not None
                assert purpose is not None
                await self.access_log.record(principal, purpose, _resource(scope), reads)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KeyringError,
                TimeoutError) as error:
            log.error("restricted material not disclosed: %s", type(error).__name__)
            return None
        return _dumps(document)

    async def _open(self, document: Any, principal: Principal | None, purpose: str | None,
                    reads: Reads) -> Any:
        found = set(sealed_values(document))
        key_ids = {key_id for key_id in map(key_id_of, found) if key_id is not None}
        async with self.pool().acquire() as connection:
            keys = await self.keyring().opening_keys(connection, key_ids)
        allowed = (principal is not None and purpose is not None
                   and may_read_personal_data(principal))
        opened: dict[str, str] = {}
        for value in found:
            key = keys.get(key_id_of(value))  # type: ignore[arg-type]
            if key is None:
                opened[value] = ERASED
            elif not allowed:
                opened[value] = WITHHELD
            else:
                try:
                    opened[value] = key.open(value)
                except ValueError:
                    opened[value] = UNREADABLE
                    continue
                reads.values[key.review_id] += 1
                reads.materials[key.review_id].add(Material.PERSONAL_DATA)
        return replace_sealed(document, opened)


def _resource(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None) or "?"
    return f"{scope.get('method', 'GET')} {template}"


def _dumps(document: Any) -> bytes:
    # As FastAPI's JSONResponse writes it.
    return json.dumps(document, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()

