"""The one way the reliability tests call a service over HTTP.

Every request goes through `ApiClient.headers`, so what every request must carry (the
`credentials`: a bearer token, which also names the actor) is added there and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI


class ApiClient:
    """HTTP calls to one service, in process (ASGI) or over a socket."""

    def __init__(self, http: httpx.AsyncClient, *, timeout: float = 30.0,
                 credentials: Mapping[str, str] | None = None) -> None:
        self.http = http
        self.timeout = timeout
        self.credentials = dict(credentials or {})

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = dict(self.credentials)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def post(self, path: str, body: dict[str, Any], *,
                   idempotency_key: str | None = None) -> httpx.Response:
        # In process (ASGI) httpx enforces no timeout: a request that hangs must fail the test.
        async with asyncio.timeout(self.timeout):
            return await self.http.post(path, json=body, headers=self.headers(idempotency_key))

    async def get(self, path: str) -> httpx.Response:
        async with asyncio.timeout(self.timeout):
            return await self.http.get(path, headers=self.headers())

    async def close(self) -> None:
        await self.http.aclose()


def in_process(app: FastAPI, name: str, timeout: float = 30.0,
               credentials: Mapping[str, str] | None = None) -> ApiClient:
    """A client of an app running in this process (its lifespan started by the caller)."""
    transport = httpx.ASGITransport(app=app)
    return ApiClient(httpx.AsyncClient(transport=transport, base_url=f"http://{name}"),
                     timeout=timeout, credentials=credentials)


def over_http(base_url: str, timeout: float = 30.0,
              credentials: Mapping[str, str] | None = None) -> ApiClient:
    """A client of a service running in another process."""
    return ApiClient(httpx.AsyncClient(base_url=base_url, timeout=timeout), timeout=timeout,
                     credentials=credentials)
