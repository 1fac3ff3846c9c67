"""Read side: each review's learning (`learning_reviews`), learning points across reviews
(`learning_points`), and the reviews known from other services' events (`known_reviews`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from dhr_contracts.learning import LearningPointDisseminated, LearningPointRecorded
from dhr_learning import domain
from dhr_platform.commands import payload_of
from dhr_platform.database import Connection
from dhr_platform.eventstore import RecordedEvent
from dhr_platform.policy import Visibility

STREAM_PREFIX = "learning-"


def stream_id(review_id: UUID) -> str:
    return f"{STREAM_PREFIX}{review_id}"


class LearningProjection:
    """Folds each review's learning with the decider's own `evolve`, so reads and rules agree,
    and copies its learning points into the cross-review table."""

    name = "learning"
    tables: Sequence[str] = ("learning_reviews", "learning_points")

    async def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if not event.stream_id.startswith(STREAM_PREFIX):
            return
        review_id = UUID(event.stream_id.removeprefix(STREAM_PREFIX))
        row = await connection.fetchrow(
            "SELECT version, state FROM learning_reviews WHERE review_id = $1 FOR UPDATE",
            review_id)
        if row is not None and row["version"] >= event.stream_version:
            return  # already applied (a replay over a live row)
        state = (domain.initial_state() if row is None
                 else domain.LearningState.model_validate(row["state"]))
        payload = payload_of(event)
        state = domain.evolve(state, payload)
        await connection.execute(
            """INSERT INTO learning_reviews (review_id, version, state) VALUES ($1, $2, $3::jsonb)
               ON CONFLICT (review_id) DO UPDATE SET version = excluded.version,
                                                     state = excluded.state""",
            review_id, event.stream_version, state.model_dump(mode="json"))
        if isinstance(payload, LearningPointRecorded | LearningPointDisseminated):
            point = state.learning_point(payload.learning_point_id)
            assert point is not None
            await connection.execute(
                """INSERT INTO learning_points (learning_point_id, review_id, recorded_on, themes,
                                                tags, point)
                   VALUES ($1, $2, $3, $4, $5, $6::jsonb)
                   ON CONFLICT (learning_point_id) DO UPDATE SET point = excluded.point""",
                point.learning_point_id, review_id, point.recorded_on,
                [str(theme) for theme in point.themes], list(point.tags),
                point.model_dump(mode="json"))


# ------------------------------------------------------------------- reviews known from elsewhere


async def record_notified(connection: Connection, review_id: UUID, csp_area: str,
                          date_of_death: date) -> None:
    """A review was notified: its area and date of death. Idempotent."""
    await connection.execute(
        """INSERT INTO known_reviews (review_id, csp_area, date_of_death) VALUES ($1, $2, $3)
           ON CONFLICT (review_id) DO UPDATE SET csp_area = excluded.csp_area,
               date_of_death = excluded.date_of_death, updated_at = now()""",
        review_id, csp_area, date_of_death)


async def record_commissioned(connection: Connection, review_id: UUID, decided_on: date) -> None:
    """A review was commissioned; the first decision date seen is kept. Idempotent."""
    await connection.execute(
        """INSERT INTO known_reviews (review_id, commissioned_on) VALUES ($1, $2)
           ON CONFLICT (review_id) DO UPDATE SET
               commissioned_on = coalesce(known_reviews.commissioned_on, excluded.commissioned_on),
               updated_at = now()""",
        review_id, decided_on)


async def record_chair(connection: Connection, review_id: UUID,
                       chair_subject: str | None) -> None:
    """A Chair was appointed (or replaced): their user id, or none. Idempotent."""
    await connection.execute(
        """INSERT INTO known_reviews (review_id, chair_subject) VALUES ($1, $2)
           ON CONFLICT (review_id) DO UPDATE SET chair_subject = excluded.chair_subject,
               updated_at = now()""",
        review_id, chair_subject)


async def record_report_agreed(connection: Connection, review_id: UUID, agreed_on: date) -> None:
    """The panel agreed the review's report; the latest agreement date is kept. Idempotent."""
    await connection.execute(
        """INSERT INTO known_reviews (review_id, report_agreed_on) VALUES ($1, $2)
           ON CONFLICT (review_id) DO UPDATE SET
               report_agreed_on = greatest(known_reviews.report_agreed_on,
                                           excluded.report_agreed_on),
               updated_at = now()""",
        review_id, agreed_on)


async def known_review(executor: Connection | asyncpg.Pool,
                       review_id: UUID) -> dict[str, Any] | None:
    row = await executor.fetchrow(
        """SELECT review_id, csp_area, date_of_death, commissioned_on, report_agreed_on,
                  chair_subject
             FROM known_reviews WHERE review_id = $1""", review_id)
    return None if row is None else dict(row)


def review_not_known(review_id: UUID) -> domain.ReviewNotKnown:
    """The answer for a review this service does not know (or that the caller may not see)."""
    return domain.ReviewNotKnown(
        f"No review {review_id} is known to the learning service: it learns of reviews from "
        "the commissioning service's events (retry shortly if it was just commissioned).",
        "review_id")


async def require_commissioned(executor: Connection | asyncpg.Pool, review_id: UUID) -> None:
    """Refuse a review this service has not seen commissioned (404 unknown, 409 not yet)."""
    known = await known_review(executor, review_id)
    if known is None:
        raise review_not_known(review_id)
    if known["commissioned_on"] is None:
        raise domain.ReviewNotCommissioned(
            f"Review {review_id} is not commissioned: learning is recorded for commissioned "
            "reviews only.", "review_id")


# ---------------------------------------------------------------------------------------- queries


async def load_learning(executor: Connection | asyncpg.Pool,
                        review_id: UUID) -> tuple[domain.LearningState, int] | None:
    row = await executor.fetchrow(
        "SELECT version, state FROM learning_reviews WHERE review_id = $1", review_id)
    if row is None:
        return None
    return domain.LearningState.model_validate(row["state"]), row["version"]


async def list_learning_points(
    pool: asyncpg.Pool,
    *,
    theme: str | None = None,
    tag: str | None = None,
    area: str | None = None,
    recorded_from: date | None = None,
    recorded_to: date | None = None,
    visible: Visibility | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Learning points of the reviews the caller may see matching the filters, oldest first,
    and the total."""
    conditions = ["true"]
    arguments: list[Any] = []
    if visible is not None:
        conditions.append(visible.where(arguments))

    def condition(sql: str, value: Any) -> None:
        arguments.append(value)
        conditions.append(sql.format(f"${len(arguments)}"))

    if theme is not None:
        condition("{} = ANY(p.themes)", theme)
    if tag is not None:
        condition("{} = ANY(p.tags)", tag)
    if area is not None:
        condition("lower(r.csp_area) = lower({})", area)
    if recorded_from is not None:
        condition("p.recorded_on >= {}", recorded_from)
    if recorded_to is not None:
        condition("p.recorded_on <= {}", recorded_to)
    source = f"""FROM learning_points p LEFT JOIN known_reviews r USING (review_id)
                 WHERE {' AND '.join(conditions)}"""
    total = await pool.fetchval(f"SELECT count(*) {source}", *arguments)
    rows = await pool.fetch(
        f"""SELECT p.review_id, p.point, r.csp_area, r.date_of_death {source}
             ORDER BY p.recorded_on, p.learning_point_id LIMIT {int(limit)} OFFSET {int(offset)}""",
        *arguments)
    items = [{"review_id": str(row["review_id"]), "csp_area": row["csp_area"], **row["point"]}
             for row in rows]
    return items, int(total)
