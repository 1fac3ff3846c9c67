"""The HTTP app factory's behaviour, with hand-written fakes instead of servers."""


from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field

from dhr_platform.app import create_service_app
from dhr_platform.auth import CurrentPrincipal, api_routes
from dhr_platform.http import (
    Problem,
    create_app,
    parse_if_match,
    request_body_model,
    request_instance,
)
from dhr_platform.policy import Permissions
from dhr_platform.principal import Role
from dhr_platform.service import ServiceRuntime, ServiceSpec
from dhr_platform.settings import PlatformSettings
from support.tokens import TestIssuer


class RenameThing(BaseModel):
    thing_id: int
    name: str = Field(min_length=1, max_length=20)


class ThingRefused(Exception):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


PERMISSIONS = Permissions({"use things": set(Role)})


def app_with(readiness: dict[str, bool], issuer: TestIssuer, router: APIRouter | None = None,
             max_body_bytes: int = 1024):
    router = router or APIRouter(dependencies=[PERMISSIONS.requires("use things")])
    body_model = request_body_model(RenameThing, exclude={"thing_id"})

    @router.post("/things/{thing_id}")
    async def rename(thing_id: int, body: body_model) -> dict[str, object]:  # type: ignore[valid-type]
        if body.name == "forbidden":
            raise ThingRefused("That name is refused.", "name")
        return RenameThing(thing_id=thing_id, **body.model_dump()).model_dump()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @router.get("/gone")
    async def gone() -> None:
        raise Problem(410, "It went.", reason="retired")

    @router.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, object]:
        return {"subject": principal.subject, "roles": principal.role_names}

    async def check_for(name: str) -> bool:
        return readiness[name]

    return create_app(
        title="test", version="1", description="test", routers=[router],
        readiness={name: (lambda name=name: check_for(name)) for name in readiness},
        error_statuses={ThingRefused: 422}, max_body_bytes=max_body_bytes,
        token_verifier=issuer.verifier(),
    )


@pytest.fixture
async def client(token_issuer: TestIssuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_with({"database": True, "kafka": True}, token_issuer),
                                    raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers=token_issuer.headers(role="admin", organisation="ops",
                                                              subject="op-1")) as client:
        yield client


async def test_a_valid_command_body_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/things/7", json={"name": "ok"})
    assert response.status_code == 200
    assert response.json() == {"thing_id": 7, "name": "ok"}


async def test_validation_errors_are_problems_that_name_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/things/x", json={"name": "", "extra": 1})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Invalid request"
    assert {e["field"] for e in problem["errors"]} == {"thing_id", "name", "extra"}
    assert "name:" in problem["detail"]


async def test_a_domain_error_maps_to_its_status_with_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/things/1", json={"name": "forbidden"})
    assert response.status_code == 422
    assert response.json()["field"] == "name"
    assert response.json()["detail"] == "That name is refused."


async def test_an_unexpected_error_is_a_500_problem_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text


async def test_a_problem_carries_its_extensions(client: httpx.AsyncClient) -> None:
    response = await client.get("/gone")
    assert response.status_code == 410
    assert response.json()["reason"] == "retired"


async def test_unknown_routes_are_404_problems(client: httpx.AsyncClient) -> None:
    response = await client.get("/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_body_over_the_limit_is_refused_with_413_even_when_streamed(
    client: httpx.AsyncClient,
) -> None:
    declared = await client.post("/things/1", content=b"x" * 2048,
                                 headers={"Content-Type": "application/json"})

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 512

    streamed = await client.post("/things/1", content=chunks(),
                                 headers={"Content-Type": "application/json"})

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"


async def test_readiness_reports_the_unreachable_dependency(token_issuer: TestIssuer) -> None:
    transport = httpx.ASGITransport(app=app_with({"database": True, "kafka": False}, token_issuer))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")

    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": True, "kafka": False}
    assert "kafka" in ready.json()["detail"]
    assert alive.status_code == 200


@pytest.mark.parametrize(("header", "version"), [('"3"', 3), ("3", 3), ('W/"12"', 12), (None, None)])
def test_if_match_is_read_as_a_stream_version(header: str | None, version: int | None) -> None:
    assert parse_if_match(header) == version


def test_a_malformed_if_match_is_a_400_problem() -> None:
    with pytest.raises(Problem) as refused:
        parse_if_match('"abc"')
    assert refused.value.status == 400


async def test_a_route_answers_the_principal_of_its_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")

    assert response.json() == {"subject": "op-1", "roles": ["admin"]}


async def test_a_request_without_a_token_is_a_401_problem_with_a_challenge(
        client: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Basic b3A6cGFzcw=="}):
        response = await client.get("/me", headers=headers)

        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == 'Bearer realm="dhr"'


async def test_a_refused_token_is_a_401_that_says_why(client: httpx.AsyncClient,
                                                      token_issuer: TestIssuer) -> None:
    claims = token_issuer.issuer.claims(role="admin", organisation="ops")
    expired = token_issuer.issuer.sign({**claims, "exp": claims["iat"] - 3600})

    response = await client.get("/me", headers={"Authorization": f"Bearer {expired}"})

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_health_and_the_api_description_need_no_token(token_issuer: TestIssuer) -> None:
    transport = httpx.ASGITransport(app=app_with({"database": True, "kafka": True}, token_issuer))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as anonymous:
        for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
            assert (await anonymous.get(path)).status_code == 200, path
        assert (await anonymous.post("/things/1", json={"name": "x"})).status_code == 401
        described = (await anonymous.get("/openapi.json")).json()

    assert "bearer" in described["components"]["securitySchemes"]


def test_every_route_but_health_and_the_docs_requires_a_token(token_issuer: TestIssuer) -> None:
    routes = api_routes(app_with({"database": True}, token_issuer).routes)

    assert {route for route, guards in routes.items() if not guards.authenticated} == {
        "GET /healthz", "GET /readyz"}
    assert {route: guards.actions for route, guards in routes.items()
            if guards.authenticated} == {route: ("use things",) for route in (
                "POST /things/{thing_id}", "GET /boom", "GET /gone", "GET /me")}


def test_an_app_with_a_route_that_checks_no_role_is_refused(token_issuer: TestIssuer) -> None:
    careless = APIRouter()

    @careless.get("/open-to-any-token")
    async def anything() -> None:
        return None

    with pytest.raises(RuntimeError, match="GET /open-to-any-token"):
        app_with({}, token_issuer, careless)


async def test_a_role_without_the_right_is_refused_before_its_body_is_read(
        token_issuer: TestIssuer) -> None:
    router = APIRouter(dependencies=[Permissions({"rename": {Role.ADMIN}}).requires("rename")])
    body_model = request_body_model(RenameThing, exclude={"thing_id"})

    @router.post("/things/{thing_id}")
    async def rename(thing_id: int, body: body_model) -> None:  # type: ignore[valid-type]
        return None

    transport = httpx.ASGITransport(app=app_with({}, token_issuer, router))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reader = token_issuer.headers(role="oversight_reader", organisation="Home Office")
        refused = await client.post("/things/1", json={"nonsense": True}, headers=reader)

    assert refused.status_code == 403
    assert refused.json()["detail"] == "Your role (oversight_reader of Home Office) may not rename."


async def test_a_service_without_a_token_configuration_describes_its_api_but_refuses_to_start(
) -> None:
    runtime = ServiceRuntime(ServiceSpec(name="things", topic="dhr.things.events.v1"),
                             PlatformSettings(auth_issuer=None, auth_jwks_file=None))
    router = APIRouter(dependencies=[PERMISSIONS.requires("use things")])

    @router.get("/things")
    async def things() -> list[str]:
        return []

    app = create_service_app(runtime, title="things", description="", routers=[router],
                             error_statuses={})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        described = await client.get("/openapi.json")
        unverifiable = await client.get("/things", headers={"Authorization": "Bearer x"})

    assert "/things" in described.json()["paths"]
    assert unverifiable.status_code == 503
    with pytest.raises(ValueError, match="DHR_AUTH_ISSUER"):
        async with app.router.lifespan_context(app):
            pass


# --- input the database cannot store, and the OpenAPI document's problems ------------------------


@pytest.mark.parametrize("body", [
    pytest.param(b'{"name": "a\\u0000b"}', id="a NUL character"),
    pytest.param(b'{"name": "\\udc00"}', id="a lone surrogate"),
    pytest.param(b'{"name": "caf\xe9"}', id="not UTF-8"),
    pytest.param(b'{"name": NaN}', id="NaN"),
    pytest.param(b'{"name": 1e400}', id="a number beyond any float"),
    pytest.param(b'{"name": ' + b'[' * 40 + b']' * 40 + b'}', id="nested too deeply"),
    pytest.param(b'[' * 20_000 + b']' * 20_000, id="nested beyond the parser's recursion"),
])
async def test_input_the_database_cannot_store_is_a_400_problem_that_quotes_nothing(
        token_issuer: TestIssuer, body: bytes) -> None:
    app = app_with({"database": True, "kafka": True}, token_issuer, max_body_bytes=100_000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers=token_issuer.headers(role="admin", organisation="ops",
                                                              subject="op-1")) as client:
        response = await client.post("/things/1", content=body,
                                     headers={"Content-Type": "application/json"})

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Unreadable input"
    assert "a\x00b" not in response.text and "[[[" not in response.text


async def test_a_nul_character_in_the_path_or_query_is_a_400_problem(
        client: httpx.AsyncClient) -> None:
    for response in (await client.get("/me", params={"q": "a\x00b"}),
                     await client.post("/things/1%00", json={"name": "ok"})):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_problem_names_the_path_percent_encoded_segment_by_segment(
        client: httpx.AsyncClient) -> None:
    response = await client.post("/things/..%2F<script>", json={"name": "ok"})

    assert response.status_code == 404
    assert response.json()["instance"] == "/things/..%2F%3Cscript%3E"
    assert request_instance({"path": "/reviews/1"}) == "/reviews/1"


def test_the_openapi_document_names_the_problems_every_route_answers(
        token_issuer: TestIssuer) -> None:
    document = app_with({"database": True}, token_issuer).openapi()
    command = document["paths"]["/things/{thing_id}"]["post"]["responses"]
    query = document["paths"]["/me"]["get"]["responses"]

    assert set(command) == {"200", "400", "401", "403", "404", "409", "413", "422", "503"}
    assert set(query) == {"200", "401", "403", "503"}
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert all(command[status]["content"] == problem for status in command if status != "200")
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "detail"]


def test_only_the_public_paths_may_answer_without_a_token(token_issuer: TestIssuer) -> None:
    public = APIRouter()

    @public.get("/metrics")
    async def metrics() -> dict[str, str]:
        return {}

    leaky = APIRouter()

    @leaky.get("/reviews")
    async def reviews() -> dict[str, str]:
        return {}

    def app(routers: list[APIRouter]) -> object:
        return create_app(title="t", version="1", description="t", routers=[],
                          public_routers=routers, readiness={}, error_statuses={},
                          max_body_bytes=1024, token_verifier=token_issuer.verifier())

    assert "security" not in app([public]).openapi()["paths"]["/metrics"]["get"]  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="without a token"):
        app([leaky])


async def test_a_field_of_an_unknown_name_is_named_without_repeating_it(
        client: httpx.AsyncClient) -> None:
    response = await client.post("/things/1", json={"name": "ok", "<script>x</script>": 1})

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["(a field of another name)"]
    assert "script" not in response.text
