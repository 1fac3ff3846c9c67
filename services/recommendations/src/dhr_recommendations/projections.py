"""Read side: `recommendations` (one row per recommendation), `recommendation_addressees` (one
per addressee: the action plans) and `recommendation_escalations`, kept in step with each append
by the decider's own `evolve`, so reads and rules agree."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from dhr_contracts.recommendations import RecommendationEscalated, ResponseStatus
from dhr_platform.commands import payload_of
from dhr_platform.database import Connection
from dhr_platform.eventstore import RecordedEvent
from dhr_recommendations import domain
from dhr_recommendations.library import addressee_facets
from dhr_recommendations.model import AddresseeState, RecommendationState
from dhr_recommendations.status import FINISHED_CLAIMS, REVERIFIED

STREAM_PREFIX = "recommendation-"


def stream_id(recommendation_id: UUID) -> str:
    return f"{STREAM_PREFIX}{recommendation_id}"


class RecommendationsProjection:
    """Folds each recommendation's events into its rows."""

    name = "recommendations"
    tables: Sequence[str] = ("recommendations", "recommendation_addressees",
                             "recommendation_escalations")

    async def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if not event.stream_id.startswith(STREAM_PREFIX):
            return
        recommendation_id = UUID(event.stream_id.removeprefix(STREAM_PREFIX))
        row = await connection.fetchrow(
            "SELECT version, state FROM recommendations WHERE recommendation_id = $1 FOR UPDATE",
            recommendation_id)
        if row is not None and row["version"] >= event.stream_version:
            return  # already applied (a replay over a live row)
        state = (domain.initial_state() if row is None
                 else RecommendationState.model_validate(row["state"]))
        payload = payload_of(event)
        state = domain.evolve(state, payload)
        if not state.recorded or state.issued_on is None or state.smart is None:
            return
        await connection.execute(
            """INSERT INTO recommendations
                   (recommendation_id, review_id, number, csp_area, level, themes, tags, text,
                    issued_on, smart_score, smart_flags, open, version, state, source,
                    addressee_facets)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15,
                       $16)
               ON CONFLICT (recommendation_id) DO UPDATE SET
                   open = excluded.open, version = excluded.version, state = excluded.state,
                   addressee_facets = excluded.addressee_facets""",
            recommendation_id, state.review_id, state.number, state.csp_area, state.level.value,
            [t.value for t in state.themes], list(state.tags), state.text, state.issued_on,
            state.smart.score, [f.flag.value for f in state.smart.findings], state.open,
            event.stream_version, state.model_dump(mode="json"),
            state.source.value if state.source else "direct",
            addressee_facets((a.addressee_type.value,
                              (a.implementation_verified or a.implementation_claimed).value)
                             for a in state.addressees))
        await connection.executemany(
            """INSERT INTO recommendation_addressees
                   (recommendation_id, addressee_id, name, addressee_type, response_status,
                    implementation_claimed, implementation_verified, response_due_on,
                    target_date, open, ntsb_status, verified_on, reverify_on,
                    response_overdue_recorded, action_overdue_recorded, reverification_reminded)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
               ON CONFLICT (recommendation_id, addressee_id) DO UPDATE SET
                   response_status = excluded.response_status,
                   implementation_claimed = excluded.implementation_claimed,
                   implementation_verified = excluded.implementation_verified,
                   target_date = excluded.target_date, open = excluded.open,
                   ntsb_status = excluded.ntsb_status, verified_on = excluded.verified_on,
                   reverify_on = excluded.reverify_on,
                   response_overdue_recorded = excluded.response_overdue_recorded,
                   action_overdue_recorded = excluded.action_overdue_recorded,
                   reverification_reminded = excluded.reverification_reminded""",
            [_addressee_row(recommendation_id, a) for a in state.addressees])
        if isinstance(payload, RecommendationEscalated):
            await connection.execute(
                """INSERT INTO recommendation_escalations
                       (recommendation_id, addressee_id, escalated_to, reason, due_on,
                        escalated_on, review_id, csp_area, level)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING""",
                recommendation_id, payload.addressee_id, payload.escalated_to.value,
                payload.reason.value, payload.due_on, payload.escalated_on, payload.review_id,
                state.csp_area, state.level.value)


def _addressee_row(recommendation_id: UUID, a: AddresseeState) -> tuple[Any, ...]:
    return (recommendation_id, a.addressee_id, a.name, a.addressee_type.value,
            a.response_status.value, a.implementation_claimed.value,
            None if a.implementation_verified is None else a.implementation_verified.value,
            a.response_due_on, a.target_date, a.open, a.ntsb_status, a.verified_on,
            a.reverify_on, a.response_due_on in a.response_overdue_dates,
            a.target_date is not None and a.target_date in a.action_overdue_dates,
            a.verified_on is not None and a.verified_on in a.reverification_reminded_for)


async def load_recommendation(pool: asyncpg.Pool | Connection, recommendation_id: UUID
                              ) -> tuple[RecommendationState, int] | None:
    row = await pool.fetchrow(
        "SELECT version, state FROM recommendations WHERE recommendation_id = $1",
        recommendation_id)
    if row is None:
        return None
    return RecommendationState.model_validate(row["state"]), row["version"]


async def recommendations_with_deadlines_to_check(pool: asyncpg.Pool, today: date) -> list[UUID]:
    """Recommendations with a deadline passed (or a re-verification due) and not yet recorded."""
    rows = await pool.fetch(
        """SELECT DISTINCT recommendation_id FROM recommendation_addressees
            WHERE (open AND response_status = 'awaiting_response' AND response_due_on < $1
                   AND NOT response_overdue_recorded)
               OR (open AND target_date < $1 AND NOT action_overdue_recorded
                   AND NOT implementation_claimed = ANY($3::text[]))
               OR (reverify_on <= $1 AND NOT reverification_reminded
                   AND implementation_verified = ANY($2::text[]))
            ORDER BY recommendation_id""",
        today, sorted(s.value for s in REVERIFIED), sorted(s.value for s in FINISHED_CLAIMS))
    return [row["recommendation_id"] for row in rows]


def addressee_view(a: AddresseeState, today: date) -> dict[str, Any]:
    body: dict[str, Any] = a.model_dump(mode="json")
    body.update({
        "open": a.open,
        "ntsb_status": a.ntsb_status,
        "response_overdue": (a.open and a.response_status is ResponseStatus.AWAITING_RESPONSE
                             and today > a.response_due_on),
        "action_overdue": (a.open and a.target_date is not None and today > a.target_date
                           and a.implementation_claimed not in FINISHED_CLAIMS),
    })
    return body


def recommendation_view(state: RecommendationState, version: int, today: date) -> dict[str, Any]:
    """One recommendation as the API shows it: SMART check, addressees with both status axes,
    NTSB-style status, history and correspondence."""
    body = state.model_dump(mode="json", exclude={"addressees", "recorded"})
    body.update({
        "version": version,
        "open": state.open,
        "status": "open" if state.open else "closed",
        "addressees": [addressee_view(a, today) for a in state.addressees],
        "as_of": today.isoformat(),
    })
    return body
