"""HTTP app factory: problem+json errors, health, bearer tokens, body limit, idempotent
commands, OpenAPI."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dhr_contracts.base import SEALED_PREFIX
from dhr_platform.auth import (
    NotAuthenticated,
    SigningKeysUnavailable,
    TokenVerifier,
    api_routes,
    authenticate,
)
from dhr_platform.database import UNAVAILABLE_ERRORS, Connection, lost_connection
from dhr_platform.disclosure import PURPOSE_HEADER, PurposeRequired
from dhr_platform.eventstore import ConcurrencyError
from dhr_platform.sealing import PersonalDataErased

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# What a client should wait before retrying a request the database could not serve.
_SEALED = SEALED_PREFIX.encode()
BUSY_RETRY_AFTER_SECONDS = 1
UNAVAILABLE_RETRY_AFTER_SECONDS = 2
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Client-chosen key: a retry with the same key and body returns the first "
        "response and changes nothing.",
    ),
]
CorrelationId = Annotated[UUID | None, Header(alias="X-Correlation-Id",
                                              description="Shared by every event of one request.")]
TraceParent = Annotated[str | None, Header(alias="traceparent", max_length=55,
                                           description="W3C trace context, carried to Kafka.")]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='Expected stream version, e.g. "3": stale views get 409.'),
]


class Problem(Exception):
    """An RFC 9457 problem to return as is."""

    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 type_: str = "about:blank", headers: Mapping[str, str] | None = None,
                 **extensions: Any):
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.headers = headers
        self.extensions = extensions
        super().__init__(detail)


def problem_response(status: int, detail: str, *, title: str | None = None,
                     type_: str = "about:blank", instance: str | None = None,
                     headers: Mapping[str, str] | None = None, **extensions: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({key: value for key, value in extensions.items() if value is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(location: Sequence[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_problem(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = []
    for item in error.errors():
        location = item.get("loc", ())
        if item.get("type") == "json_invalid":
            return problem_response(
                400, f"The request body is not valid JSON: {item.get('ctx', {}).get('error', '')}",
                title="Malformed JSON", instance=request.url.path,
            )
        errors.append({
            "field": _field_path(location),
            "in": str(location[0]) if location else "body",
            "message": item.get("msg", "invalid"),
            "type": item.get("type", "invalid"),
        })
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(422, f"Invalid request: {summary}", title="Invalid request",
                            instance=request.url.path, errors=errors)


class BodySizeLimit:
    """Refuses request bodies above a limit with 413, whether announced or streamed.

    A body without a Content-Length is read (up to the limit) before the app runs: FastAPI turns
    any error raised while it reads a body into a 400, which would hide the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        received = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, f"The request body is larger than the limit of {self.max_bytes} bytes.",
            title="Request body too large", instance=scope.get("path"),
        )
        await response(scope, receive, send)


ReadinessCheck = Callable[[], Awaitable[bool]]


def health_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The database and Kafka are reachable",
                responses={503: {"description": "A dependency is unreachable"}})
    async def readyz() -> Response:
        results = {}
        for name, check in checks.items():
            try:
                results[name] = await check()
            except Exception:
                results[name] = False
        if all(results.values()):
            return JSONResponse({"status": "ready", "checks": results})
        failing = ", ".join(name for name, ok in results.items() if not ok)
        return problem_response(503, f"Not ready: {failing} unreachable", checks=results)

    return router


# Paths served without a token: health probes (Kubernetes has no token), Prometheus metrics
# (scraped by the monitoring system; counts, latencies and lags, never an id or personal data)
# and the API's own description (the shape of the API is published with the code; it holds no
# data).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
                          "/docs/oauth2-redirect", "/redoc"})
_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No bearer token, or one that was refused (see WWW-Authenticate)"},
    403: {"description": "The token's role may not do this"},
}


def create_app(
    *,
    title: str,
    version: str,
    description: str,
    routers: Sequence[APIRouter],
    readiness: Mapping[str, ReadinessCheck],
    error_statuses: Mapping[type[Exception], int],
    max_body_bytes: int,
    token_verifier: TokenVerifier | None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    """A service's FastAPI app with the platform's error, health and safety behaviour.

    Every route of `routers` requires a valid bearer token; the app refuses to be built when a
    route outside PUBLIC_PATHS would answer without one, or without a role check of its
    service's policy (`dhr_platform.policy.Permissions.requires`), checked before its body.
    Without a `token_verifier` (an app built only to describe its API) every such route answers
    503.
    """
    # FastAPI's own telemetry would record URL paths and queries (review ids, search terms) and
    # exception messages; the platform's RequestTelemetry traces requests instead (telemetry.py).
    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False,
                             "auto_configure": False})
    app.state.token_verifier = token_verifier

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_problem(request, error)

    @app.exception_handler(ValidationError)
    async def on_model_validation(request: Request, error: ValidationError) -> JSONResponse:
        # A command model built from a valid request body can still refuse it (cross-field rules).
        return _validation_problem(request, RequestValidationError(
            [{**item, "loc": ("body", *item.get("loc", ()))} for item in error.errors()]
        ))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(error.status_code, str(error.detail), instance=request.url.path,
                                headers=error.headers)

    @app.exception_handler(Problem)
    async def on_problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(error.status, error.detail, title=error.title, type_=error.type,
                                instance=request.url.path, headers=error.headers,
                                **error.extensions)

    @app.exception_handler(NotAuthenticated)
    async def on_not_authenticated(request: Request, error: NotAuthenticated) -> JSONResponse:
        return problem_response(401, error.detail, title="Not authenticated",
                                instance=request.url.path,
                                headers={"WWW-Authenticate": error.www_authenticate()})

    @app.exception_handler(SigningKeysUnavailable)
    async def on_keys_unavailable(request: Request, error: SigningKeysUnavailable) -> JSONResponse:
        return problem_response(503, str(error), title="Token keys unavailable",
                                instance=request.url.path, headers={"Retry-After": "5"})

    @app.exception_handler(ConcurrencyError)
    async def on_conflict(request: Request, error: ConcurrencyError) -> JSONResponse:
        return problem_response(
            409, f"{error} Another change was made at the same time; reload and retry.",
            title="Concurrent modification", instance=request.url.path,
        )

    @app.exception_handler(PersonalDataErased)
    async def on_erased(request: Request, error: PersonalDataErased) -> JSONResponse:
        return problem_response(409, str(error), title="Personal data erased",
                                instance=request.url.path)

    @app.exception_handler(PurposeRequired)
    async def on_purpose_required(request: Request, error: PurposeRequired) -> JSONResponse:
        return problem_response(400, str(error), title="Purpose required",
                                instance=request.url.path, field=PURPOSE_HEADER)

    for error_type, status in error_statuses.items():
        app.add_exception_handler(error_type, _domain_handler(status))

    @app.exception_handler(TimeoutError)
    async def on_database_busy(request: Request, error: TimeoutError) -> JSONResponse:
        # Waiting for a pooled connection (or a statement) took too long: overload, not a fault
        # of the request. A quick, clear refusal beats a request that hangs until the client
        # gives up.
        log.warning("%s %s: the database did not answer in time", request.method, request.url.path)
        return problem_response(
            503, "The database did not answer in time: its connections are all busy. Retry in "
            f"{BUSY_RETRY_AFTER_SECONDS} s; with the same Idempotency-Key a retry is safe.",
            title="Service overloaded", instance=request.url.path,
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)})

    async def on_database_unavailable(request: Request, error: Exception) -> JSONResponse:
        log.warning("%s %s: the database is unavailable: %s: %s", request.method,
                    request.url.path, type(error).__name__, error)
        return problem_response(
            503, "The database cannot be reached; whether a command in flight was recorded is "
            f"unknown. Retry in {UNAVAILABLE_RETRY_AFTER_SECONDS} s; with the same "
            "Idempotency-Key a retry is safe.",
            title="Database unavailable", instance=request.url.path,
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)})

    for error_type in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_type, on_database_unavailable)

    async def on_client_error(request: Request, error: Exception) -> JSONResponse:
        # A transaction whose connection the server cut fails again on rollback or commit, with
        # asyncpg's own errors that hide the first one.
        if lost_connection(error):
            return await on_database_unavailable(request, error)
        return await on_unexpected(request, error)

    app.add_exception_handler(asyncpg.InterfaceError, on_client_error)
    app.add_exception_handler(asyncpg.exceptions.InternalClientError, on_client_error)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "An unexpected error occurred.", instance=request.url.path)

    app.include_router(health_router(readiness))
    for router in routers:
        app.include_router(router, dependencies=[Depends(authenticate)],
                           responses=_AUTH_RESPONSES)
    guarded = {route: guards for route, guards in api_routes(app.routes).items()
               if route.split(" ", 1)[1] not in PUBLIC_PATHS}
    unguarded = [route for route, guards in guarded.items()
                 if not guards.authenticated or not guards.actions]
    if unguarded:
        raise RuntimeError("every route needs a bearer token and a policy check "
                           f"(Permissions.requires): {unguarded}")
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    return app


def _domain_handler(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, error: Exception) -> JSONResponse:
        title = type(error).__name__
        readable = "".join(f" {c.lower()}" if c.isupper() else c for c in title).strip()
        return problem_response(status, str(error), title=readable.capitalize(),
                                instance=request.url.path, field=getattr(error, "field", None))

    return handle


# --- Idempotent commands -------------------------------------------------------------------

CommandBody = Callable[[Connection], Awaitable[tuple[int, dict[str, Any]]]]


class _KeyTakenMeanwhile(Exception):
    pass


async def _stored_response(pool: asyncpg.Pool | Connection, scope: str,
                           key: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT request_fingerprint, status_code, response_body FROM idempotency_keys"
        " WHERE scope = $1 AND idempotency_key = $2",
        scope, key,
    )


def _headers(headers_for: Callable[[dict[str, Any]], Mapping[str, str]] | None,
             payload: dict[str, Any]) -> dict[str, str] | None:
    return None if headers_for is None else dict(headers_for(payload))


def _replay(stored: asyncpg.Record, fingerprint: str, key: str,
            headers_for: Callable[[dict[str, Any]], Mapping[str, str]] | None) -> JSONResponse:
    if stored["request_fingerprint"] != fingerprint:
        raise Problem(
            422,
            f"Idempotency-Key {key!r} was already used with a different request body.",
            title="Idempotency key reused",
        )
    return JSONResponse(stored["response_body"], status_code=stored["status_code"],
                        headers={**(_headers(headers_for, stored["response_body"]) or {}),
                                 "Idempotent-Replayed": "true"})


async def run_command(
    request: Request,
    pool: asyncpg.Pool,
    idempotency_key: str | None,
    body: CommandBody,
    headers_for: Callable[[dict[str, Any]], Mapping[str, str]] | None = None,
) -> JSONResponse:
    """Run a command's transaction once per Idempotency-Key and answer a retry with the
    stored response.

    The key is looked up on the command's own connection at the start of its transaction (a
    read, so the command's events stay the transaction's first write) and written after the
    events, in the same transaction; a concurrent request with the same key waits on the key's
    primary key, rolls back, and replays the winner's response.

    Keys belong to the caller (the token's subject): one caller's key never replays another's
    answer. Callers check authorisation before they come here, so a replay is authorised too.
    """
    raw = await request.body()
    if _SEALED in raw:
        # Sealed values are made by the store alone: one copied in from elsewhere would be
        # opened as this review's own personal data.
        raise Problem(422, "The body holds a sealed value (dhr-sealed:...): send plaintext; "
                      "the service seals personal data itself.", title="Sealed value in input")
    if idempotency_key is None:
        async with pool.acquire() as connection, connection.transaction():
            status, payload = await body(connection)
        return JSONResponse(payload, status_code=status, headers=_headers(headers_for, payload))
    principal = getattr(request.state, "principal", None)
    scope = f"{request.method} {request.url.path}"
    if principal is not None:
        scope += f" by {principal.subject}"
    fingerprint = hashlib.sha256(raw).hexdigest()
    try:
        async with pool.acquire() as connection, connection.transaction():
            stored = await _stored_response(connection, scope, idempotency_key)
            if stored is not None:
                return _replay(stored, fingerprint, idempotency_key, headers_for)
            status, payload = await body(connection)
            kept = await connection.fetchval(
                """INSERT INTO idempotency_keys
                       (idempotency_key, scope, request_fingerprint, status_code, response_body)
                   VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING RETURNING true""",
                idempotency_key, scope, fingerprint, status, payload,
            )
            if not kept:
                raise _KeyTakenMeanwhile
    except _KeyTakenMeanwhile:
        stored = await _stored_response(pool, scope, idempotency_key)
        assert stored is not None
        return _replay(stored, fingerprint, idempotency_key, headers_for)
    return JSONResponse(payload, status_code=status, headers=_headers(headers_for, payload))


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: "3"` (or 3, or W/"3") as an expected stream version."""
    if value is None:
        return None
    cleaned = value.strip().removeprefix("W/").strip('"')
    if not cleaned.isdigit():
        raise Problem(400, 'If-Match must be a stream version such as "3".', field="If-Match")
    return int(cleaned)



def request_body_model(command: type[BaseModel], *, exclude: set[str], name: str | None = None
                       ) -> type[BaseModel]:
    """The HTTP body of a command: its fields less those taken from the path or set by the server.

    One definition of each field (the command's) feeds validation and the OpenAPI document.
    """
    fields: dict[str, Any] = {
        field_name: (info.annotation, info)
        for field_name, info in command.model_fields.items()
        if field_name not in exclude
    }
    model: type[BaseModel] = create_model(
        name or f"{command.__name__}Request",
        __config__={"extra": "forbid", "frozen": True},
        __doc__=command.__doc__,
        **fields,
    )
    return model
