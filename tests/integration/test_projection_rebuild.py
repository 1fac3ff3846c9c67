"""Rebuilding the commissioning read model from the event store."""

from __future__ import annotations

import asyncio
import io

from commissioning_support import RunningService, notification

from dhr_commissioning.__main__ import main
from dhr_platform.projections import rebuild, table_checksum
from support.tokens import OVERSIGHT, TestIssuer


async def test_a_rebuilt_read_model_equals_the_live_one(commissioning: RunningService,
                                                        token_issuer: TestIssuer) -> None:
    for area in ("Norfolk", "Suffolk", "Essex"):
        manager = token_issuer.headers(role="review_manager", organisation=area)
        response = await commissioning.client.post("/reviews", json=notification(csp_area=area),
                                                   headers=manager)
        review_id = response.json()["review_id"]
        await commissioning.client.post(f"/reviews/{review_id}/decision-to-commission",
                                        json={"decided_on": "2026-03-01", "rationale": "Met."},
                                        headers=manager)
    await commissioning.client.post(f"/reviews/{review_id}/pause", headers=manager,
                                    json={"paused_on": "2026-03-02", "reason": "inquest"})
    pool = commissioning.runtime.pool
    live = await table_checksum(pool, "reviews", "review_id")
    await pool.execute("UPDATE reviews SET status = 'corrupted'")
    assert await table_checksum(pool, "reviews", "review_id") != live

    progress = io.StringIO()
    replayed = await rebuild(commissioning.runtime.store, progress=progress)

    assert replayed == await commissioning.event_count() == 10
    assert await table_checksum(pool, "reviews", "review_id") == live
    assert "10/10 events" in progress.getvalue()
    listed = (await commissioning.client.get("/reviews?status=paused",
                                             headers=token_issuer.headers(OVERSIGHT))).json()
    assert listed["total"] == 1


async def test_the_rebuild_command_replays_the_store_into_the_read_model(
    commissioning: RunningService, monkeypatch, capsys
) -> None:
    await commissioning.client.post("/reviews", json=notification())
    pool = commissioning.runtime.pool
    await pool.execute("DELETE FROM reviews")
    monkeypatch.setenv("DHR_DATABASE_URL", commissioning.runtime.settings.database_url)
    await asyncio.to_thread(main, ["rebuild"])

    assert await pool.fetchval("SELECT count(*) FROM reviews") == 1
    assert "rebuilt the commissioning read models (reviews) from 2 events" in capsys.readouterr().out
