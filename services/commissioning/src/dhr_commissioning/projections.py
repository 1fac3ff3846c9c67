"""Read side: the `reviews` table, one row per review case, kept in step with each append."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from dhr_commissioning import domain
from dhr_contracts.base import EventPayload
from dhr_platform.commands import payload_of
from dhr_platform.database import Connection
from dhr_platform.eventstore import RecordedEvent
from dhr_platform.policy import Visibility

STREAM_PREFIX = "review-"


def stream_id(review_id: UUID) -> str:
    return f"{STREAM_PREFIX}{review_id}"


class ReviewsProjection:
    """Folds each review's events with the decider's own `evolve`, so reads and rules agree.
    A `FoldedProjection`: a rebuild from Kafka folds the reviews in worker processes."""

    name = "reviews"
    tables: Sequence[str] = ("reviews",)
    columns: Mapping[str, Sequence[str]] = {"reviews": (
        "review_id", "version", "status", "csp_area", "decision_due_on", "completion_due_on",
        "received_at", "state", "chair_subject")}

    def follows(self, stream_id: str) -> bool:
        return stream_id.startswith(STREAM_PREFIX)

    def initial_state(self) -> domain.ReviewState:
        return domain.initial_state()

    def evolve(self, state: domain.ReviewState, payload: EventPayload) -> domain.ReviewState:
        return domain.evolve(state, payload)

    def rows(self, stream_id: str, state: domain.ReviewState, version: int
             ) -> Mapping[str, Sequence[tuple[Any, ...]]]:
        """The review's row; none for a stream that never had its notification (a topic can
        hold such a stream when its first records were lost or never published)."""
        if not state.exists:
            return {"reviews": []}
        return {"reviews": [self._row(UUID(stream_id.removeprefix(STREAM_PREFIX)), state,
                                      version)]}

    @staticmethod
    def _row(review_id: UUID, state: domain.ReviewState, version: int) -> tuple[Any, ...]:
        return (review_id, version, str(state.status), state.csp_area, state.decision_due_on,
                state.completion_due_on, state.received_at, state,
                None if state.chair is None else state.chair.subject)

    async def apply(self, connection: Connection, event: RecordedEvent) -> None:
        await self.apply_batch(connection, [event])

    async def apply_batch(self, connection: Connection, events: Sequence[RecordedEvent]) -> None:
        """Events of any reviews, each review's in its order: one read of the rows they touch,
        the folds in memory, one write (a rebuild applies thousands at once)."""
        streams: dict[UUID, list[RecordedEvent]] = {}
        for event in events:
            if self.follows(event.stream_id):
                review_id = UUID(event.stream_id.removeprefix(STREAM_PREFIX))
                streams.setdefault(review_id, []).append(event)
        if not streams:
            return
        rows = await connection.fetch(
            "SELECT review_id, version, state FROM reviews WHERE review_id = ANY($1::uuid[])"
            " FOR UPDATE", list(streams))
        current = {row["review_id"]: row for row in rows}
        changed = []
        for review_id, stream in streams.items():
            row = current.get(review_id)
            version = 0 if row is None else row["version"]
            state = (self.initial_state() if row is None
                     else domain.ReviewState.model_validate(row["state"]))
            changed += self._changed(review_id, state, version, stream)
        await self._write(connection, changed)

    async def load_state(self, connection: Connection, stream_id: str
                         ) -> tuple[domain.ReviewState, int] | None:
        """The review's state and version as its row holds them (a snapshot at every version)."""
        return await load_review(connection, UUID(stream_id.removeprefix(STREAM_PREFIX)))

    async def apply_from(self, connection: Connection, state: domain.ReviewState, version: int,
                         events: Sequence[RecordedEvent]) -> None:
        """One review's new events on its state at `version`, read in this transaction: the
        append that recorded them confirmed that version, so the row is written unread."""
        if events and self.follows(events[0].stream_id):
            review_id = UUID(events[0].stream_id.removeprefix(STREAM_PREFIX))
            await self._write(connection, self._changed(review_id, state, version, events))

    def _changed(self, review_id: UUID, state: domain.ReviewState, version: int,
                 stream: Sequence[RecordedEvent]) -> list[tuple[Any, ...]]:
        """The review's row after `stream` (none when nothing new, or no review yet)."""
        start = version
        for event in stream:
            if event.stream_version <= version:
                continue  # already applied (a replay over a live row)
            state = self.evolve(state, payload_of(event))
            version = event.stream_version
        if state.exists and version > start:
            return [self._row(review_id, state, version)]
        return []

    async def _write(self, connection: Connection, changed: Sequence[tuple[Any, ...]]) -> None:
        if not changed:
            return
        statement = f"""INSERT INTO reviews ({", ".join(self.columns["reviews"])})
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
               ON CONFLICT (review_id) DO UPDATE SET
                   version = excluded.version, status = excluded.status,
                   csp_area = excluded.csp_area, decision_due_on = excluded.decision_due_on,
                   completion_due_on = excluded.completion_due_on, state = excluded.state,
                   chair_subject = excluded.chair_subject"""
        if len(changed) == 1:  # a command's: one statement, not a batch's pipeline
            await connection.execute(statement, *changed[0])
        else:
            await connection.executemany(statement, changed)


def review_view(state: domain.ReviewState, version: int, today: date) -> dict[str, Any]:
    """One review as the API shows it: its state, its deadlines and what is overdue today."""
    body = state.model_dump(mode="json", exclude={"exists"})
    body["version"] = version
    body["deadlines"] = {
        "decision_due_on": body["decision_due_on"],
        "completion_due_on": body["completion_due_on"],
        "overdue": domain.overdue(state, today),
        "as_of": today.isoformat(),
    }
    return body


async def load_review(executor: asyncpg.Pool | Connection, review_id: UUID
                      ) -> tuple[domain.ReviewState, int] | None:
    row = await executor.fetchrow("SELECT version, state FROM reviews WHERE review_id = $1", review_id)
    if row is None:
        return None
    return domain.ReviewState.model_validate(row["state"]), row["version"]


# Mirrors domain.overdue() in SQL so that the list can filter and page in the database; a test
# checks the two agree. Completion is overdue in every status whose clock runs
# (domain.COMPLETION_CLOCK_RUNNING: commissioned up to approved for publication, not paused).
_COMPLETION_CLOCK_RUNNING_SQL = ", ".join(
    f"'{status.value}'" for status in sorted(domain.COMPLETION_CLOCK_RUNNING))
_OVERDUE_SQL = f"""((status = 'awaiting_decision' AND decision_due_on < $1)
                 OR (status IN ({_COMPLETION_CLOCK_RUNNING_SQL}) AND completion_due_on < $1))"""


async def list_reviews(
    pool: asyncpg.Pool,
    *,
    today: date,
    status: str | None = None,
    csp_area: str | None = None,
    overdue: bool | None = None,
    visible: Visibility | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[domain.ReviewState, int]], int]:
    """Reviews matching the filters and visible to the caller, oldest notification first, and
    how many match in all."""
    conditions = ["true"]
    arguments: list[Any] = [today]
    if visible is not None:
        conditions.append(visible.where(arguments))
    if status is not None:
        arguments.append(status)
        conditions.append(f"status = ${len(arguments)}")
    if csp_area is not None:
        arguments.append(csp_area)
        conditions.append(f"lower(csp_area) = lower(${len(arguments)})")
    if overdue is not None:
        conditions.append(_OVERDUE_SQL if overdue else f"NOT {_OVERDUE_SQL}")
    where = " AND ".join(conditions)
    total = await pool.fetchval(f"SELECT count(*) FROM reviews WHERE $1::date IS NOT NULL AND {where}",
                                *arguments)
    rows = await pool.fetch(
        f"""SELECT version, state FROM reviews WHERE $1::date IS NOT NULL AND {where}
             ORDER BY received_at, review_id LIMIT {int(limit)} OFFSET {int(offset)}""",
        *arguments,
    )
    return [(domain.ReviewState.model_validate(r["state"]), r["version"]) for r in rows], int(total)
