"""The `dhr` command on the real Kafka and PostgreSQL, run in process: a review's history from
the topics alone, the ledger rebuilt to the same rows and root, and an audit export that
verifies until one byte is changed."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_oversight_service import commissioned, member_added, notification

from dhr_oversight import rebuild_reader
from dhr_oversight.ledger import MerkleTree, NoteVerifier, open_checkpoint

if TYPE_CHECKING:
    from conftest import RunningOversight


async def test_history_lists_the_review_s_events_in_order_across_two_topics_from_kafka_alone(
        oversight: RunningOversight, dhr) -> None:  # type: ignore[no-untyped-def]
    commissioning_topic, panel_topic = oversight.settings.oversight_topics
    review, other = str(uuid.uuid4()), str(uuid.uuid4())
    first, second, third = notification(review), commissioned(review, 10), member_added(review, 20)
    await oversight.publish(panel_topic, third)
    await oversight.publish(commissioning_topic, second, notification(other), first, second)

    code, out = await dhr("history", review, "--json")
    assert code == 0
    document = json.loads(out)
    assert [event["event_id"] for event in document["events"]] == [
        str(first.id), str(second.id), str(third.id)]
    assert document["services"] == ["commissioning", "panel"]

    code, text = await dhr("history", review)
    assert code == 0
    lines = text.splitlines()
    order = [next(i for i, line in enumerate(lines) if what in line)
             for what in ("Notification received", "Review commissioned", "Member added")]
    assert order == sorted(order)
    assert "2025-03-01 09:00  commissioning  Notification received" in text
    assert "csp_area: Leeds" in text
    assert "A. Person" not in text and "victim_name: [personal]" in text
    code, shown = await dhr("history", review, "--show-personal")
    assert "victim_name: A. Person" in shown


@pytest.mark.parametrize("in_process_below", [rebuild_reader.IN_PROCESS_BELOW, 0],
                         ids=["read-in-process", "read-by-worker-processes"])
async def test_rebuild_from_the_topics_gives_the_same_ledger_rows_and_root_hash_as_live(
        oversight: RunningOversight, dhr, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        in_process_below: int) -> None:
    monkeypatch.setattr(rebuild_reader, "IN_PROCESS_BELOW", in_process_below)
    commissioning_topic, panel_topic = oversight.settings.oversight_topics
    reviews = [str(uuid.uuid4()) for _ in range(3)]
    notifications = [notification(review, f"Area {n}") for n, review in enumerate(reviews)]
    for review, notified in zip(reviews, notifications, strict=True):
        await oversight.publish(commissioning_topic, notified, commissioned(review))
        await oversight.publish(panel_topic, member_added(review), member_added(review, 21))
    await oversight.publish(panel_topic, notifications[0])  # the same event again, elsewhere
    await oversight.wait_for_ledger_size(12)
    checkpoint = await oversight.client.post("/checkpoints", headers=oversight.operator)
    live_rows = await oversight.ledger_rows()
    live_areas = await areas(oversight)
    live_root = MerkleTree.from_leaf_hashes(row["leaf_hash"] for row in live_rows).root()
    assert base64.b64encode(live_root).decode() in checkpoint.text

    # Lose everything the topics can give back: the events' bytes, the review areas, and the
    # last entry altogether. Only the order (coordinates) and what was hashed stay.
    pool = oversight.runtime.pool
    await pool.execute("UPDATE ledger SET leaf_data = '\\x00'::bytea")
    await pool.execute("DELETE FROM review_areas")
    await pool.execute("DELETE FROM ledger WHERE index = 11")
    code, out = await dhr("rebuild")
    assert code == 0, out
    assert f"root {live_root.hex()}" in out
    assert "12 entries (11 in their recorded order, 1 new)" in out
    rebuilt = await oversight.ledger_rows()
    # Re-appended last: the one entry the ledger had lost gets a new recording time only.
    rebuilt[11]["recorded_at"] = live_rows[11]["recorded_at"]
    assert rebuilt == live_rows
    assert await areas(oversight) == live_areas
    assert len(live_areas) == 3


async def areas(oversight: RunningOversight) -> list[tuple[str, str]]:
    rows = await oversight.runtime.pool.fetch("SELECT * FROM review_areas ORDER BY 1")
    return [tuple(row) for row in rows]


async def test_rebuild_refuses_when_a_topic_no_longer_holds_what_the_ledger_hashed(
        oversight: RunningOversight, dhr) -> None:  # type: ignore[no-untyped-def]
    topic = oversight.settings.oversight_topics[0]
    review = str(uuid.uuid4())
    await oversight.publish(topic, notification(review), commissioned(review))
    await oversight.wait_for_ledger_size(2)
    await oversight.runtime.pool.execute(
        "UPDATE ledger SET leaf_hash = $1 WHERE index = 1", hashlib.sha256(b"other").digest())
    before = await oversight.ledger_rows()
    code, _ = await dhr("rebuild")
    assert code == 2
    assert await oversight.ledger_rows() == before


async def test_an_exported_review_verifies_and_one_changed_byte_makes_it_fail(
        oversight: RunningOversight, dhr, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    commissioning_topic, panel_topic = oversight.settings.oversight_topics
    review, other = str(uuid.uuid4()), str(uuid.uuid4())
    await oversight.publish(commissioning_topic, notification(review), notification(other, "York"))
    await oversight.wait_for_ledger_size(2)
    earlier = await oversight.client.post("/checkpoints", headers=oversight.operator)
    assert earlier.status_code == 201
    await oversight.publish(commissioning_topic, commissioned(review), commissioned(other))
    await oversight.publish(panel_topic, member_added(review))
    await oversight.wait_for_ledger_size(5)

    bundle = tmp_path / "bundle"
    code, out = await dhr("export", "--review", review, "--since", "2", "--out", str(bundle))
    assert code == 0, out
    assert "exported 3 events" in out
    events = (bundle / "events.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["subject"] for line in events] == [review] * 3
    code, out = await dhr("verify", str(bundle))
    assert (code, out.splitlines()[-1]) == (0, "OK: 3 events verified against the checkpoint of "
                                                "tree size 5")
    keys = tmp_path / "keys.txt"
    keys.write_text((await oversight.client.get("/keys")).text)
    assert (await dhr("verify", str(bundle), "--keys", str(keys)))[0] == 0
    # The checkpoint the export signed is the service's latest, verifiable with its keys.
    latest = (await oversight.client.get("/checkpoints/latest")).text
    verifiers = [NoteVerifier.from_vkey(line) for line in keys.read_text().splitlines()]
    assert open_checkpoint(latest, verifiers)[0].size == 5

    data = bytearray((bundle / "events.jsonl").read_bytes())
    data[data.index(b"Leeds")] ^= 0x01
    (bundle / "events.jsonl").write_bytes(bytes(data))
    code, out = await dhr("verify", str(bundle))
    assert code == 1
    assert out.startswith(f"FAILED: {bundle} does not verify:")
    assert "  - " in out

    everything, area = tmp_path / "all", tmp_path / "area"
    assert (await dhr("export", "--all", "--out", str(everything)))[0] == 0
    assert (await dhr("verify", str(everything)))[0] == 0
    code, out = await dhr("export", "--area", "York", "--out", str(area))
    assert (code, "exported 2 events of area York" in out) == (0, True)
    assert (await dhr("verify", str(area)))[0] == 0
    code, _ = await dhr("export", "--area", "Nowhere", "--out", str(tmp_path / "none"))
    assert code == 2
