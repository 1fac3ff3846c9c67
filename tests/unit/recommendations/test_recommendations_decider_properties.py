"""Properties of the recommendation decider: no sequence of commands, valid or not, moves a status
off its transition table, records a deadline twice, escalates an overdue deadline other than once
to each body, or closes an addressee without the CSP's verification; the state is always the
fold of its events (as decided, and as read back through the event store, Kafka and the
`recommendations` read model), and the read model flags as overdue what the decider would
record as overdue."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from uuid import UUID

from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from dhr_contracts.base import EventPayload
from dhr_contracts.panel import RecommendationLevel
from dhr_contracts.recommendations import (
    ActionOverdue,
    CorrespondenceDirection,
    EscalationReason,
    EscalationTarget,
    ImplementationClaimed,
    ImplementationStatus,
    ImplementationVerified,
    RecommendationEscalated,
    RecommendationRecorded,
    RecommendationResponseOverdue,
    ResponseRecorded,
    ResponseStatus,
    ReverificationDue,
)
from dhr_platform.commands import Decider
from dhr_recommendations.domain import decide, evolve, initial_state
from dhr_recommendations.model import (
    AddresseeInput,
    AddresseeNotFound,
    CheckDeadlines,
    ClaimImplementation,
    Command,
    DomainError,
    IllegalTransition,
    InvalidCommand,
    LogCorrespondence,
    RecommendationNotFound,
    RecommendationState,
    RecordRecommendation,
    RecordResponse,
    VerifyImplementation,
)
from dhr_recommendations.projections import addressee_view, stream_id
from dhr_recommendations.status import (
    CLOSING_VERIFICATIONS,
    NTSB_STATUSES,
    REVERIFIED,
    claim_fits_response,
    implementation_move_is_legal,
    response_move_is_legal,
)
from support.deciders import UNKNOWN, WHICH, DeciderMachine, decider_settings

REVIEW_ID = UUID("7a1c2e3d-4b5f-4a6e-8c7d-9e0f1a2b3c4d")
RECOMMENDATION_ID = UUID("00000000-0000-4000-8000-0000000000c1")
ENTRY_IDS = tuple(UUID(f"00000000-0000-4000-8000-0000000000e{n}") for n in range(3))
ADDRESSEE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")

SMART_TEXT = ("Norfolk Constabulary to train all response officers in recognising coercive control "
              "by 31 March 2027, measured by an audit of 50 domestic abuse incident records.")
recommendation_texts = st.sampled_from([
    SMART_TEXT, "Improve information sharing.", " ",
    "The ICB to audit GP records of domestic abuse disclosures within six months."])
# Addressees as a report may name them: distinct agencies, the same one in other case (refused
# as a repeat), names whose ids are alike (an apostrophe and a number apart), and a blank.
addressee_names = st.sampled_from([
    "Norfolk Constabulary", "NHS Norfolk and Waveney ICB", "Home Office", "Children's Services",
    "Childrens Services", "Childrens Services 2", "norfolk constabulary", " "])
texts = st.sampled_from(["Training module delivered to two shifts.", "  Padded  ", " ",
                         "CSP board", "Audit of 50 records seen."])
optional_texts = st.none() | texts
offsets = st.integers(min_value=-3, max_value=21)
statuses = st.sampled_from(ImplementationStatus)


class RecommendationMachine(DeciderMachine[Command, RecommendationState]):
    """One recommendation driven by any sequence of the recommendation commands."""

    decider = Decider(initial_state, decide, evolve)
    domain_error = DomainError
    source = "/dhr/recommendations"
    start = date(2026, 3, 2)

    def stream(self) -> tuple[str, str]:
        return stream_id(RECOMMENDATION_ID), str(REVIEW_ID)

    def _addressee(self, which: int) -> str:
        ids = [a.addressee_id for a in self.state.addressees]
        return ids[which % len(ids)] if ids and which < UNKNOWN else "no-such-addressee"

    def _gate(self, command: Command, addressee_id: str, on: date) -> bool:
        """Refuse what any addressee command refuses first; True when it passed those checks."""
        if not self.state.recorded:
            self.refuse(command, RecommendationNotFound)
        elif addressee_id not in {a.addressee_id for a in self.state.addressees}:
            self.refuse(command, AddresseeNotFound)
        elif self.state.issued_on is not None and on < self.state.issued_on:
            self.refuse(command, InvalidCommand)
        else:
            return True
        return False

    @initialize(recorded=st.sampled_from([True, True, True, False]),
                names=st.lists(addressee_names, min_size=1, max_size=4),
                level=st.sampled_from(RecommendationLevel),
                due_days=st.sampled_from([56, 14, 3]))
    def perhaps_a_recorded_recommendation(self, recorded: bool, names: list[str],
                                          level: RecommendationLevel, due_days: int) -> None:
        """Most runs start by recording the recommendation (refused when its addressees are)."""
        if recorded:
            self.record_recommendation(text=SMART_TEXT, level=level, names=names, offset=0,
                                       target_in=None, tags=[], measure=None, due_days=due_days)

    # ---------------------------------------------------------------------------------- record

    @rule(text=recommendation_texts, level=st.sampled_from(RecommendationLevel),
          names=st.lists(addressee_names, min_size=1, max_size=4), offset=offsets,
          target_in=st.none() | st.integers(-5, 200),
          tags=st.lists(st.sampled_from(["coercive-control", "training", "risk assessment"]),
                        max_size=3),
          measure=st.sampled_from([None, "An audit of 50 records."]),
          due_days=st.sampled_from([56, 14, 3]))
    def record_recommendation(self, text: str, level: RecommendationLevel, names: list[str],
                              offset: int, target_in: int | None, tags: list[str],
                              measure: str | None, due_days: int) -> None:
        issued_on = self.day(offset)
        command = RecordRecommendation(
            recommendation_id=RECOMMENDATION_ID, review_id=REVIEW_ID, text=text, level=level,
            addressees=tuple(AddresseeInput(name=name) for name in names), issued_on=issued_on,
            target_date=None if target_in is None else issued_on + timedelta(days=target_in),
            tags=tuple(tags), measure_of_success=measure, default_response_due_days=due_days)
        if self.state.recorded:
            assert self.attempt(command) == []  # recorded once; a redelivery records nothing
            return
        cleaned = [name.strip() for name in names]
        if (not text.strip() or not all(cleaned)
                or len({n.casefold() for n in cleaned}) != len(cleaned)
                or (target_in is not None and target_in < 0)):
            self.refuse(command, InvalidCommand)
            return
        events = self.attempt(command)
        assert events is not None
        [recorded] = events
        assert isinstance(recorded, RecommendationRecorded)
        assert [a.name for a in recorded.addressees] == cleaned

    # ------------------------------------------------------------------------------ the axes

    @rule(which=WHICH, status=st.sampled_from(ResponseStatus), offset=offsets,
          reason=optional_texts, plan=optional_texts, target_in=st.none() | st.integers(-5, 120))
    def record_response(self, which: int, status: ResponseStatus, offset: int,
                        reason: str | None, plan: str | None, target_in: int | None) -> None:
        addressee_id, day = self._addressee(which), self.day(offset)
        command = RecordResponse(
            recommendation_id=RECOMMENDATION_ID, addressee_id=addressee_id, status=status,
            recorded_on=day, reason=reason, action_plan=plan,
            target_date=None if target_in is None else day + timedelta(days=target_in))
        if not self._gate(command, addressee_id, day):
            return
        current = self.state.addressee(addressee_id).response_status
        if not response_move_is_legal(current, status):
            self.refuse(command, IllegalTransition)
        elif (status is ResponseStatus.REJECTED and (reason is None or not reason.strip())) or (
                target_in is not None and target_in < 0):
            self.refuse(command, InvalidCommand)
        else:
            assert self.attempt(command) is not None

    @rule(which=WHICH, status=statuses, offset=offsets, summary=texts,
          evidence=st.sampled_from([None, "EV-12", " "]))
    def claim_implementation(self, which: int, status: ImplementationStatus, offset: int,
                             summary: str, evidence: str | None) -> None:
        addressee_id, day = self._addressee(which), self.day(offset)
        command = ClaimImplementation(
            recommendation_id=RECOMMENDATION_ID, addressee_id=addressee_id, status=status,
            claimed_on=day, summary=summary, evidence_reference=evidence)
        if not self._gate(command, addressee_id, day):
            return
        addressee = self.state.addressee(addressee_id)
        if not (implementation_move_is_legal(addressee.implementation_claimed, status)
                and claim_fits_response(addressee.response_status, status)):
            self.refuse(command, IllegalTransition)
        elif not summary.strip():
            self.refuse(command, InvalidCommand)
        else:
            assert self.attempt(command) is not None

    @rule(which=WHICH, status=statuses, offset=offsets, by=texts, note=texts,
          exceeds=st.booleans(), months=st.sampled_from([12, 1]))
    def verify_implementation(self, which: int, status: ImplementationStatus, offset: int,
                              by: str, note: str, exceeds: bool, months: int) -> None:
        addressee_id, day = self._addressee(which), self.day(offset)
        command = VerifyImplementation(
            recommendation_id=RECOMMENDATION_ID, addressee_id=addressee_id, status=status,
            verified_on=day, verified_by=by, note=note, exceeds_recommended_action=exceeds,
            reverification_months=months)
        if not self._gate(command, addressee_id, day):
            return
        last = self.state.addressee(addressee_id).verified_on
        if status is ImplementationStatus.NOT_STARTED:
            self.refuse(command, IllegalTransition)
        elif ((last is not None and day < last)
              or (exceeds and status is not ImplementationStatus.IMPLEMENTED)
              or not by.strip() or not note.strip()):
            self.refuse(command, InvalidCommand)
        else:
            assert self.attempt(command) is not None

    @rule(which=WHICH, entry=st.sampled_from(ENTRY_IDS), offset=offsets,
          direction=st.sampled_from(CorrespondenceDirection), correspondent=texts,
          summary=texts)
    def log_correspondence(self, which: int, entry: UUID, offset: int,
                           direction: CorrespondenceDirection, correspondent: str,
                           summary: str) -> None:
        addressee_id = self._addressee(which)
        command = LogCorrespondence(
            recommendation_id=RECOMMENDATION_ID, addressee_id=addressee_id, entry_id=entry,
            logged_on=self.day(offset), direction=direction, correspondent=correspondent,
            summary=summary)
        if not self.state.recorded:
            self.refuse(command, RecommendationNotFound)
            return
        if addressee_id not in {a.addressee_id for a in self.state.addressees}:
            self.refuse(command, AddresseeNotFound)
            return
        logged = any(e.entry_id == entry
                     for e in self.state.addressee(addressee_id).correspondence)
        if logged:
            assert self.attempt(command) == []  # the same entry is logged once
        elif not correspondent.strip() or not summary.strip():
            self.refuse(command, InvalidCommand)
        else:
            assert self.attempt(command) is not None

    # ------------------------------------------------------------------------------- deadlines

    @rule(ahead=st.integers(0, 400))
    def check_deadlines(self, ahead: int) -> None:
        command = CheckDeadlines(recommendation_id=RECOMMENDATION_ID,
                                 as_of=self.clock + timedelta(days=ahead))
        if not self.state.recorded:
            self.refuse(command, RecommendationNotFound)
            return
        assert self.attempt(command) is not None
        assert self.attempt(command) == []  # the same check again records nothing new

    # ------------------------------------------------------------------------------ invariants

    def check_step(self, command: Command, before: RecommendationState,
                   events: Sequence[EventPayload], after: RecommendationState) -> None:
        if before.recorded:  # what was recorded stays as recorded
            fixed = {"addressees"}
            assert after.model_dump(exclude=fixed) == before.model_dump(exclude=fixed)
            assert [a.addressee_id for a in after.addressees] == [
                a.addressee_id for a in before.addressees]
        for payload in events:
            if isinstance(payload, ResponseRecorded):
                was = before.addressee(payload.addressee_id).response_status
                assert payload.previous_status is was
                assert response_move_is_legal(was, payload.status)
            elif isinstance(payload, ImplementationClaimed):
                addressee = before.addressee(payload.addressee_id)
                assert payload.previous_status is addressee.implementation_claimed
                assert implementation_move_is_legal(addressee.implementation_claimed,
                                                    payload.status)
                assert claim_fits_response(addressee.response_status, payload.status)
            elif isinstance(payload, ImplementationVerified):
                addressee = before.addressee(payload.addressee_id)
                assert payload.status is not ImplementationStatus.NOT_STARTED
                assert addressee.verified_on is None or payload.verified_on >= addressee.verified_on
                assert payload.closes_addressee is (payload.status in CLOSING_VERIFICATIONS)
                assert (payload.reverify_on is not None) is (payload.status in REVERIFIED)
            elif isinstance(payload, RecommendationResponseOverdue | ActionOverdue):
                assert before.addressee(payload.addressee_id).open  # closed is never overdue
        self._escalated_once_to_each(before, list(events))

    def _escalated_once_to_each(self, state: RecommendationState,
                                events: list[EventPayload]) -> None:
        """Each overdue deadline is followed at once by its escalations: to the CSP, and for a
        national recommendation to oversight too; nothing else is escalated."""
        targets = [EscalationTarget.CSP]
        if state.level is RecommendationLevel.NATIONAL:
            targets.append(EscalationTarget.OVERSIGHT)
        index = 0
        while index < len(events):
            payload = events[index]
            index += 1
            if isinstance(payload, RecommendationResponseOverdue | ActionOverdue):
                reason, due = ((EscalationReason.RESPONSE_OVERDUE, payload.due_on)
                               if isinstance(payload, RecommendationResponseOverdue)
                               else (EscalationReason.ACTION_OVERDUE, payload.target_date))
                escalations = events[index:index + len(targets)]
                index += len(targets)
                assert [e.escalated_to for e in escalations
                        if isinstance(e, RecommendationEscalated)
                        and (e.addressee_id, e.reason, e.due_on) == (payload.addressee_id,
                                                                     reason, due)] == targets
            else:
                assert not isinstance(payload, RecommendationEscalated)

    @invariant()
    def the_state_is_the_fold_of_its_events(self) -> None:
        self.check_folds()
        closed = sum(not a.open for a in self.state.addressees)
        event(f"reached: {len(self.state.addressees)} addressees, {closed} closed")

    @invariant()
    def each_deadline_is_recorded_once(self) -> None:
        counts = Counter(type(e) for e in self.history)
        assert counts[RecommendationRecorded] <= 1
        for addressee in self.state.addressees:
            for dates in (addressee.response_overdue_dates, addressee.action_overdue_dates,
                          addressee.reverification_reminded_for):
                assert len(set(dates)) == len(dates)
            assert len(addressee.response_overdue_dates) <= 1  # one response due date
        reminders = Counter((e.addressee_id, e.verified_on) for e in self.history
                            if isinstance(e, ReverificationDue))
        assert all(n == 1 for n in reminders.values())

    @invariant()
    def addressees_are_open_until_the_csp_closes_them(self) -> None:
        state = self.state
        ids = [a.addressee_id for a in state.addressees]
        assert len(set(ids)) == len(ids), f"two addressees share an id: {ids}"
        assert all(ADDRESSEE_ID.fullmatch(i) and len(i) <= 80 for i in ids)
        assert state.open is any(a.open for a in state.addressees)
        for addressee in state.addressees:
            assert addressee.open is (addressee.implementation_verified not in CLOSING_VERIFICATIONS)
            assert addressee.ntsb_status in NTSB_STATUSES
            assert addressee.ntsb_status.startswith("Closed") is (not addressee.open)
            assert (addressee.reverify_on is not None) is (
                addressee.implementation_verified in REVERIFIED)
            changes = [e for e in self.history
                       if isinstance(e, ResponseRecorded | ImplementationClaimed
                                     | ImplementationVerified)
                       and e.addressee_id == addressee.addressee_id]
            assert len(addressee.history) == len(changes)
            assert state.issued_on is not None
            assert all(change.on >= state.issued_on for change in addressee.history)
            entries = [e.entry_id for e in addressee.correspondence]
            assert len(set(entries)) == len(entries)

    @invariant()
    def the_read_model_flags_what_the_decider_would_record(self) -> None:
        if not self.state.recorded:
            return
        today = self.clock + timedelta(days=60)
        would_record = decide(CheckDeadlines(recommendation_id=RECOMMENDATION_ID, as_of=today),
                              self.state)
        for addressee in self.state.addressees:
            view = addressee_view(addressee, today)
            response_due = any(isinstance(e, RecommendationResponseOverdue)
                               and e.addressee_id == addressee.addressee_id
                               for e in would_record)
            action_due = any(isinstance(e, ActionOverdue)
                             and e.addressee_id == addressee.addressee_id for e in would_record)
            assert response_due is (view["response_overdue"] and addressee.response_due_on
                                    not in addressee.response_overdue_dates)
            assert action_due is (view["action_overdue"] and addressee.target_date
                                  not in addressee.action_overdue_dates)
            assert view["open"] is addressee.open


TestRecommendationDecider = RecommendationMachine.TestCase
TestRecommendationDecider.settings = decider_settings(max_examples=100)


# Distinct names whose ids are alike: agencies written with or without punctuation, or numbered.
_alike_names = st.lists(
    st.builds("{}{}".format, st.sampled_from(["Police", "Children's Services", "ICB"]),
              st.sampled_from(["", ".", "!", " 2", " 3", "-2", " (2)"])),
    min_size=1, max_size=5, unique_by=lambda name: name.strip().casefold())


@given(names=_alike_names)
@decider_settings(max_examples=200)
def test_distinct_addressees_always_get_distinct_ids(names: list[str]) -> None:
    [recorded] = decide(RecordRecommendation(
        recommendation_id=RECOMMENDATION_ID, review_id=REVIEW_ID, text=SMART_TEXT,
        level=RecommendationLevel.LOCAL, addressees=tuple(AddresseeInput(name=n) for n in names),
        issued_on=date(2026, 3, 2)), initial_state())
    assert isinstance(recorded, RecommendationRecorded)
    ids = [a.addressee_id for a in recorded.addressees]
    assert len(set(ids)) == len(ids), f"{names} get the ids {ids}"
    assert all(ADDRESSEE_ID.fullmatch(i) and len(i) <= 80 for i in ids)
