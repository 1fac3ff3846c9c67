"""HTTP commands when the database is down or every pooled connection is busy: a quick 503
problem+json with Retry-After, never a hang or a 500, and service again once it is over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from api_client import ApiClient, in_process
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from reliability_support import open_platform_pool

from dhr_local.postgres import LocalPostgres
from dhr_platform.database import Connection
from dhr_platform.eventstore import EventMetadata, EventStore, NewEvent
from dhr_platform.http import IdempotencyKey, create_app, run_command
from dhr_platform.policy import Permissions
from dhr_platform.principal import Role
from support.tokens import REVIEW_MANAGER_NORFOLK, TestIssuer

# A refusal must come well before any client would give up on its own.
FAST_SECONDS = 3.0


PERMISSIONS = Permissions({"record": set(Role)})


def recording_app(pool: asyncpg.Pool, issuer: TestIssuer) -> FastAPI:
    """An app with one command: append the next event to a stream."""
    store = EventStore(pool)
    router = APIRouter(dependencies=[PERMISSIONS.requires("record")])

    @router.post("/streams/{stream}", status_code=201)
    async def record(request: Request, stream: str, idempotency_key: IdempotencyKey = None,
                     linger: float = 0.0) -> JSONResponse:
        async def transaction(connection: Connection) -> tuple[int, dict[str, Any]]:
            version = await store.stream_version(stream, connection)
            recorded = await store.append(
                connection, stream, version,
                [NewEvent("dhr.reliability.Stepped.v1", {"step": version + 1})],
                EventMetadata(subject=stream, actor="reliability-test"))
            await connection.execute("SELECT pg_sleep($1)", linger)  # a slow command
            return 201, {"version": recorded[-1].stream_version}

        return await run_command(request, pool, idempotency_key, transaction)

    return create_app(title="recording", version="1", description="test", routers=[router],
                      readiness={}, error_statuses={}, max_body_bytes=1024,
                      token_verifier=issuer.verifier())


@pytest.fixture
async def served(private_database: str, token_issuer: TestIssuer
                 ) -> AsyncIterator[tuple[ApiClient, asyncpg.Pool]]:
    pool = await open_platform_pool(private_database, max_size=4, acquire_timeout=0.5)
    client = in_process(recording_app(pool, token_issuer), "recording", timeout=30,
                        credentials=token_issuer.headers(REVIEW_MANAGER_NORFOLK))
    try:
        yield client, pool
    finally:
        await client.close()
        await pool.close()


async def timed_post(client: ApiClient, path: str, key: str | None = None
                     ) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.post(path, {}, idempotency_key=key)
    return response, time.monotonic() - started


def assert_retry_later(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["status"] == 503
    assert "Retry" in response.json()["detail"]
    assert elapsed < FAST_SECONDS, f"the refusal took {elapsed:.1f}s"


async def test_a_command_while_the_database_is_down_gets_503_at_once_and_succeeds_once_it_is_back(
    served: tuple[ApiClient, asyncpg.Pool], private_postgres: LocalPostgres
) -> None:
    client, pool = served
    assert (await client.post("/streams/s", {})).status_code == 201

    await asyncio.to_thread(private_postgres.stop)
    try:
        # The first request meets the pooled connection the server cut; the next ones a server
        # that refuses connections.
        for attempt in range(3):
            response, elapsed = await timed_post(client, "/streams/s", key=f"during-{attempt}")
            assert_retry_later(response, elapsed)
            assert response.json()["title"] == "Database unavailable"
    finally:
        await asyncio.to_thread(private_postgres.start)

    # The same app and pool serve again: nothing to restart.
    response, _ = await timed_post(client, "/streams/s", key="during-0")
    assert response.status_code == 201, response.text
    assert response.json() == {"version": 2}
    assert await pool.fetchval("SELECT count(*) FROM events") == 2


async def test_a_command_in_flight_when_the_database_stops_gets_503_and_is_not_recorded(
    served: tuple[ApiClient, asyncpg.Pool], private_postgres: LocalPostgres
) -> None:
    client, pool = served
    in_flight = asyncio.create_task(timed_post(client, "/streams/s?linger=30", key="slow"))
    await asyncio.sleep(1.0)  # the command has appended and lingers in its transaction

    await asyncio.to_thread(private_postgres.stop)
    try:
        response, _ = await asyncio.wait_for(in_flight, timeout=FAST_SECONDS)
        assert_retry_later(response, elapsed=0)
        assert response.json()["title"] == "Database unavailable"
    finally:
        await asyncio.to_thread(private_postgres.start)
    assert await pool.fetchval("SELECT count(*) FROM events") == 0


async def test_commands_beyond_the_free_connections_get_503_with_retry_after_not_a_hang(
    served: tuple[ApiClient, asyncpg.Pool],
) -> None:
    client, pool = served
    held = asyncio.Event()
    release = asyncio.Event()

    async def slow_transaction() -> None:
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT 1")
            held.set()
            await release.wait()

    # Every connection of the pool held by slow transactions.
    slow = [asyncio.create_task(slow_transaction()) for _ in range(pool.get_max_size())]
    try:
        await asyncio.wait_for(held.wait(), timeout=10)
        await asyncio.sleep(0.1)
        answers = await asyncio.gather(*(timed_post(client, f"/streams/busy-{n}", key=f"k{n}")
                                         for n in range(8)))
        for response, elapsed in answers:
            assert_retry_later(response, elapsed)
            assert response.json()["title"] == "Service overloaded"
    finally:
        release.set()
        await asyncio.gather(*slow)

    # Retried with the same keys once the slow work is over, each command is recorded once.
    answers = await asyncio.gather(*(timed_post(client, f"/streams/busy-{n}", key=f"k{n}")
                                     for n in range(8)))
    assert [response.status_code for response, _ in answers] == [201] * 8
    assert await pool.fetchval("SELECT count(*) FROM events") == 8
