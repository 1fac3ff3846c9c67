"""Commands load a review from its `reviews` row (a snapshot at every version) and hand the
state back with the append: against the real PostgreSQL server, the decisions and rows are
those that folding the stream gives, and a concurrent or stale writer still loses."""

from __future__ import annotations

import asyncio
from datetime import date
from uuid import UUID, uuid4

import pytest
from commissioning_support import NOW, RunningService, notification

from dhr_commissioning import domain
from dhr_commissioning.api import DECIDER, REVIEWS
from dhr_commissioning.projections import load_review, stream_id
from dhr_platform.commands import Aggregates, payload_of
from dhr_platform.eventstore import ConcurrencyError, EventMetadata, EventStore

DECISION = {"decided_on": date(2026, 3, 3),
            "rationale": "The death meets the statutory criteria."}


def metadata(review_id: UUID) -> EventMetadata:
    return EventMetadata(subject=str(review_id), actor="test")


def notify(review_id: UUID) -> domain.ReceiveNotification:
    return domain.ReceiveNotification(review_id=review_id, received_at=NOW, **notification())


async def notified(reviews: Aggregates[domain.Command, domain.ReviewState]) -> UUID:
    """A review notified through the aggregate (nothing read: the id is fresh)."""
    review_id = uuid4()
    async with reviews.store.pool.acquire() as connection, connection.transaction():
        await reviews.execute(connection, stream_id(review_id), notify(review_id),
                              metadata(review_id), loaded=reviews.new())
    return review_id


async def folded(store: EventStore, review_id: UUID) -> tuple[domain.ReviewState, int]:
    events = await store.read_stream(stream_id(review_id))
    return DECIDER.fold([payload_of(event) for event in events]), events[-1].stream_version


async def test_a_command_decides_on_the_row_and_leaves_the_row_that_folding_gives(
        commissioning: RunningService) -> None:
    store = commissioning.runtime.store
    reviews = Aggregates(store, DECIDER, REVIEWS)
    review_id = await notified(reviews)
    async with store.pool.acquire() as connection, connection.transaction():
        state, version = await reviews.load(stream_id(review_id), connection)
        outcome = await reviews.execute(
            connection, stream_id(review_id),
            domain.DecideToCommission(review_id=review_id, **DECISION), metadata(review_id))

    assert version == 2 and state.status == domain.ReviewStatus.AWAITING_DECISION
    assert outcome.version == 3
    assert await load_review(store.pool, review_id) == await folded(store, review_id)
    assert (await load_review(store.pool, review_id))[0].status == domain.ReviewStatus.COMMISSIONED


async def test_concurrent_commands_on_one_review_let_one_win_and_keep_row_and_stream_alike(
        commissioning: RunningService) -> None:
    store = commissioning.runtime.store
    reviews = Aggregates(store, DECIDER, REVIEWS)
    review_id = await notified(reviews)

    async def decide() -> object:
        async with store.pool.acquire() as connection, connection.transaction():
            return await reviews.execute(
                connection, stream_id(review_id),
                domain.DecideToCommission(review_id=review_id, **DECISION), metadata(review_id))

    results = await asyncio.gather(*(decide() for _ in range(8)), return_exceptions=True)

    assert sum(not isinstance(result, BaseException) for result in results) == 1
    # A loser read the review before the winner committed (a conflict on append) or after it
    # (the decider refuses a second decision).
    assert all(isinstance(result, ConcurrencyError | domain.DomainError)
               for result in results if isinstance(result, BaseException))
    assert await store.stream_version(stream_id(review_id)) == 3
    assert await load_review(store.pool, review_id) == await folded(store, review_id)


async def test_a_state_read_before_another_change_committed_is_refused_and_changes_nothing(
        commissioning: RunningService) -> None:
    store = commissioning.runtime.store
    reviews = Aggregates(store, DECIDER, REVIEWS)
    review_id = await notified(reviews)
    stale = await load_review(store.pool, review_id)
    assert stale is not None
    async with store.pool.acquire() as connection, connection.transaction():
        await reviews.execute(connection, stream_id(review_id),
                              domain.DecideToCommission(review_id=review_id, **DECISION),
                              metadata(review_id))
    after = await load_review(store.pool, review_id)

    with pytest.raises(ConcurrencyError):
        async with store.pool.acquire() as connection, connection.transaction():
            await reviews.execute(
                connection, stream_id(review_id),
                domain.DecideNotToCommission(review_id=review_id, decided_on=date(2026, 3, 3),
                                             rationale="Another view.",
                                             reasons=("The criteria are not met.",)),
                metadata(review_id), loaded=stale)

    assert await store.stream_version(stream_id(review_id)) == 3
    assert await load_review(store.pool, review_id) == after


async def test_a_review_without_a_row_is_folded_from_its_stream_and_then_gets_its_row(
        commissioning: RunningService) -> None:
    store = commissioning.runtime.store
    reviews = Aggregates(store, DECIDER, REVIEWS)
    unprojected = Aggregates(EventStore(store.pool, keyring=store.keyring), DECIDER)
    review_id = uuid4()
    async with store.pool.acquire() as connection, connection.transaction():
        await unprojected.execute(connection, stream_id(review_id), notify(review_id),
                                  metadata(review_id))
    assert await load_review(store.pool, review_id) is None

    async with store.pool.acquire() as connection, connection.transaction():
        state, version = await reviews.load(stream_id(review_id), connection)
        await reviews.execute(connection, stream_id(review_id),
                              domain.DecideToCommission(review_id=review_id, **DECISION),
                              metadata(review_id), loaded=(state, version))

    assert state.exists and version == 2
    assert await load_review(store.pool, review_id) == await folded(store, review_id)
