"""Properties of the review case decider: no sequence of commands, valid or not, breaks its rules,
and the state is always the fold of its events (as decided, and as read back from the event
store, Kafka and the `reviews` read model)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from uuid import UUID

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from dhr_commissioning import historic
from dhr_commissioning.deadlines import add_months
from dhr_commissioning.domain import (
    COMPLETION_CLOCK_RUNNING,
    AppointChair,
    ChairNotIndependent,
    Command,
    DecideNotToCommission,
    DecideToCommission,
    DecisionAlreadyMade,
    DecisionNotMade,
    DomainError,
    HomeOfficeAlreadyNotified,
    InvalidCommand,
    LinkParallelReview,
    PauseReview,
    PublishReport,
    ReceiveNotification,
    RecordFamilyInformed,
    RecordHomeOfficeNotified,
    RecordQualityAssuranceOutcome,
    RecordReportAgreed,
    RecordReportDelivery,
    ResumeReview,
    ReviewAlreadyExists,
    ReviewIsPaused,
    ReviewNotCommissioned,
    ReviewNotFound,
    ReviewNotPaused,
    ReviewState,
    ReviewStatus,
    SignOffReport,
    SubmitToHomeOffice,
    age_band_for,
    decide,
    evolve,
    initial_state,
    overdue,
)
from dhr_commissioning.projections import review_view, stream_id
from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import (
    AgeBand,
    ChairAppointed,
    ChairIndependenceDeclaration,
    Circumstances,
    DecidedNotToCommission,
    DecisionOutcome,
    EligibilityAssessed,
    EligibilityOutcome,
    FamilyContactChannel,
    HomeOfficeNotified,
    NotificationReceived,
    ParallelReviewKind,
    PauseReason,
    PriorAgencyContact,
    QualityAssuranceOutcome,
    QualityAssuranceOutcomeRecorded,
    ReportPublished,
    ReportRecipient,
    ReviewCommissioned,
    SuspectRelationship,
)
from dhr_platform.commands import Decider
from support.deciders import DeciderMachine, decider_settings

REVIEW_ID = UUID("5f0c1a4e-2b7d-4c1e-9a53-0d2f6b8e7c11")
BRITISH_SUMMER_TIME = timezone(timedelta(hours=1))

# Days from the latest date used so far: mostly ahead, sometimes behind (see DeciderMachine.day).
offsets = st.integers(min_value=-3, max_value=21)
ahead = st.integers(min_value=0, max_value=14)
# Texts: mostly ordinary or padded, sometimes blank (refused once trimmed) or arbitrary (no NUL:
# PostgreSQL's jsonb refuses it, which is the platform's concern, not the decider's).
_characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
texts = st.one_of(
    st.sampled_from(["Statutory criteria met.", "  Padded on both sides  ", "Northtown",
                     "Unexplained death; agencies involved.", "CSP chair", " ", "\t\n"]),
    st.text(_characters, min_size=1, max_size=12))
optional_texts = st.none() | texts
# Over-long list items never reach the decider: the command's own type refuses them
# (test_commissioning_decision.py).
text_lists = st.lists(texts, max_size=3).map(tuple)
CHECKSUMS = ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
             "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
             "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752")
# Mostly independent Chairs: (line-manages, delivers services for) an involved agency.
DECLARED_LINKS = ((False, False), (False, False), (False, False), (True, False), (False, True),
                  (True, True))
REFERENCES = ("SAR-2025-01", "sar-2025-01 ", "INQ/77", "IOPC 2025/001")
# How far along its life a review is when the random commands start (see `start_at_a_stage`).
STAGES = ("nothing", "notified", "commissioned", "report agreed", "signed off", "submitted",
          "changes required", "approved", "published")

# Status moves one accepted command may make (the same status is always allowed).
ALLOWED_MOVES: dict[ReviewStatus | None, set[ReviewStatus]] = {
    None: {ReviewStatus.AWAITING_DECISION},
    ReviewStatus.AWAITING_DECISION: {ReviewStatus.COMMISSIONED, ReviewStatus.NOT_COMMISSIONED},
    ReviewStatus.NOT_COMMISSIONED: set(),
    ReviewStatus.COMMISSIONED: {ReviewStatus.PAUSED, ReviewStatus.REPORT_AGREED},
    ReviewStatus.PAUSED: set(COMPLETION_CLOCK_RUNNING),
    ReviewStatus.REPORT_AGREED: {ReviewStatus.PAUSED, ReviewStatus.SIGNED_OFF},
    ReviewStatus.SIGNED_OFF: {ReviewStatus.PAUSED, ReviewStatus.REPORT_AGREED,
                              ReviewStatus.SUBMITTED_TO_HOME_OFFICE},
    ReviewStatus.SUBMITTED_TO_HOME_OFFICE: {ReviewStatus.PAUSED, ReviewStatus.CHANGES_REQUIRED,
                                            ReviewStatus.APPROVED_FOR_PUBLICATION},
    ReviewStatus.CHANGES_REQUIRED: {ReviewStatus.PAUSED, ReviewStatus.REPORT_AGREED,
                                    ReviewStatus.SUBMITTED_TO_HOME_OFFICE},
    ReviewStatus.APPROVED_FOR_PUBLICATION: {ReviewStatus.PAUSED, ReviewStatus.PUBLISHED},
    ReviewStatus.PUBLISHED: set(),
}


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


class ReviewCaseMachine(DeciderMachine[Command, ReviewState]):
    """One review case driven by any sequence of the commissioning commands."""

    decider = Decider(initial_state, decide, evolve)
    domain_error = DomainError
    source = "/dhr/commissioning"

    def stream(self) -> tuple[str, str]:
        return stream_id(REVIEW_ID), str(REVIEW_ID)

    @initialize(stage=st.sampled_from(STAGES), steps=st.lists(ahead, min_size=8, max_size=8))
    def start_at_a_stage(self, stage: str, steps: list[int]) -> None:
        """Take the review along the usual way up to `stage` (each step checked as any other),
        so that the random commands that follow start from every part of its life."""
        path: list[Callable[[int], Command]] = [
            lambda n: ReceiveNotification(
                review_id=REVIEW_ID, received_at=datetime.combine(self.day(n), time(9), UTC),
                notifying_agency="Northshire Police", date_of_death=self.clock - timedelta(9),
                csp_learned_on=self.clock - timedelta(2), csp_area="Northtown", victim_age=34,
                suspect_relationship=SuspectRelationship.FORMER_INTIMATE_PARTNER,
                circumstances=Circumstances.HOMICIDE, prior_agency_contact=PriorAgencyContact.YES),
            lambda n: DecideToCommission(review_id=REVIEW_ID, decided_on=self.day(n),
                                         rationale="Statutory criteria met."),
            lambda n: RecordReportAgreed(review_id=REVIEW_ID, agreed_on=self.day(n),
                                         report_version=1, recommendation_count=3),
            lambda n: SignOffReport(review_id=REVIEW_ID, signed_off_on=self.day(n),
                                    signed_off_by="CSP chair"),
            lambda n: SubmitToHomeOffice(review_id=REVIEW_ID, submitted_on=self.day(n)),
            lambda n: RecordQualityAssuranceOutcome(
                review_id=REVIEW_ID, submission_number=1, decided_on=self.day(n),
                outcome=(QualityAssuranceOutcome.CHANGES_REQUIRED if stage == "changes required"
                         else QualityAssuranceOutcome.APPROVED_FOR_PUBLICATION),
                areas_for_development=("Action plan lacks dates",)),
            lambda n: PublishReport(review_id=REVIEW_ID, published_on=self.day(n),
                                    anonymised=True, location="https://northtown.example/dhr/1"),
        ]
        depth = {"nothing": 0, "notified": 1, "commissioned": 2, "report agreed": 3,
                 "signed off": 4, "submitted": 5, "changes required": 6, "approved": 6,
                 "published": 7}[stage]
        for command_for, n in zip(path[:depth], steps, strict=False):
            assert self.attempt(command_for(n)) is not None

    # ------------------------------------------------------------------------------ notification

    @rule(received=ahead, hour=st.integers(0, 23), summer=st.booleans(),
          learned_before=st.integers(-2, 10), died_before=st.integers(-2, 30),
          age=st.none() | st.integers(0, 120),
          band=st.one_of(st.none(), st.none(), st.sampled_from(AgeBand)),
          relationship=st.sampled_from(SuspectRelationship),
          circumstances=st.sampled_from(Circumstances),
          prior_contact=st.sampled_from(PriorAgencyContact),
          agency=texts, area=texts, due_months=st.integers(1, 12))
    def receive_notification(self, received: int, hour: int, summer: bool, learned_before: int,
                             died_before: int, age: int | None, band: AgeBand | None,
                             relationship: SuspectRelationship, circumstances: Circumstances,
                             prior_contact: PriorAgencyContact, agency: str, area: str,
                             due_months: int) -> None:
        received_on = self.day(received)
        received_at = datetime.combine(received_on, time(hour),
                                       BRITISH_SUMMER_TIME if summer else UTC)
        learned_on = received_on - timedelta(days=learned_before)
        died_on = learned_on - timedelta(days=died_before)
        command = ReceiveNotification(
            review_id=REVIEW_ID, received_at=received_at, notifying_agency=agency,
            date_of_death=died_on, csp_learned_on=learned_on, csp_area=area, victim_age=age,
            victim_age_band=band, suspect_relationship=relationship,
            circumstances=circumstances, prior_agency_contact=prior_contact,
            decision_due_months=due_months)
        if self.state.exists:
            self.refuse(command, ReviewAlreadyExists)
            return
        valid = (died_on <= received_on and died_on <= learned_on <= received_on
                 and not (age is None and band is None)
                 and (age is None or band in (None, AgeBand.UNKNOWN) or age_band_for(age) is band)
                 and not _blank(agency) and not _blank(area))
        if not valid:
            self.refuse(command, InvalidCommand)
            return
        events = self.attempt(command)
        assert events is not None
        received_event, assessed = events
        assert isinstance(received_event, NotificationReceived)
        assert isinstance(assessed, EligibilityAssessed)
        assert received_event.decision_due_on == add_months(learned_on, due_months)
        known_band = age_band_for(age) if age is not None else band
        if known_band is AgeBand.UNDER_16:
            assert assessed.outcome is EligibilityOutcome.NOT_ELIGIBLE
        elif assessed.grey_area_flags:
            assert assessed.outcome is EligibilityOutcome.NEEDS_HUMAN_DECISION
        else:
            assert assessed.outcome is EligibilityOutcome.ELIGIBLE
            assert known_band not in (None, AgeBand.UNKNOWN)
            assert prior_contact is PriorAgencyContact.YES
            assert circumstances is Circumstances.HOMICIDE

    # ---------------------------------------------------------------------------------- decision

    def _decision_refusal(self, decided_on: date, rationale: str) -> type[DomainError] | None:
        if not self.state.exists:
            return ReviewNotFound
        if self.state.decision is not None:
            return DecisionAlreadyMade
        assert self.state.csp_learned_on is not None
        if decided_on < self.state.csp_learned_on or _blank(rationale):
            return InvalidCommand
        return None

    @rule(offset=offsets, rationale=texts, months=st.integers(1, 24))
    def decide_to_commission(self, offset: int, rationale: str, months: int) -> None:
        decided_on = self.day(offset)
        command = DecideToCommission(review_id=REVIEW_ID, decided_on=decided_on,
                                     rationale=rationale, completion_due_months=months)
        refusal = self._decision_refusal(decided_on, rationale)
        if refusal is not None:
            self.refuse(command, refusal)
            return
        events = self.attempt(command)
        assert events is not None
        [commissioned] = events
        assert isinstance(commissioned, ReviewCommissioned)
        assert commissioned.completion_due_on == add_months(decided_on, months)
        assert commissioned.overrides_eligibility_assessment is (
            self.state.eligibility_outcome is EligibilityOutcome.NOT_ELIGIBLE)

    @rule(offset=offsets, rationale=texts, reasons=text_lists)
    def decide_not_to_commission(self, offset: int, rationale: str,
                                 reasons: tuple[str, ...]) -> None:
        decided_on = self.day(offset)
        command = DecideNotToCommission(review_id=REVIEW_ID, decided_on=decided_on,
                                        rationale=rationale, reasons=reasons)
        refusal = self._decision_refusal(decided_on, rationale)
        if refusal is None and (not reasons or any(_blank(r) or len(r.strip()) > 10_000
                                                   for r in reasons)):
            refusal = InvalidCommand
        if refusal is not None:
            self.refuse(command, refusal)
            return
        events = self.attempt(command)
        assert events is not None
        [declined] = events
        assert isinstance(declined, DecidedNotToCommission)
        assert declined.overrides_eligibility_assessment is (
            self.state.eligibility_outcome is EligibilityOutcome.ELIGIBLE)

    @rule(offset=offsets)
    def record_home_office_notified(self, offset: int) -> None:
        command = RecordHomeOfficeNotified(review_id=REVIEW_ID, notified_on=self.day(offset))
        if not self.state.exists:
            self.refuse(command, ReviewNotFound)
        elif self.state.decision is None:
            self.refuse(command, DecisionNotMade)
        elif self.state.home_office_notified_on is not None:
            self.refuse(command, HomeOfficeAlreadyNotified)
        else:
            self.attempt(command)

    @rule(offset=offsets, channel=st.sampled_from(FamilyContactChannel))
    def record_family_informed(self, offset: int, channel: FamilyContactChannel) -> None:
        informed_on = self.day(offset)
        command = RecordFamilyInformed(review_id=REVIEW_ID, informed_on=informed_on,
                                       channel=channel)
        if not self.state.exists:
            self.refuse(command, ReviewNotFound)
        elif self.state.decision is None:
            self.refuse(command, DecisionNotMade)
        else:
            assert self.state.decided_on is not None
            outcome = self.attempt(command)
            assert (outcome is not None) is (informed_on >= self.state.decided_on)

    # ----------------------------------------------------------------------- Chair, pause, links

    def _commissioned_refusal(self) -> type[DomainError] | None:
        if not self.state.exists:
            return ReviewNotFound
        if self.state.decision is not DecisionOutcome.COMMISSIONED:
            return ReviewNotCommissioned
        return None

    @rule(offset=offsets, name=texts, links=st.sampled_from(DECLARED_LINKS),
          replacement_reason=optional_texts, subject=st.none() | st.sampled_from(["chair-alex"]))
    def appoint_chair(self, offset: int, name: str, links: tuple[bool, bool],
                      replacement_reason: str | None, subject: str | None) -> None:
        appointed_on = self.day(offset)
        line_managed, delivered = links
        declaration = ChairIndependenceDeclaration(
            line_management_of_involved_agency=line_managed,
            service_delivery_for_involved_agency=delivered)
        command = AppointChair(review_id=REVIEW_ID, appointed_on=appointed_on, chair_name=name,
                               declaration=declaration, replacement_reason=replacement_reason,
                               chair_subject=subject)
        refusal = self._commissioned_refusal()
        if refusal is not None:
            self.refuse(command, refusal)
            return
        assert self.state.decided_on is not None
        if appointed_on >= self.state.decided_on and (line_managed or delivered):
            self.refuse(command, ChairNotIndependent)
            return
        self.attempt(command)

    @rule(offset=offsets, reason=st.sampled_from(PauseReason), detail=optional_texts)
    def pause_review(self, offset: int, reason: PauseReason, detail: str | None) -> None:
        command = PauseReview(review_id=REVIEW_ID, paused_on=self.day(offset), reason=reason,
                              detail=detail)
        refusal = self._commissioned_refusal()
        if refusal is not None:
            self.refuse(command, refusal)
            return
        outcome = self.attempt(command)
        if self.state.status is ReviewStatus.PUBLISHED:
            assert outcome is None

    @rule(offset=offsets)
    def resume_review(self, offset: int) -> None:
        resumed_on = self.day(offset)
        command = ResumeReview(review_id=REVIEW_ID, resumed_on=resumed_on)
        refusal = self._commissioned_refusal()
        if refusal is None and self.state.status is not ReviewStatus.PAUSED:
            refusal = ReviewNotPaused
        if refusal is not None:
            self.refuse(command, refusal)
            return
        assert self.state.paused_since is not None
        paused_since, total_before = self.state.paused_since, self.state.total_paused_days
        outcome = self.attempt(command)
        assert (outcome is not None) is (resumed_on >= paused_since)
        if outcome is not None:
            assert self.state.total_paused_days == total_before + (resumed_on - paused_since).days

    @rule(offset=offsets, kind=st.sampled_from(ParallelReviewKind),
          reference=st.sampled_from(REFERENCES) | texts)
    def link_parallel_review(self, offset: int, kind: ParallelReviewKind, reference: str) -> None:
        command = LinkParallelReview(review_id=REVIEW_ID, linked_on=self.day(offset), kind=kind,
                                     reference=reference)
        if not self.state.exists:
            self.refuse(command, ReviewNotFound)
            return
        already = any(p.kind is kind and p.reference.casefold() == reference.strip().casefold()
                      for p in self.state.parallel_reviews)
        events = self.attempt(command)
        if already:
            assert events == []

    # ------------------------------------------------------------- agreed report to publication

    @rule(offset=offsets, version_step=st.integers(-1, 2), recommendations=st.integers(0, 9))
    def record_report_agreed(self, offset: int, version_step: int, recommendations: int) -> None:
        report = self.state.report
        version = max(1, (report.report_version if report else 0) + version_step)
        command = RecordReportAgreed(review_id=REVIEW_ID, agreed_on=self.day(offset),
                                     report_version=version,
                                     recommendation_count=recommendations)
        refusal = self._commissioned_refusal()
        if refusal is not None:
            self.refuse(command, refusal)
            return
        events = self.attempt(command)
        if report is not None and version <= report.report_version:
            assert events == []  # a redelivery or a replay of an older version

    @rule(offset=offsets, by=texts)
    def sign_off_report(self, offset: int, by: str) -> None:
        command = SignOffReport(review_id=REVIEW_ID, signed_off_on=self.day(offset),
                                signed_off_by=by)
        if (self._commissioned_refusal() is None and self.state.status is ReviewStatus.PAUSED
                and self.state.report is not None):
            self.refuse(command, ReviewIsPaused)
            return
        self.attempt(command)

    @rule(offset=offsets)
    def submit_to_home_office(self, offset: int) -> None:
        self.attempt(SubmitToHomeOffice(review_id=REVIEW_ID, submitted_on=self.day(offset)))

    @rule(which=st.integers(-1, 1), offset=offsets,
          outcome=st.sampled_from(QualityAssuranceOutcome),
          areas=text_lists)
    def record_quality_assurance_outcome(self, which: int, offset: int,
                                         outcome: QualityAssuranceOutcome,
                                         areas: tuple[str, ...]) -> None:
        number = max(1, len(self.state.home_office_submissions) + which)
        self.attempt(RecordQualityAssuranceOutcome(
            review_id=REVIEW_ID, submission_number=number, decided_on=self.day(offset),
            outcome=outcome, areas_for_development=areas))

    @rule(offset=offsets, anonymised=st.booleans(),
          location=st.sampled_from(["https://northtown.example/dhr/2025-01"]) | texts)
    def publish_report(self, offset: int, anonymised: bool, location: str) -> None:
        events = self.attempt(PublishReport(review_id=REVIEW_ID, published_on=self.day(offset),
                                            anonymised=anonymised, location=location))
        if not anonymised:
            assert events is None

    @rule(recipient=st.sampled_from(ReportRecipient), offset=offsets,
          version_step=st.integers(-1, 1), checksum=st.sampled_from(CHECKSUMS))
    def record_report_delivery(self, recipient: ReportRecipient, offset: int,
                               version_step: int, checksum: str) -> None:
        published = self.state.publication
        version = max(1, (published.report_version if published else 1) + version_step)
        self.attempt(RecordReportDelivery(review_id=REVIEW_ID, recipient=recipient,
                                          delivered_on=self.day(offset), document_version=version,
                                          sha256=checksum))

    # -------------------------------------------------------------------------------- invariants

    def check_step(self, command: Command, before: ReviewState, events: Sequence[EventPayload],
                   after: ReviewState) -> None:
        if after.status is not before.status:
            assert after.status in ALLOWED_MOVES[before.status], (
                f"{type(command).__name__} moved the review from {before.status} "
                f"to {after.status}")
        if before.decision is not None:  # a decision is never taken back or taken again
            assert (after.decision, after.decided_on) == (before.decision, before.decided_on)
        if before.report is not None:
            assert after.report is not None
            assert after.report.report_version >= before.report.report_version
        if before.publication is not None:
            assert after.publication == before.publication
        assert len(after.home_office_submissions) >= len(before.home_office_submissions)
        for payload in events:
            if isinstance(payload, ChairAppointed):
                assert not payload.declaration.line_management_of_involved_agency
                assert not payload.declaration.service_delivery_for_involved_agency

    @invariant()
    def the_state_is_the_fold_of_its_events(self) -> None:
        self.check_folds()
        event(f"reached: {self.state.status}")

    @invariant()
    def each_decision_is_taken_once(self) -> None:
        counts = Counter(type(event) for event in self.history)
        assert counts[NotificationReceived] <= 1
        assert counts[ReviewCommissioned] + counts[DecidedNotToCommission] <= 1
        assert counts[HomeOfficeNotified] <= 1
        assert counts[ReportPublished] <= 1
        decided = Counter(e.submission_number for e in self.history
                          if isinstance(e, QualityAssuranceOutcomeRecorded))
        assert all(count == 1 for count in decided.values())

    @invariant()
    def the_deadlines_follow_from_the_dates(self) -> None:
        state = self.state
        assert state.total_paused_days >= 0
        if state.exists:
            assert state.csp_learned_on is not None and state.date_of_death is not None
            assert state.received_at is not None and state.decision_due_on is not None
            assert state.date_of_death <= state.csp_learned_on <= state.received_at.date()
            assert state.decision_due_on > state.csp_learned_on
        if state.decision is DecisionOutcome.COMMISSIONED:
            assert state.decided_on is not None and state.completion_due_months is not None
            assert state.completion_due_on == (add_months(state.decided_on,
                                                          state.completion_due_months)
                                               + timedelta(days=state.total_paused_days))
        else:
            assert state.completion_due_on is None and state.total_paused_days == 0
        assert (state.status is ReviewStatus.PAUSED) is (state.paused_since is not None)
        if state.paused_since is not None:
            assert state.decided_on is not None and state.paused_since >= state.decided_on
            assert state.publication is None

    @invariant()
    def every_step_happens_after_the_one_it_needs(self) -> None:
        state = self.state
        if state.decided_on is not None:
            assert state.csp_learned_on is not None and state.decided_on >= state.csp_learned_on
            dated_after_decision = [state.home_office_notified_on,
                                    *(f.informed_on for f in state.family_informed),
                                    None if state.chair is None else state.chair.appointed_on,
                                    None if state.report is None else state.report.agreed_on]
            assert all(day is None or day >= state.decided_on for day in dated_after_decision)
        else:
            assert state.family_informed == () and state.home_office_notified_on is None
        if state.decision is not DecisionOutcome.COMMISSIONED:
            assert state.chair is None and state.report is None
        submissions = state.home_office_submissions
        assert [s.submission_number for s in submissions] == list(range(1, len(submissions) + 1))
        for earlier in submissions[:-1]:
            assert earlier.outcome is QualityAssuranceOutcome.CHANGES_REQUIRED
        for index, submission in enumerate(submissions):
            assert submission.resubmission is (index > 0)
            assert submission.decided_on is None or submission.decided_on >= submission.submitted_on
            if index > 0:
                previous_decision = submissions[index - 1].decided_on
                assert previous_decision is not None
                assert submission.submitted_on >= previous_decision
        if submissions:
            assert state.sign_off is not None and state.report is not None
        if state.publication is not None:
            approved = submissions[-1]
            assert approved.outcome is QualityAssuranceOutcome.APPROVED_FOR_PUBLICATION
            assert approved.decided_on is not None
            assert state.publication.published_on >= approved.decided_on
            assert state.publication.report_version == approved.report_version
        else:
            assert state.deliveries == ()
        for delivery in state.deliveries:
            assert state.publication is not None
            assert delivery.document_version == state.publication.report_version
            assert delivery.delivered_on >= state.publication.published_on
            assert delivery.sha256 == delivery.sha256.lower()
        assert len(set(state.deliveries)) == len(state.deliveries)
        links = [(p.kind, p.reference.casefold()) for p in state.parallel_reviews]
        assert len(set(links)) == len(links)

    @invariant()
    def the_read_model_shows_the_state_and_its_deadlines(self) -> None:
        today = self.clock
        view = review_view(self.state, len(self.history), today)
        assert view["version"] == len(self.history)
        assert view["deadlines"]["overdue"] == overdue(self.state, today)
        if "completion" in view["deadlines"]["overdue"]:
            assert self.state.status in COMPLETION_CLOCK_RUNNING


TestReviewCaseDecider = ReviewCaseMachine.TestCase
TestReviewCaseDecider.settings = decider_settings(max_examples=150)


# -------------------------------------------------------------------------- historic reviews

HISTORIC_REFERENCE = "DHRD-0042"
HISTORIC_ID = historic.historic_review_id("dhrd", HISTORIC_REFERENCE)


class HistoricReviewMachine(DeciderMachine[historic.RecordHistoricReview,
                                           historic.HistoricReviewState]):
    """A historic review is recorded once: the same content again adds nothing, other content
    is a conflict, whatever the order of imports."""

    decider = Decider(historic.initial_state, historic.decide, historic.evolve)
    domain_error = DomainError
    source = "/dhr/commissioning"

    def stream(self) -> tuple[str, str]:
        return historic.stream_id(HISTORIC_ID), str(HISTORIC_ID)

    @rule(csp=st.sampled_from([None, "Northtown"]), year=st.sampled_from([None, 2019]),
          month=st.sampled_from([None, 3]), imported_day=st.integers(0, 3),
          right_id=st.booleans())
    def record(self, csp: str | None, year: int | None, month: int | None, imported_day: int,
               right_id: bool) -> None:
        command = historic.RecordHistoricReview(
            review_id=HISTORIC_ID if right_id else REVIEW_ID, source="dhrd",
            source_reference=HISTORIC_REFERENCE, csp=csp, death_year=year, death_month=month,
            imported_at=datetime.combine(self.day(imported_day), time(9),
                                         UTC))
        if not right_id or (month is not None and year is None):
            self.refuse(command, historic.InvalidHistoricReview)
            return
        first = self.state.recorded
        if first is None:
            assert self.attempt(command) is not None
        elif (first.csp, first.death_year, first.death_month) == (csp, year, month):
            assert self.attempt(command) == []
        else:
            self.refuse(command, historic.HistoricReviewConflict)

    @invariant()
    def it_is_recorded_at_most_once(self) -> None:
        self.check_folds()
        assert len(self.history) <= 1


TestHistoricReviewDecider = HistoricReviewMachine.TestCase
TestHistoricReviewDecider.settings = decider_settings(max_examples=50, stateful_step_count=10)
