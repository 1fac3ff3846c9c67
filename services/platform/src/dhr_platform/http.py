"""HTTP app factory: problem+json errors, health, bearer tokens, body limit, idempotent
commands, OpenAPI."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote, unquote
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
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
# A list's paging offset: beyond any list of ours, far below PostgreSQL's bigint (an offset past
# it was a 500).
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="How many items to skip.")]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=40,
           description='Expected stream version, e.g. "3": stale views get 409.'),
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


# A field's name as a problem may repeat it: a caller's unknown keys are not repeated as sent.
_FIELD_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


def _field_path(location: Sequence[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    shown = [part if _FIELD_NAME.fullmatch(part) else "(a field of another name)"
             for part in parts]
    return ".".join(shown) or "body"


def _validation_problem(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = []
    for item in error.errors():
        location = item.get("loc", ())
        if item.get("type") == "json_invalid":
            return problem_response(
                400, f"The request body is not valid JSON: {item.get('ctx', {}).get('error', '')}",
                title="Malformed JSON", instance=_instance(request),
            )
        errors.append({
            "field": _field_path(location),
            "in": str(location[0]) if location else "body",
            "message": item.get("msg", "invalid"),
            "type": item.get("type", "invalid"),
        })
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(422, f"Invalid request: {summary}", title="Invalid request",
                            instance=_instance(request), errors=errors)


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
            title="Request body too large", instance=request_instance(scope),
        )
        await response(scope, receive, send)


# Deeper than any body of ours (a few levels); deep enough nesting would exhaust the parser's
# recursion limit and answer 500.
MAX_JSON_DEPTH = 32


class UnreadableInput(Exception):
    """Input the services cannot take as it is: the reason is safe to show, it quotes nothing."""


def _check_json_text(value: Any) -> None:
    """Refuse strings PostgreSQL cannot store (NUL, lone surrogates) and nesting deeper than
    MAX_JSON_DEPTH, anywhere in a parsed JSON document."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item, "The request body")
        elif isinstance(item, float) and not math.isfinite(item):
            raise UnreadableInput("The request body holds a number too large for any field.")
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise UnreadableInput(f"The request body is nested deeper than {MAX_JSON_DEPTH} "
                                      "levels.")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise UnreadableInput(f"{where} contains a NUL character (U+0000), which no text field "
                              "accepts.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnreadableInput(f"{where} contains a lone UTF-16 surrogate (an invalid \\u "
                              "escape), which no text field accepts.") from None


def _no_constant(name: str) -> Any:
    raise UnreadableInput(f"The request body holds {name}, which is not JSON.")


def _is_json(scope: Scope) -> bool:
    """Whether FastAPI would read this body as JSON: no Content-Type, or a JSON one."""
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"").decode("latin-1")
    media_type = content_type.split(";", 1)[0].strip().lower()
    return not media_type or media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json"))


class InputHygiene:
    """Refuses with a 400 problem what the database cannot store or the parser should not be
    made to recurse through, before any route sees it: a NUL character in the path, the query
    or a JSON body; a JSON body that is not UTF-8, holds a lone surrogate, NaN or a number
    beyond any float, or is nested deeper than MAX_JSON_DEPTH. Otherwise PostgreSQL (text and
    jsonb refuse U+0000 and NaN) or the JSON parser would fail mid-request with a 500.

    The body is read whole before the app runs; BodySizeLimit, outside this, bounds it.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            self._check(scope, bytes(body))
        except UnreadableInput as refused:
            response = problem_response(400, str(refused), title="Unreadable input",
                                        instance=request_instance(scope))
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _check(scope: Scope, body: bytes) -> None:
        _check_text(scope.get("path", ""), "The path")
        if b"%00" in scope.get("query_string", b"") or b"\x00" in scope.get("query_string", b""):
            raise UnreadableInput("The query contains a NUL character (U+0000), which no "
                                  "parameter accepts.")
        if not body or not _is_json(scope):
            return
        try:
            document = json.loads(body, parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise UnreadableInput("The request body is not UTF-8.") from None
        except RecursionError:
            raise UnreadableInput(f"The request body is nested deeper than {MAX_JSON_DEPTH} "
                                  "levels.") from None
        except ValueError:
            return  # not JSON: FastAPI answers that itself (400, "Malformed JSON")
        _check_json_text(document)


def request_instance(scope: Scope) -> str:
    """A problem's `instance`: the request's path as a URI reference (RFC 9457), each segment
    percent-encoded whole, so that a problem never repeats what a caller put in a path segment
    as it was sent (`../x`, quotes, markup)."""
    raw = scope.get("raw_path") or scope.get("path", "").encode()
    segments = raw.split(b"?", 1)[0].decode("latin-1").split("/")
    return "/".join(quote(unquote(segment), safe="") for segment in segments)


def _instance(request: Request) -> str:
    return request_instance(request.scope)


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


# --- Problems in the OpenAPI document ------------------------------------------------------


class FieldProblem(BaseModel):
    """One invalid part of a request."""

    field: str = Field(description="The body field (dotted path), parameter or header.")
    in_: str = Field(alias="in", description="body, query, path or header.")
    message: str
    type: str = Field(description="A machine-readable kind of error, e.g. string_too_long.")


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: every answer of status 400 or more (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="A URI naming the kind of problem (about:blank: the status "
                      "says it).")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request, for people.")
    instance: str | None = Field(default=None, description="The request's path.")
    field: str | None = Field(default=None, description="The field the problem is about.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="Each invalid part of the request (422).")


PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}}
_COMMAND_METHODS = frozenset({"post", "put", "patch", "delete"})


def problem_responses(described: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the problems a route answers beyond those every route of its kind
    answers (`document_problems`), e.g. `problem_responses({409: "No checkpoint yet"})`."""
    return {status: {"description": text, "content": _PROBLEM_CONTENT}
            for status, text in described.items()}


def _add_problem(responses: dict[str, Any], status: int, description: str) -> None:
    documented = responses.setdefault(str(status), {"description": description})
    if "HTTPValidationError" in json.dumps(documented):  # FastAPI's 422, not what we answer
        documented["description"] = description
        documented["content"] = _PROBLEM_CONTENT
    documented.setdefault("content", _PROBLEM_CONTENT)


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the problems the platform answers on each operation.

    401, 403 and 503 (the token issuer's keys unreachable) where a token is needed; 400
    (`InputHygiene`, malformed JSON or If-Match) and 422 (invalid) where there is a body or a
    parameter; 413 where a body is read; 404 for an object named in the path; 409 for a command
    that the object's state refuses or that clashes with a concurrent change. Every status of
    400 or more is `application/problem+json` with the `Problem` schema.
    """
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            has_body = "requestBody" in operation
            authenticated = bool(operation.get("security"))
            if authenticated:
                _add_problem(responses, 401,
                             "No bearer token, or one that was refused (see WWW-Authenticate)")
                _add_problem(responses, 403, "The token's role may not do this")
                _add_problem(responses, 503,
                             "The token issuer's keys cannot be fetched now (see Retry-After)")
            if has_body or parameters:
                _add_problem(responses, 400, "Unreadable input: a NUL character, a body that is "
                             "not JSON, not UTF-8 or nested too deeply, or an If-Match that is "
                             "not a version")
                _add_problem(responses, 422, "Invalid request: each invalid part is named")
            if has_body:
                _add_problem(responses, 413, "The body is larger than the service accepts")
            if any(p.get("in") == "path" for p in parameters):
                _add_problem(responses, 404, "Not found, or not visible to the caller")
            if authenticated and method in _COMMAND_METHODS:
                _add_problem(responses, 409, "The object's state does not allow this now, or "
                             "it was changed at the same time")
            for status, documented in responses.items():
                if status[:1] in "45" and not documented.get("content"):
                    documented["content"] = _PROBLEM_CONTENT
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    if "HTTPValidationError" not in json.dumps(document["paths"]):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return document


def create_app(
    *,
    title: str,
    version: str,
    description: str,
    routers: Sequence[APIRouter],
    readiness: Mapping[str, ReadinessCheck],
    public_routers: Sequence[APIRouter] = (),
    error_statuses: Mapping[type[Exception], int],
    max_body_bytes: int,
    token_verifier: TokenVerifier | None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    """A service's FastAPI app with the platform's error, health and safety behaviour.

    Every route of `routers` requires a valid bearer token; the app refuses to be built when a
    route outside PUBLIC_PATHS would answer without one (those of `public_routers` do), or
    without a role check of its service's policy (`dhr_platform.policy.Permissions.requires`),
    checked before its body. Its OpenAPI document names the problems each route may answer
    (`document_problems`).
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
        return problem_response(error.status_code, str(error.detail), instance=_instance(request),
                                headers=error.headers)

    @app.exception_handler(Problem)
    async def on_problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(error.status, error.detail, title=error.title, type_=error.type,
                                instance=_instance(request), headers=error.headers,
                                **error.extensions)

    @app.exception_handler(NotAuthenticated)
    async def on_not_authenticated(request: Request, error: NotAuthenticated) -> JSONResponse:
        return problem_response(401, error.detail, title="Not authenticated",
                                instance=_instance(request),
                                headers={"WWW-Authenticate": error.www_authenticate()})

    @app.exception_handler(SigningKeysUnavailable)
    async def on_keys_unavailable(request: Request, error: SigningKeysUnavailable) -> JSONResponse:
        return problem_response(503, str(error), title="Token keys unavailable",
                                instance=_instance(request), headers={"Retry-After": "5"})

    @app.exception_handler(ConcurrencyError)
    async def on_conflict(request: Request, error: ConcurrencyError) -> JSONResponse:
        return problem_response(
            409, f"{error} Another change was made at the same time; reload and retry.",
            title="Concurrent modification", instance=_instance(request),
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
        return problem_response(500, "An unexpected error occurred.", instance=_instance(request))

    app.include_router(health_router(readiness))
    for router in public_routers:
        app.include_router(router)
    for router in routers:
        app.include_router(router, dependencies=[Depends(authenticate)])
    public = {route for route, guards in api_routes(app.routes).items()
              if not guards.authenticated}
    if any(route.split(" ", 1)[1] not in PUBLIC_PATHS for route in public):
        raise RuntimeError(f"only {sorted(PUBLIC_PATHS)} may answer without a token: "
                           f"{sorted(public)}")
    guarded = {route: guards for route, guards in api_routes(app.routes).items()
               if route.split(" ", 1)[1] not in PUBLIC_PATHS}
    unguarded = [route for route, guards in guarded.items()
                 if not guards.authenticated or not guards.actions]
    if unguarded:
        raise RuntimeError("every route needs a bearer token and a policy check "
                           f"(Permissions.requires): {unguarded}")
    app.add_middleware(InputHygiene)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)  # outside: bounds what it reads

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _domain_handler(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, error: Exception) -> JSONResponse:
        title = type(error).__name__
        readable = "".join(f" {c.lower()}" if c.isupper() else c for c in title).strip()
        return problem_response(status, str(error), title=readable.capitalize(),
                                instance=_instance(request), field=getattr(error, "field", None))

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


def _replay(stored: asyncpg.Record, fingerprint: str,
            headers_for: Callable[[dict[str, Any]], Mapping[str, str]] | None) -> JSONResponse:
    if stored["request_fingerprint"] != fingerprint:
        raise Problem(
            422,
            "This Idempotency-Key was already used with a different request body.",
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
    authorise: Callable[[Connection], Awaitable[None]] | None = None,
) -> JSONResponse:
    """Run a command's transaction once per Idempotency-Key and answer a retry with the
    stored response.

    `authorise`, when given, runs first in the transaction, before the command and before any
    stored answer is replayed: the check of the caller against the object itself, on the
    connection that then runs the command, so that what it reads is read once.

    The command runs first and its key is written after its events, in the same transaction
    (ON CONFLICT DO NOTHING): a fresh key, the usual case, costs no read. When the key was
    taken already, by an earlier request or a concurrent one (which the insert waits for), the
    transaction rolls back and the stored response is replayed; when the command fails, the key
    is looked up before the failure is answered, since a retry of a recorded command may be
    refused by the very state it left (or conflict with it).

    Keys belong to the caller (the token's subject): one caller's key never replays another's
    answer. Callers check authorisation before they come here (or in `authorise`, which also
    runs before a replay), so a replay is authorised too.
    """
    raw = await request.body()
    if _SEALED in raw:
        # Sealed values are made by the store alone: one copied in from elsewhere would be
        # opened as this review's own personal data.
        raise Problem(422, "The body holds a sealed value (dhr-sealed:...): send plaintext; "
                      "the service seals personal data itself.", title="Sealed value in input")
    if idempotency_key is None:
        async with pool.acquire() as connection, connection.transaction():
            if authorise is not None:
                await authorise(connection)
            status, payload = await body(connection)
        return JSONResponse(payload, status_code=status, headers=_headers(headers_for, payload))
    principal = getattr(request.state, "principal", None)
    scope = f"{request.method} {request.scope['path']}"
    if principal is not None:
        scope += f" by {principal.subject}"
    fingerprint = hashlib.sha256(raw).hexdigest()
    deciding = False
    try:
        async with pool.acquire() as connection, connection.transaction():
            if authorise is not None:
                await authorise(connection)
            deciding = True
            status, payload = await body(connection)
            deciding = False
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
        return _replay(stored, fingerprint, headers_for)
    except Exception:
        stored = await _answered_before(pool, scope, idempotency_key) if deciding else None
        if stored is None:
            raise
        return _replay(stored, fingerprint, headers_for)
    return JSONResponse(payload, status_code=status, headers=_headers(headers_for, payload))


_LOOKUP_FAILURES: tuple[type[Exception], ...] = (
    *UNAVAILABLE_ERRORS, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


async def _answered_before(pool: asyncpg.Pool, scope: str, key: str) -> asyncpg.Record | None:
    """The stored answer of a key whose command just failed; None when there is none, or when
    the database cannot say (the command's own failure is then answered)."""
    try:
        return await _stored_response(pool, scope, key)
    except _LOOKUP_FAILURES:
        log.debug("no stored answer could be looked up for a failed command", exc_info=True)
        return None


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
