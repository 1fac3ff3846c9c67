"""Read side: the `panels` table (one row per review) and `panel_requests`, kept in step with
each append by the decider's own `evolve`, so reads and rules agree."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from dhr_panel import domain
from dhr_panel.model import InformationRequest, PanelState, has_specialist_domestic_abuse_service
from dhr_platform.commands import payload_of
from dhr_platform.database import Connection
from dhr_platform.eventstore import RecordedEvent

STREAM_PREFIX = "panel-"


def stream_id(review_id: UUID) -> str:
    return f"{STREAM_PREFIX}{review_id}"


class PanelsProjection:
    """Folds each panel's events into `panels` and mirrors its requests into `panel_requests`.

    A snapshot projection (`dhr_platform.eventstore.SnapshotProjection`): a panel's row holds
    its decider state, from which commands load it."""

    name = "panels"
    tables: Sequence[str] = ("panels", "panel_requests")

    async def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if not event.stream_id.startswith(STREAM_PREFIX):
            return
        review_id = UUID(event.stream_id.removeprefix(STREAM_PREFIX))
        row = await connection.fetchrow(
            "SELECT version, state FROM panels WHERE review_id = $1 FOR UPDATE", review_id)
        if row is not None and row["version"] >= event.stream_version:
            return  # already applied (a replay over a live row)
        state = domain.initial_state() if row is None else PanelState.model_validate(row["state"])
        await self._write(connection, review_id, domain.evolve(state, payload_of(event)),
                          event.stream_version)

    async def load_state(self, connection: Connection, stream_id: str
                         ) -> tuple[PanelState, int] | None:
        """The panel's state and version as its row holds them."""
        return await load_panel(connection, UUID(stream_id.removeprefix(STREAM_PREFIX)))

    async def apply_from(self, connection: Connection, state: PanelState, version: int,
                         events: Sequence[RecordedEvent]) -> None:
        """One panel's new events on its state at `version`, read in this transaction (the
        append confirmed that version, so the row is written unread)."""
        if not events or not events[0].stream_id.startswith(STREAM_PREFIX):
            return
        for event in events:
            state = domain.evolve(state, payload_of(event))
        await self._write(connection, UUID(events[0].stream_id.removeprefix(STREAM_PREFIX)),
                          state, events[-1].stream_version)

    @staticmethod
    async def _write(connection: Connection, review_id: UUID, state: PanelState,
                     version: int) -> None:
        await connection.execute(
            """INSERT INTO panels (review_id, version, csp_area, opened_on, state)
               VALUES ($1, $2, $3, $4, $5::jsonb)
               ON CONFLICT (review_id) DO UPDATE SET
                   version = excluded.version, csp_area = excluded.csp_area,
                   opened_on = excluded.opened_on, state = excluded.state""",
            review_id, version, state.csp_area, state.opened_on, state)
        if state.requests:
            await connection.executemany(
                """INSERT INTO panel_requests
                       (review_id, request_id, kind, agency, status, due_on, overdue_recorded)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (review_id, request_id) DO UPDATE SET
                       status = excluded.status, due_on = excluded.due_on,
                       overdue_recorded = excluded.overdue_recorded""",
                [(review_id, r.request_id, r.kind.value, r.agency, r.status.value, r.due_on,
                  r.due_on in r.overdue_due_dates) for r in state.requests])


async def load_panel(pool: asyncpg.Pool | Connection,
                     review_id: UUID) -> tuple[PanelState, int] | None:
    row = await pool.fetchrow("SELECT version, state FROM panels WHERE review_id = $1", review_id)
    if row is None:
        return None
    return PanelState.model_validate(row["state"]), row["version"]


async def panels_with_requests_to_flag(pool: asyncpg.Pool, today: date) -> list[UUID]:
    """Reviews with a request awaiting submission past its due date and not yet flagged for it."""
    rows = await pool.fetch(
        """SELECT DISTINCT review_id FROM panel_requests
            WHERE status <> 'submitted' AND NOT overdue_recorded AND due_on < $1
            ORDER BY review_id""", today)
    return [row["review_id"] for row in rows]


def request_view(request: InformationRequest, today: date) -> dict[str, Any]:
    body: dict[str, Any] = request.model_dump(mode="json")
    body["overdue"] = request.overdue_on(today)
    return body


def panel_view(state: PanelState, version: int, today: date) -> dict[str, Any]:
    """One panel as the API shows it: membership with its balance, warnings, the Chair, the
    current terms of reference, requests with their overdue flag, meetings and the report."""
    body = state.model_dump(mode="json", exclude={"requests", "terms_of_reference",
                                                  "report_drafts", "report_agreed",
                                                  "lacks_specialist_domestic_abuse_service"})
    current = state.current_terms_of_reference
    body.update({
        "version": version,
        "balance": {
            "full_members_by_sector": state.balance(),
            "full_members": sum(1 for m in state.members if m.is_full_member),
            "has_specialist_domestic_abuse_service":
                has_specialist_domestic_abuse_service(state.members),
        },
        "active_warnings": [w.kind for w in state.warnings if w.resolved_on is None],
        "terms_of_reference": None if current is None else current.model_dump(mode="json"),
        "terms_of_reference_versions": len(state.terms_of_reference),
        "requests": [request_view(r, today) for r in state.requests],
        "report": {
            "drafts": [d.model_dump(mode="json") for d in state.report_drafts],
            "agreed": (None if state.report_agreed is None
                       else state.report_agreed.model_dump(mode="json")),
        },
        "as_of": today.isoformat(),
    })
    return body
