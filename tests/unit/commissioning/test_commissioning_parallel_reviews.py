"""Parallel processes linked to a review; linking the same one twice changes nothing."""

from datetime import date

import pytest
from commissioning_givens import REVIEW_ID, a_notified_review, then, when

from dhr_commissioning.domain import InvalidCommand, LinkParallelReview, ReviewNotFound, fold
from dhr_contracts.commissioning import ParallelReviewKind, ParallelReviewLinked


def link(kind: ParallelReviewKind = ParallelReviewKind.INQUEST,
         reference: str = "INQ/2025/0042") -> LinkParallelReview:
    return LinkParallelReview(review_id=REVIEW_ID, linked_on=date(2025, 3, 15), kind=kind,
                              reference=reference)


def test_a_parallel_review_is_linked_with_its_reference() -> None:
    assert when(link(), given=a_notified_review()) == [ParallelReviewLinked(
        review_id=REVIEW_ID, linked_on=date(2025, 3, 15), kind=ParallelReviewKind.INQUEST,
        reference="INQ/2025/0042")]


def test_linking_the_same_kind_and_reference_again_changes_nothing() -> None:
    given = then(a_notified_review(), link())

    assert when(link(reference=" inq/2025/0042 "), given=given) == []


def test_the_same_reference_may_be_linked_for_another_kind() -> None:
    given = then(a_notified_review(), link())

    events = when(link(ParallelReviewKind.IOPC_INVESTIGATION), given=given)

    assert len(events) == 1
    assert len(fold([*given, *events]).parallel_reviews) == 2


def test_a_blank_reference_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(link(reference="  "), given=a_notified_review())

    assert refused.value.field == "reference"


def test_a_parallel_review_cannot_be_linked_to_an_unknown_review() -> None:
    with pytest.raises(ReviewNotFound):
        when(link(), given=[])
