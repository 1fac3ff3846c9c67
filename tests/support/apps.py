"""A service's app served in process: its lifespan started (the whole runtime), and an httpx
client that talks to it over ASGI."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

import httpx
from fastapi import FastAPI


@contextlib.asynccontextmanager
async def serving(app: FastAPI, name: str, headers: Mapping[str, str]
                  ) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan and yield a client of it at `http://<name>` that sends
    `headers` by default."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}",
                                     headers=dict(headers)) as client:
            yield client
