"""The HTTP app factory's behaviour, with hand-written fakes instead of servers."""


from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field

from dhr_platform.http import Problem, create_app, parse_if_match, request_body_model


class RenameThing(BaseModel):
    thing_id: int
    name: str = Field(min_length=1, max_length=20)


class ThingRefused(Exception):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def app_with(readiness: dict[str, bool]):
    router = APIRouter()
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

    async def check_for(name: str) -> bool:
        return readiness[name]

    return create_app(
        title="test", version="1", description="test", routers=[router],
        readiness={name: (lambda name=name: check_for(name)) for name in readiness},
        error_statuses={ThingRefused: 422}, max_body_bytes=1024,
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_with({"database": True, "kafka": True}),
                                    raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
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


async def test_readiness_reports_the_unreachable_dependency() -> None:
    transport = httpx.ASGITransport(app=app_with({"database": True, "kafka": False}))
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
