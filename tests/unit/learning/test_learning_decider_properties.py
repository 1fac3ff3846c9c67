"""Properties of the learning decider: no sequence of commands, valid or not, breaks the blame-free
rules (an event is held only when every participating agency acknowledged the ground rules, what
is said is attributed to a participating agency, never to a person), and the state is always the
fold of its events (as decided, and as read back through the event store, Kafka and the
`learning_reviews` read model)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from dhr_contracts.base import EventPayload
from dhr_contracts.learning import (
    DisseminationChannel,
    LearningEventFormat,
    LearningEventHeld,
    LearningTheme,
)
from dhr_learning.domain import (
    AcknowledgeGroundRules,
    CancelLearningEvent,
    Command,
    DisseminateLearningPoint,
    DomainError,
    GroundRulesNotAcknowledged,
    HoldLearningEvent,
    LearningEventNotFound,
    LearningEventNotHeld,
    LearningEventNotPlanned,
    LearningEventStatus,
    LearningPointNotFound,
    LearningState,
    PlanLearningEvent,
    RecordContribution,
    RecordLearningPoint,
    RescheduleLearningEvent,
    decide,
    evolve,
    initial_state,
    why_not_an_agency,
)
from dhr_learning.projections import stream_id
from dhr_platform.commands import Decider
from support.deciders import WHICH, DeciderMachine, decider_settings

REVIEW_ID = UUID("7a1c2b3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
# Three of each may be created; the fourth never is, so it can always be unknown.
EVENT_IDS = tuple(UUID(f"11111111-2222-4333-8444-55555555555{n}") for n in range(4))
POINT_IDS = tuple(UUID(f"22222222-3333-4444-8555-66666666666{n}") for n in range(4))
CONTRIBUTION_IDS = tuple(UUID(f"33333333-4444-4555-8666-77777777777{n}") for n in range(3))
DISSEMINATION_IDS = tuple(UUID(f"44444444-5555-4666-8777-88888888888{n}") for n in range(3))

AGENCIES = ("Northshire Police", "Northshire NHS Trust", "Northshire Women's Aid")
# Agencies as they may be written: the same ones in other case and spacing, a blank, and people
# (refused: attributions are to agencies, never to people).
agencies = st.sampled_from([*AGENCIES, *AGENCIES, "northshire  police", " Northshire NHS Trust ",
                            " ", "Mr Smith", "Jane Doe", "PC 1234", "jane.doe@example.org",
                            "DC Jones of Northshire Police"])
# Lists of agencies take any name (over-long ones never reach the decider: the command's own
# type refuses them, test_learning_points.py).
agency_lists = st.one_of(st.lists(st.sampled_from(AGENCIES), min_size=1, max_size=3, unique=True),
                         st.lists(agencies, min_size=1, max_size=3)).map(tuple)
offsets = st.integers(min_value=-3, max_value=14)
texts = st.sampled_from(["Risk was not shared with health partners.", "  Padded  ", " ",
                         "Sam Facilitator", "Venue unavailable."])
# Tags: ordinary, to be normalised, blank, and at the 60-character limit (one of them in a
# script whose lower case is longer than its upper case).
tags = st.sampled_from(["Coercive Control", "  risk   assessment ", "coercive control", " ",
                        "x" * 60, "İ" + "x" * 59, "x" * 61])


def _an_agency(value: str) -> bool:
    """Whether `value`, spaces normalised, can be attributed to: an agency's name, not a
    person's, and not too long for an event."""
    agency = " ".join(value.split())
    return bool(agency) and len(agency) <= 200 and why_not_an_agency(agency) is None


class LearningMachine(DeciderMachine[Command, LearningState]):
    """One review's learning driven by any sequence of the learning commands."""

    decider = Decider(initial_state, decide, evolve)
    domain_error = DomainError
    source = "/dhr/learning"
    start = date(2026, 5, 1)

    def stream(self) -> tuple[str, str]:
        return stream_id(REVIEW_ID), str(REVIEW_ID)

    def _event(self, which: int) -> UUID:
        return self.pick([e.learning_event_id for e in self.state.learning_events], which,
                         EVENT_IDS)

    def _point(self, which: int) -> UUID:
        return self.pick([p.learning_point_id for p in self.state.learning_points], which,
                         POINT_IDS)

    @initialize(events=st.sampled_from([1, 2, 0]), acknowledged=st.sampled_from([3, 2, 0]),
                held=st.booleans(), points=st.sampled_from([1, 0, 2]))
    def perhaps_an_event_under_way(self, events: int, acknowledged: int, held: bool,
                                   points: int) -> None:
        """Most runs start with learning events planned, acknowledged by some agencies (the first
        perhaps held) and learning points, each step checked as any other."""
        for event_id in EVENT_IDS[:events]:
            self.attempt(PlanLearningEvent(
                review_id=REVIEW_ID, learning_event_id=event_id, planned_on=self.day(7),
                facilitator_name="Sam Facilitator", format=LearningEventFormat.IN_PERSON,
                invited_agencies=AGENCIES))
            for agency in AGENCIES[:acknowledged]:
                self.attempt(AcknowledgeGroundRules(
                    review_id=REVIEW_ID, learning_event_id=event_id, agency=agency,
                    acknowledged_at=datetime.combine(self.day(1), time(10), UTC)))
        if events and held and acknowledged:
            self.attempt(HoldLearningEvent(review_id=REVIEW_ID, learning_event_id=EVENT_IDS[0],
                                           held_on=self.day(1),
                                           participating_agencies=AGENCIES[:acknowledged]))
        for point_id in POINT_IDS[:points]:
            self.attempt(RecordLearningPoint(
                review_id=REVIEW_ID, learning_point_id=point_id, recorded_on=self.day(2),
                summary="Risk information must reach GPs within a day.",
                themes=(LearningTheme.IDENTIFICATION_OF_RISK,)))

    # -------------------------------------------------------------------------- learning events

    @rule(event_id=st.sampled_from(EVENT_IDS[:3]), offset=offsets, facilitator=texts,
          event_format=st.sampled_from(LearningEventFormat), invited=agency_lists)
    def plan_learning_event(self, event_id: UUID, offset: int, facilitator: str,
                            event_format: LearningEventFormat, invited: tuple[str, ...]) -> None:
        self.attempt(PlanLearningEvent(
            review_id=REVIEW_ID, learning_event_id=event_id, planned_on=self.day(offset),
            facilitator_name=facilitator, format=event_format, invited_agencies=invited))

    @rule(which=WHICH, offset=offsets, reason=texts, cancel=st.booleans())
    def reschedule_or_cancel(self, which: int, offset: int, reason: str, cancel: bool) -> None:
        event_id = self._event(which)
        day = self.day(offset)
        command: Command = (
            CancelLearningEvent(review_id=REVIEW_ID, learning_event_id=event_id,
                                cancelled_on=day, reason=reason) if cancel else
            RescheduleLearningEvent(review_id=REVIEW_ID, learning_event_id=event_id,
                                    planned_on=day, reason=reason))
        found = self.state.learning_event(event_id)
        if found is None:
            self.refuse(command, LearningEventNotFound)
        elif found.status is not LearningEventStatus.PLANNED:
            self.refuse(command, LearningEventNotPlanned)
        else:
            events = self.attempt(command)
            if not cancel and day == found.planned_on and events is not None:
                assert events == []  # the same date again changes nothing

    @rule(which=WHICH, agency=agencies, hours=st.integers(0, 48))
    def acknowledge_ground_rules(self, which: int, agency: str, hours: int) -> None:
        event_id = self._event(which)
        found = self.state.learning_event(event_id)
        acknowledged_at = datetime.combine(self.clock, time(9), UTC) + timedelta(hours=hours)
        command = AcknowledgeGroundRules(review_id=REVIEW_ID, learning_event_id=event_id,
                                         agency=agency, acknowledged_at=acknowledged_at)
        if found is None:
            self.refuse(command, LearningEventNotFound)
            return
        events = self.attempt(command)
        already = any(a.agency.casefold() == " ".join(agency.split()).casefold()
                      for a in found.acknowledgements)
        if already and events is not None:
            assert events == []  # acknowledging again changes nothing

    @rule(which=WHICH, offset=offsets, participants=agency_lists)
    def hold_learning_event(self, which: int, offset: int, participants: tuple[str, ...]) -> None:
        event_id = self._event(which)
        command = HoldLearningEvent(review_id=REVIEW_ID, learning_event_id=event_id,
                                    held_on=self.day(offset), participating_agencies=participants)
        found = self.state.learning_event(event_id)
        acknowledged = set() if found is None else {a.agency.casefold()
                                                    for a in found.acknowledgements}
        if found is None:
            self.refuse(command, LearningEventNotFound)
        elif found.status is not LearningEventStatus.PLANNED:
            self.refuse(command, LearningEventNotPlanned)
        elif all(_an_agency(p) for p in participants) and any(
                " ".join(p.split()).casefold() not in acknowledged for p in participants):
            self.refuse(command, GroundRulesNotAcknowledged)
        else:
            self.attempt(command)

    @rule(which=WHICH, contribution=st.sampled_from(CONTRIBUTION_IDS), agency=agencies,
          offset=offsets, text=texts)
    def record_contribution(self, which: int, contribution: UUID, agency: str, offset: int,
                            text: str) -> None:
        event_id = self._event(which)
        command = RecordContribution(review_id=REVIEW_ID, learning_event_id=event_id,
                                     contribution_id=contribution, agency=agency,
                                     contributed_on=self.day(offset), text=text)
        found = self.state.learning_event(event_id)
        if found is None:
            self.refuse(command, LearningEventNotFound)
        elif found.status is not LearningEventStatus.HELD:
            self.refuse(command, LearningEventNotHeld)
        else:
            self.attempt(command)

    # -------------------------------------------------------------------------- learning points

    @rule(point=st.sampled_from(POINT_IDS[:3]), offset=offsets, summary=texts,
          themes=st.lists(st.sampled_from(LearningTheme), min_size=1, max_size=3).map(tuple),
          point_tags=st.lists(tags, max_size=3).map(tuple), which=st.none() | WHICH,
          draft=st.sampled_from([None, "3", " "]))
    def record_learning_point(self, point: UUID, offset: int, summary: str,
                              themes: tuple[LearningTheme, ...], point_tags: tuple[str, ...],
                              which: int | None, draft: str | None) -> None:
        self.attempt(RecordLearningPoint(
            review_id=REVIEW_ID, learning_point_id=point, recorded_on=self.day(offset),
            summary=summary, themes=themes, tags=point_tags,
            learning_event_id=None if which is None else self._event(which),
            draft_recommendation=draft))

    @rule(which=WHICH, dissemination=st.sampled_from(DISSEMINATION_IDS), offset=offsets,
          partners=agency_lists, channel=st.sampled_from(DisseminationChannel))
    def disseminate_learning_point(self, which: int, dissemination: UUID, offset: int,
                                   partners: tuple[str, ...],
                                   channel: DisseminationChannel) -> None:
        point = self._point(which)
        command = DisseminateLearningPoint(
            review_id=REVIEW_ID, learning_point_id=point, dissemination_id=dissemination,
            issued_on=self.day(offset), partners=partners, channel=channel)
        if self.state.learning_point(point) is None:
            self.refuse(command, LearningPointNotFound)
        else:
            self.attempt(command)

    # ------------------------------------------------------------------------------ invariants

    def check_step(self, command: Command, before: LearningState, events: Sequence[EventPayload],
                   after: LearningState) -> None:
        for earlier in before.learning_events:
            now = after.learning_event(earlier.learning_event_id)
            assert now is not None
            if earlier.status is LearningEventStatus.PLANNED:
                continue
            # Held and cancelled are final: only contributions are added to a held event.
            assert now.model_copy(update={"contributions": earlier.contributions}) == earlier
            assert now.contributions[:len(earlier.contributions)] == earlier.contributions
        for payload in events:
            if isinstance(payload, LearningEventHeld):
                held = before.learning_event(payload.learning_event_id)
                assert held is not None and held.status is LearningEventStatus.PLANNED

    @invariant()
    def the_state_is_the_fold_of_its_events(self) -> None:
        self.check_folds()
        held = sum(e.status is LearningEventStatus.HELD for e in self.state.learning_events)
        contributed = sum(len(e.contributions) for e in self.state.learning_events)
        event(f"reached: {held} held, {contributed} contributions")

    @invariant()
    def learning_events_are_blame_free(self) -> None:
        for learning_event in self.state.learning_events:
            acknowledged = [a.agency for a in learning_event.acknowledgements]
            assert len({a.casefold() for a in acknowledged}) == len(acknowledged)
            if learning_event.status is LearningEventStatus.HELD:
                assert learning_event.held_on is not None
                assert learning_event.participating_agencies
                assert set(learning_event.participating_agencies) <= set(acknowledged)
            else:
                assert learning_event.contributions == ()
            assert (learning_event.status is LearningEventStatus.CANCELLED) is (
                learning_event.cancelled_on is not None)
            ids = [c.contribution_id for c in learning_event.contributions]
            assert len(set(ids)) == len(ids)
            for contribution in learning_event.contributions:
                assert contribution.agency in learning_event.participating_agencies
                assert learning_event.held_on is not None
                assert contribution.contributed_on >= learning_event.held_on
            named = [*learning_event.invited_agencies, *acknowledged,
                     *learning_event.participating_agencies,
                     *(c.agency for c in learning_event.contributions)]
            for agency in named:
                assert agency == " ".join(agency.split()) and agency
                assert why_not_an_agency(agency) is None, "an attribution names a person"

    @invariant()
    def learning_points_are_tagged_and_disseminated_in_order(self) -> None:
        points = self.state.learning_points
        assert len({p.learning_point_id for p in points}) == len(points)
        for point in points:
            assert point.themes and len(set(point.themes)) == len(point.themes)
            assert len(set(point.tags)) == len(point.tags)
            assert all(tag and tag == " ".join(tag.split()).lower() for tag in point.tags)
            if point.learning_event_id is not None:
                linked = self.state.learning_event(point.learning_event_id)
                assert linked is not None and linked.status is LearningEventStatus.HELD
            for dissemination in point.disseminations:
                assert dissemination.issued_on >= point.recorded_on
                assert dissemination.partners
                assert len({p.casefold() for p in dissemination.partners}) == len(
                    dissemination.partners)
                assert all(why_not_an_agency(p) is None for p in dissemination.partners)
            ids = [d.dissemination_id for d in point.disseminations]
            assert len(set(ids)) == len(ids), "a dissemination was recorded twice"


TestLearningDecider = LearningMachine.TestCase
TestLearningDecider.settings = decider_settings(max_examples=100)
