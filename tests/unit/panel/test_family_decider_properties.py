"""Properties of the family involvement decider: no sequence of commands, valid or not, breaks its
rules (a re-approach is never refused, a contribution needs the latest approach agreed, nothing is
dated in the future), the state is always the fold of its events (as decided, and as read back
through the event store, Kafka and the `family_involvement` read model), and the five process
facts always say what the events say."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from dhr_contracts.base import EventPayload
from dhr_contracts.family import (
    AdvocacyAccepted,
    ApproachChannel,
    ApproachOutcome,
    ChildVoiceRoute,
    ContributionKind,
    DraftReportSharedWithFamily,
    FamilyAttendedPanelMeeting,
    FamilyConsultedOnTermsOfReference,
    FamilyContributionRecorded,
    FamilyMemberApproached,
    FamilyRelationship,
)
from dhr_panel.family import (
    ATTENDED_PANEL,
    CONSULTED_ON_TERMS_OF_REFERENCE,
    FAMILY_CONTRIBUTED,
    RECEIVED_DRAFT_REPORT,
    SUPPORTED_BY_EXPERT_ADVOCATE,
    AcceptAdvocacy,
    AdvocacyOfferAlreadyAnswered,
    AdvocacyOfferNotFound,
    Command,
    ConsultOnTermsOfReference,
    DeclineAdvocacy,
    DomainError,
    FamilyRecordNotFound,
    FamilyState,
    InvalidFamilyCommand,
    OfferAdvocacy,
    OfferSupportAfterCompletion,
    PersonAlreadyRecorded,
    PersonHasNotAgreed,
    PersonNotRecorded,
    RecordApproach,
    RecordChildVoice,
    RecordConsent,
    RecordContribution,
    RecordFamilyMember,
    RecordPanelMeetingAttendance,
    ShareDraftReport,
    decide,
    evolve,
    initial_state,
    process_facts,
)
from dhr_panel.family_projections import family_stream_id, family_view
from dhr_platform.commands import Decider
from support.deciders import WHICH, DeciderMachine, decider_settings

REVIEW_ID = UUID("6f1c2a2e-1d0b-4f7a-9a57-2f1c1a0b7d11")
# Three people may be recorded; the fourth never is, so it can always be unknown.
PEOPLE = tuple(UUID(f"9a3e5b7c-2d4f-4e6a-8b1c-3d5e7f9a1b2{n}") for n in range(4))

# A command is received `advance` days after the last one, about something that happened
# `offset` days from then: up to a day ahead is the clock slack, two days ahead is the future.
advances = st.integers(min_value=0, max_value=6)
offsets = st.sampled_from([-9, -3, -1, 0, 0, 0, 1, 2])
texts = st.sampled_from(["Mary Example", "  Padded  ", " ", "AAFDA", "Described the isolation."])
optional_texts = st.none() | texts
outcomes = st.sampled_from([ApproachOutcome.AGREED, ApproachOutcome.AGREED,
                            ApproachOutcome.DECLINED, ApproachOutcome.NO_RESPONSE,
                            ApproachOutcome.DEFERRED])


INVOLVEMENTS = ("draft", "terms", "meeting", "support")


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


class FamilyMachine(DeciderMachine[Command, FamilyState]):
    """One review's family record driven by any sequence of the family commands."""

    decider = Decider(initial_state, decide, evolve)
    domain_error = DomainError
    source = "/dhr/panel"

    def stream(self) -> tuple[str, str]:
        return family_stream_id(REVIEW_ID), str(REVIEW_ID)

    def received(self, advance: int, offset: int) -> tuple[datetime, date]:
        """When the command is received, and the date it gives (`offset` days from then)."""
        today = self.day(advance)
        return datetime.combine(today, time(10), UTC), today + timedelta(days=offset)

    @staticmethod
    def in_future(recorded_at: datetime, day: date) -> bool:
        return day > recorded_at.date() + timedelta(days=1)

    def _person(self, which: int) -> UUID:
        return self.pick([p.person_id for p in self.state.people], which, PEOPLE)

    @initialize(people=st.sampled_from([2, 1, 3, 0]),
                outcomes=st.lists(outcomes, min_size=3, max_size=3))
    def perhaps_some_people_approached(self, people: int,
                                       outcomes: list[ApproachOutcome]) -> None:
        """Most runs start with people recorded and approached once, each step checked as any
        other; the others with no family record yet."""
        for person_id, outcome in zip(PEOPLE[:people], outcomes, strict=False):
            recorded_at, today = self.received(1, 0)
            self.attempt(RecordFamilyMember(
                review_id=REVIEW_ID, recorded_at=recorded_at, person_id=person_id,
                recorded_on=today, name="Mary Example", relationship=FamilyRelationship.PARENT))
            self.attempt(RecordApproach(
                review_id=REVIEW_ID, recorded_at=recorded_at, person_id=person_id,
                approached_on=today, channel=ApproachChannel.LETTER, outcome=outcome))

    # ---------------------------------------------------------------------------------- people

    @rule(person=st.sampled_from(PEOPLE[:3]), advance=advances, offset=offsets, name=texts,
          relationship=st.sampled_from(FamilyRelationship), detail=optional_texts,
          contact=optional_texts)
    def record_family_member(self, person: UUID, advance: int, offset: int, name: str,
                             relationship: FamilyRelationship, detail: str | None,
                             contact: str | None) -> None:
        recorded_at, day = self.received(advance, offset)
        command = RecordFamilyMember(
            review_id=REVIEW_ID, recorded_at=recorded_at, person_id=person, recorded_on=day,
            name=name, relationship=relationship, relationship_detail=detail,
            contact_details=contact)
        if self.in_future(recorded_at, day) or (
                self.state.person(person) is None
                and (_blank(name) or (relationship is FamilyRelationship.OTHER
                                      and _blank(detail)))):
            self.refuse(command, InvalidFamilyCommand)
        elif self.state.person(person) is not None:
            self.refuse(command, PersonAlreadyRecorded)
        else:
            assert self.attempt(command) is not None

    @rule(which=WHICH, advance=advances, offset=offsets,
          channel=st.sampled_from(ApproachChannel), outcome=outcomes, note=optional_texts)
    def record_approach(self, which: int, advance: int, offset: int, channel: ApproachChannel,
                        outcome: ApproachOutcome, note: str | None) -> None:
        person = self._person(which)
        recorded_at, day = self.received(advance, offset)
        command = RecordApproach(review_id=REVIEW_ID, recorded_at=recorded_at, person_id=person,
                                 approached_on=day, channel=channel, outcome=outcome, note=note)
        previous = self.state.latest_approach(person)
        if self.state.person(person) is None:
            self.refuse(command, PersonNotRecorded)
        elif self.in_future(recorded_at, day) or (previous is not None
                                                  and day < previous.approached_on):
            self.refuse(command, InvalidFamilyCommand)
        else:
            # Never refused for what earlier approaches brought: views change.
            events = self.attempt(command)
            assert events is not None
            [approached] = events
            assert isinstance(approached, FamilyMemberApproached)
            assert approached.approach_number == len(self.state.approaches_of(person))
            assert approached.is_reapproach is (previous is not None)

    @rule(which=WHICH, advance=advances, offset=offsets, provider=texts)
    def offer_advocacy(self, which: int, advance: int, offset: int, provider: str) -> None:
        recorded_at, day = self.received(advance, offset)
        self.attempt(OfferAdvocacy(review_id=REVIEW_ID, recorded_at=recorded_at,
                                   person_id=self._person(which), offered_on=day,
                                   provider_name=provider))

    @rule(offer=st.integers(1, 3), accept=st.booleans(), advance=advances, offset=offsets)
    def answer_advocacy(self, offer: int, accept: bool, advance: int, offset: int) -> None:
        recorded_at, day = self.received(advance, offset)
        command: Command = (
            AcceptAdvocacy(review_id=REVIEW_ID, recorded_at=recorded_at, offer_number=offer,
                           accepted_on=day) if accept else
            DeclineAdvocacy(review_id=REVIEW_ID, recorded_at=recorded_at, offer_number=offer,
                            declined_on=day))
        made = next((o for o in self.state.advocacy_offers if o.offer_number == offer), None)
        if made is None:
            self.refuse(command, AdvocacyOfferNotFound)
        elif made.answered:
            self.refuse(command, AdvocacyOfferAlreadyAnswered)
        elif self.in_future(recorded_at, day) or day < made.offered_on:
            self.refuse(command, InvalidFamilyCommand)
        else:
            assert self.attempt(command) is not None

    @rule(which=WHICH, advance=advances, offset=offsets, consents=st.booleans(),
          channel=st.none() | st.sampled_from(ApproachChannel), pseudonym=optional_texts)
    def record_consent(self, which: int, advance: int, offset: int, consents: bool,
                       channel: ApproachChannel | None, pseudonym: str | None) -> None:
        recorded_at, day = self.received(advance, offset)
        self.attempt(RecordConsent(review_id=REVIEW_ID, recorded_at=recorded_at,
                                   person_id=self._person(which), recorded_on=day,
                                   consents_to_involvement=consents, preferred_channel=channel,
                                   victim_pseudonym=pseudonym))

    @rule(which=WHICH, advance=advances, offset=offsets, kind=st.sampled_from(ContributionKind),
          summary=texts)
    def record_contribution(self, which: int, advance: int, offset: int,
                            kind: ContributionKind, summary: str) -> None:
        person = self._person(which)
        recorded_at, day = self.received(advance, offset)
        command = RecordContribution(review_id=REVIEW_ID, recorded_at=recorded_at,
                                     person_id=person, contributed_on=day, kind=kind,
                                     summary=summary)
        latest = self.state.latest_approach(person)
        if self.state.person(person) is None:
            self.refuse(command, PersonNotRecorded)
        elif self.in_future(recorded_at, day):
            self.refuse(command, InvalidFamilyCommand)
        elif latest is None or latest.outcome is not ApproachOutcome.AGREED:
            self.refuse(command, PersonHasNotAgreed)
        elif day < latest.approached_on or _blank(summary):
            self.refuse(command, InvalidFamilyCommand)
        else:
            assert self.attempt(command) is not None

    @rule(advance=advances, offset=offsets, route=st.sampled_from(ChildVoiceRoute),
          details=texts, which=st.none() | WHICH, summary=optional_texts,
          reason=optional_texts)
    def record_child_voice(self, advance: int, offset: int, route: ChildVoiceRoute,
                           details: str, which: int | None, summary: str | None,
                           reason: str | None) -> None:
        recorded_at, day = self.received(advance, offset)
        person = None if which is None else self._person(which)
        command = RecordChildVoice(review_id=REVIEW_ID, recorded_at=recorded_at,
                                   recorded_on=day, route=route, child_details=details,
                                   person_id=person, summary=summary, reason_not_sought=reason)
        not_sought = route is ChildVoiceRoute.NOT_SOUGHT
        if not self.state.exists:
            self.refuse(command, FamilyRecordNotFound)
        elif person is not None and self.state.person(person) is None:
            self.refuse(command, PersonNotRecorded)
        elif (self.in_future(recorded_at, day) or _blank(details)
              or (not_sought and (_blank(reason) or not _blank(summary)))
              or (not not_sought and not _blank(reason))):
            self.refuse(command, InvalidFamilyCommand)
        else:
            assert self.attempt(command) is not None

    # ---------------------------------------------------------------- the family and the panel

    @rule(advance=advances, offset=offsets, what=st.sampled_from(INVOLVEMENTS),
          version=st.integers(1, 3), text=texts)
    def involve_the_family(self, advance: int, offset: int, what: str, version: int,
                           text: str) -> None:
        """A draft shared, the terms of reference consulted on, a panel meeting attended or
        support offered: one rule, so that the rules about people come up as often."""
        recorded_at, day = self.received(advance, offset)
        command: Command
        if what == "draft":
            command = ShareDraftReport(review_id=REVIEW_ID, recorded_at=recorded_at,
                                       shared_on=day, report_version=version)
        elif what == "terms":
            command = ConsultOnTermsOfReference(review_id=REVIEW_ID, recorded_at=recorded_at,
                                                consulted_on=day,
                                                terms_of_reference_version=version)
        elif what == "meeting":
            command = RecordPanelMeetingAttendance(review_id=REVIEW_ID, recorded_at=recorded_at,
                                                   attended_on=day, meeting_reference=text)
        else:
            command = OfferSupportAfterCompletion(review_id=REVIEW_ID, recorded_at=recorded_at,
                                                  offered_on=day, offered_by=text)
        if not self.state.exists:
            self.refuse(command, FamilyRecordNotFound)
        elif self.in_future(recorded_at, day) or (what in ("meeting", "support")
                                                  and _blank(text)):
            self.refuse(command, InvalidFamilyCommand)
        else:
            assert self.attempt(command) is not None

    # ------------------------------------------------------------------------------ invariants

    def check_step(self, command: Command, before: FamilyState, events: Sequence[EventPayload],
                   after: FamilyState) -> None:
        # Nothing is dated after the day the command was received (one day's slack).
        latest = command.recorded_at.date() + timedelta(days=1)
        for payload in events:
            for name, value in payload:
                if isinstance(value, date) and not isinstance(value, datetime):
                    assert value <= latest, f"{payload.event_type}.{name} is in the future"
            if isinstance(payload, FamilyContributionRecorded):
                agreed = before.latest_approach(payload.person_id)
                assert agreed is not None and agreed.outcome is ApproachOutcome.AGREED
                assert payload.contributed_on >= agreed.approached_on

    @invariant()
    def the_state_is_the_fold_of_its_events(self) -> None:
        self.check_folds()
        event(f"reached: {len(self.state.approaches)} approaches, "
              f"{len(self.state.contributions)} contributions")

    @invariant()
    def the_process_facts_say_what_the_events_say(self) -> None:
        def happened(*kinds: type[EventPayload]) -> bool:
            return any(isinstance(e, kinds) for e in self.history)

        assert process_facts(self.state) == {
            FAMILY_CONTRIBUTED: happened(FamilyContributionRecorded),
            CONSULTED_ON_TERMS_OF_REFERENCE: happened(FamilyConsultedOnTermsOfReference),
            SUPPORTED_BY_EXPERT_ADVOCATE: happened(AdvocacyAccepted),
            RECEIVED_DRAFT_REPORT: happened(DraftReportSharedWithFamily),
            ATTENDED_PANEL: happened(FamilyAttendedPanelMeeting),
        }

    @invariant()
    def people_and_their_approaches_are_consistent(self) -> None:
        state = self.state
        assert state.exists is bool(state.people)
        recorded = [p.person_id for p in state.people]
        assert len(set(recorded)) == len(recorded)
        for person_id in recorded:
            mine = state.approaches_of(person_id)
            assert [a.approach_number for a in mine] == list(range(1, len(mine) + 1))
            assert [a.is_reapproach for a in mine] == [n > 0 for n in range(len(mine))]
            assert [a.approached_on for a in mine] == sorted(a.approached_on for a in mine)
        assert all(a.person_id in recorded for a in state.approaches)
        assert all(c.person_id in recorded for c in state.consents)
        assert len({c.person_id for c in state.consents}) == len(state.consents)
        offers = state.advocacy_offers
        assert [o.offer_number for o in offers] == list(range(1, len(offers) + 1))
        for offer in offers:
            assert offer.person_id in recorded
            assert offer.accepted_on is None or offer.declined_on is None
            answer = offer.accepted_on or offer.declined_on
            assert answer is None or answer >= offer.offered_on
        contributions = state.contributions
        assert [c.contribution_number for c in contributions] == list(
            range(1, len(contributions) + 1))
        for voice in state.children_voice:
            not_sought = voice.route is ChildVoiceRoute.NOT_SOUGHT
            assert (voice.reason_not_sought is not None) is not_sought
            assert not (not_sought and voice.summary is not None)

    @invariant()
    def the_read_model_says_who_may_contribute_as_the_decider_does(self) -> None:
        view = family_view(REVIEW_ID, self.state, len(self.history))
        assert view["version"] == len(self.history)
        recorded_at = datetime.combine(self.clock, time(10), UTC)
        for person in view["people"]:
            contribution = RecordContribution(
                review_id=REVIEW_ID, recorded_at=recorded_at, person_id=UUID(person["person_id"]),
                contributed_on=self.clock + timedelta(days=1), kind=ContributionKind.WRITTEN,
                summary="A letter about her daughter.")
            try:
                decide(contribution, self.state)
            except PersonHasNotAgreed:
                accepted = False
            else:
                accepted = True
            assert person["may_contribute"] is accepted


TestFamilyDecider = FamilyMachine.TestCase
TestFamilyDecider.settings = decider_settings(max_examples=100)
