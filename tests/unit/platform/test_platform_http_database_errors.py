"""How the HTTP app answers a database that is down, cut or busy: 503 with Retry-After, while a
fault of the code stays a 500."""

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import APIRouter

from dhr_platform.http import create_app
from dhr_platform.policy import Permissions
from dhr_platform.principal import Role
from support.tokens import ADMIN, TestIssuer


def raising(error: Exception) -> None:
    raise error


PERMISSIONS = Permissions({"use things": set(Role)})


def failing_app(issuer: TestIssuer):  # type: ignore[no-untyped-def]
    router = APIRouter(dependencies=[PERMISSIONS.requires("use things")])

    @router.get("/refused")
    async def refused() -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    @router.get("/starting")
    async def starting() -> None:
        raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")

    @router.get("/cut-in-a-transaction")
    async def cut_in_a_transaction() -> None:
        try:
            raising(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
        finally:  # what asyncpg's Transaction.__aexit__ raises on the closed connection
            raising(asyncpg.InterfaceError(
                "cannot call Transaction.__aexit__(): the underlying connection is closed"))

    @router.get("/protocol-left-mid-operation")
    async def protocol_left_mid_operation() -> None:
        raise asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress")

    @router.get("/busy")
    async def busy() -> None:
        raise TimeoutError

    @router.get("/misused")
    async def misused() -> None:
        raise asyncpg.InterfaceError("cannot perform operation: another operation is in progress")

    return create_app(title="test", version="1", description="test", routers=[router],
                      readiness={}, error_statuses={}, max_body_bytes=1024,
                      token_verifier=issuer.verifier())


@pytest.fixture
async def client(token_issuer: TestIssuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=failing_app(token_issuer), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers=token_issuer.headers(ADMIN)) as client:
        yield client


@pytest.mark.parametrize("path", ["/refused", "/starting", "/cut-in-a-transaction",
                                  "/protocol-left-mid-operation"])
async def test_a_database_out_of_reach_is_a_503_with_retry_after(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "2"
    assert response.json()["title"] == "Database unavailable"
    assert "Idempotency-Key" in response.json()["detail"]


async def test_a_database_too_busy_to_answer_in_time_is_a_503_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/busy")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["title"] == "Service overloaded"


async def test_a_misused_connection_is_still_a_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/misused")

    assert response.status_code == 500
    assert response.json()["detail"] == "An unexpected error occurred."
