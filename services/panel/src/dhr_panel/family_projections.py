"""Read side of family involvement: the `family_involvement` table, one row per review, kept in
step with each append of the `family-<review_id>` streams."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from dhr_panel import family
from dhr_platform.commands import payload_of
from dhr_platform.database import Connection
from dhr_platform.eventstore import RecordedEvent

STREAM_PREFIX = "family-"


def family_stream_id(review_id: UUID) -> str:
    """The stream of a review's family record (separate from the panel's own stream)."""
    return f"{STREAM_PREFIX}{review_id}"


class FamilyProjection:
    """Folds each review's family events with the decider's own `evolve`, so reads and rules
    agree. Events of other streams (the panel's) are ignored."""

    name = "family_involvement"
    tables: Sequence[str] = ("family_involvement",)

    async def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if not event.stream_id.startswith(STREAM_PREFIX):
            return
        review_id = UUID(event.stream_id.removeprefix(STREAM_PREFIX))
        row = await connection.fetchrow(
            "SELECT version, state FROM family_involvement WHERE review_id = $1 FOR UPDATE",
            review_id)
        if row is not None and row["version"] >= event.stream_version:
            return  # already applied (a replay over a live row)
        state = (family.initial_state() if row is None
                 else family.FamilyState.model_validate(row["state"]))
        state = family.evolve(state, payload_of(event))
        facts = family.process_facts(state)
        await connection.execute(
            """INSERT INTO family_involvement
                   (review_id, version, people, family_contributed,
                    consulted_on_terms_of_reference, supported_by_expert_advocate,
                    received_draft_report, attended_panel, state)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
               ON CONFLICT (review_id) DO UPDATE SET
                   version = excluded.version, people = excluded.people,
                   family_contributed = excluded.family_contributed,
                   consulted_on_terms_of_reference = excluded.consulted_on_terms_of_reference,
                   supported_by_expert_advocate = excluded.supported_by_expert_advocate,
                   received_draft_report = excluded.received_draft_report,
                   attended_panel = excluded.attended_panel, state = excluded.state""",
            review_id, event.stream_version, len(state.people),
            facts[family.FAMILY_CONTRIBUTED], facts[family.CONSULTED_ON_TERMS_OF_REFERENCE],
            facts[family.SUPPORTED_BY_EXPERT_ADVOCATE], facts[family.RECEIVED_DRAFT_REPORT],
            facts[family.ATTENDED_PANEL], state.model_dump(mode="json"),
        )


async def load_family(pool: asyncpg.Pool,
                      review_id: UUID) -> tuple[family.FamilyState, int] | None:
    """A review's family state and stream version, or None when it has no family record."""
    row = await pool.fetchrow(
        "SELECT version, state FROM family_involvement WHERE review_id = $1", review_id)
    if row is None:
        return None
    return family.FamilyState.model_validate(row["state"]), row["version"]


def family_view(review_id: UUID, state: family.FamilyState, version: int) -> dict[str, Any]:
    """A review's family involvement as the API shows it, with the five process facts."""
    body = state.model_dump(mode="json", exclude={"exists", "review_id", "consents"})
    latest_outcomes = {str(p.person_id): _latest_outcome(state, p.person_id) for p in state.people}
    for person in body["people"]:
        person["latest_outcome"] = latest_outcomes[person["person_id"]]
        person["may_contribute"] = latest_outcomes[person["person_id"]] == "agreed"
    for offer in body["advocacy_offers"]:
        offer["status"] = ("accepted" if offer["accepted_on"] else
                           "declined" if offer["declined_on"] else "offered")
    return {
        "review_id": str(review_id),
        "version": version,
        **body,
        "consent": [c.model_dump(mode="json") for c in state.consents],
        "process_facts": family.process_facts(state),
    }


def _latest_outcome(state: family.FamilyState, person_id: UUID) -> str | None:
    latest = state.latest_approach(person_id)
    return None if latest is None else str(latest.outcome)
