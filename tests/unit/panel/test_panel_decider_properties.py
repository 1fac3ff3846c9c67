"""Properties of the panel decider (membership, terms of reference, information requests,
meetings and the report): no sequence of commands, valid or not, breaks its rules, and the state
is always the fold of its events (as decided, and as read back through the event store, Kafka and
the `panels` read model)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from uuid import UUID

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from dhr_contracts.base import EventPayload
from dhr_contracts.panel import (
    InformationRequested,
    InformationRequestKind,
    InformationRequestOverdue,
    MeetingHeld,
    PanelDecisionRecorded,
    PanelOpened,
    PanelOpenedBecause,
    PanelRole,
    RecommendationLevel,
    ReviewReportAgreed,
    Sector,
)
from dhr_panel.domain import decide, evolve, initial_state
from dhr_panel.model import (
    LACKS_SPECIALIST_WARNING,
    AddMember,
    AgencyAlreadyOnPanel,
    AgencyNotOnPanel,
    AgreeReport,
    AssignAction,
    Command,
    DetectOverdueRequests,
    DomainError,
    DraftRecommendation,
    HoldMeeting,
    InformationRequestNotFound,
    InvalidCommand,
    IssueTermsOfReference,
    MeetingNotFound,
    MeetingNotQuorate,
    MeetingStatus,
    OpenPanel,
    PanelNotOpen,
    PanelState,
    RecordChair,
    RecordDecision,
    RecordMinutes,
    RemoveMember,
    ReportAlreadyAgreed,
    RequestInformation,
    RequestStatus,
    ReturnInformation,
    ScheduleMeeting,
    ShareReportDraft,
    SubmitInformation,
    has_specialist_domestic_abuse_service,
)
from dhr_panel.projections import panel_view, stream_id
from dhr_platform.commands import Decider
from support.deciders import WHICH, DeciderMachine, decider_settings

REVIEW_ID = UUID("7a1c2e3d-4b5f-4a6e-8c7d-9e0f1a2b3c4d")
# Three of each may be created; the fourth is never created, so it can always be unknown.
REQUEST_IDS = tuple(UUID(f"00000000-0000-4000-8000-0000000000a{n}") for n in range(4))
MEETING_IDS = tuple(UUID(f"00000000-0000-4000-8000-0000000000b{n}") for n in range(4))
DECISION_IDS = tuple(UUID(f"00000000-0000-4000-8000-0000000000c{n}") for n in range(2))
ACTION_IDS = tuple(UUID(f"00000000-0000-4000-8000-0000000000d{n}") for n in range(2))

# Agencies as they are written, with the sector they would join in; some spellings differ only in
# case and spaces (the same agency), and " " is blank.
AGENCIES = {"Northshire Police": Sector.POLICE, "northshire police ": Sector.POLICE,
            "Northshire ICB": Sector.HEALTH, "Safe Haven": Sector.SPECIALIST_DOMESTIC_ABUSE_SERVICE,
            "Northtown Housing": Sector.HOUSING, "Northtown Children's Services":
            Sector.LOCAL_AUTHORITY_SOCIAL_CARE, " ": Sector.OTHER}
agencies = st.sampled_from(sorted(AGENCIES))
# Over-long list items never reach the decider: the command's own type refuses them
# (test_panel_meetings.py).
GOOD_AGENCIES = ("Northshire Police", "Northshire ICB", "Safe Haven", "Northtown Housing",
                 "Northtown Children's Services")
# Attendance lists: a plausible one, or any (with repeats in other spellings, or blanks).
attendance = st.one_of(st.lists(st.sampled_from(GOOD_AGENCIES), unique=True, max_size=5),
                       st.lists(agencies, max_size=5)).map(tuple)
roles = st.sampled_from([PanelRole.PANEL_MEMBER, PanelRole.PANEL_MEMBER, PanelRole.AGENCY_LEAD,
                         PanelRole.OBSERVER, PanelRole.INDEPENDENT_CHAIR_SUPPORT])
offsets = st.integers(min_value=-3, max_value=21)
texts = st.sampled_from(["What did each agency know of the abuse?", "  Padded  ", " ",
                         "Risk was not shared.", "Jane's contact with agencies."])
text_lists = st.lists(texts, min_size=1, max_size=3).map(tuple)


class PanelMachine(DeciderMachine[Command, PanelState]):
    """One review's panel driven by any sequence of the panel commands."""

    decider = Decider(initial_state, decide, evolve)
    domain_error = DomainError
    source = "/dhr/panel"

    def stream(self) -> tuple[str, str]:
        return stream_id(REVIEW_ID), str(REVIEW_ID)

    @initialize(opened=st.sampled_from([True, True, True, False]),
                panel=st.permutations(GOOD_AGENCIES), size=st.sampled_from([3, 4, 5, 0, 1, 2]),
                member_roles=st.lists(roles, min_size=5, max_size=5),
                requests=st.sampled_from([1, 2, 0]), submitted=st.booleans(),
                meetings=st.sampled_from([1, 2, 0]), held=st.sampled_from([True, True, False]),
                drafts=st.sampled_from([0, 1, 2]))
    def perhaps_an_open_panel_at_work(self, opened: bool, panel: list[str], size: int,
                                      member_roles: list[PanelRole], requests: int,
                                      submitted: bool, meetings: int, held: bool,
                                      drafts: int) -> None:
        """Most runs start from an open panel with members, requests (the first perhaps
        submitted), meetings (the first perhaps held) and drafts, each step checked as any other;
        the others find it closed."""
        if not opened:
            return
        self.attempt(OpenPanel(review_id=REVIEW_ID, opened_on=self.day(0),
                               opened_because=PanelOpenedBecause.REVIEW_COMMISSIONED,
                               csp_area="Northtown", commissioned_on=self.clock))
        members = panel[:size]
        for agency, role in zip(members, member_roles, strict=False):
            self.attempt(AddMember(review_id=REVIEW_ID, joined_on=self.day(1), agency=agency,
                                   sector=AGENCIES[agency], role=role))
        for request_id in REQUEST_IDS[:requests]:
            self.attempt(RequestInformation(
                review_id=REVIEW_ID, request_id=request_id, kind=InformationRequestKind.IMR,
                agency="Northshire Police", requested_on=self.day(1),
                due_on=self.clock + timedelta(days=14)))
        if requests and submitted:
            self.attempt(SubmitInformation(review_id=REVIEW_ID, request_id=REQUEST_IDS[0],
                                           submitted_on=self.day(5)))
        for meeting_id in MEETING_IDS[:meetings]:
            self.attempt(ScheduleMeeting(review_id=REVIEW_ID, meeting_id=meeting_id,
                                         scheduled_for=self.day(7), agenda=("Scoping",)))
        if meetings and held:
            self.attempt(HoldMeeting(review_id=REVIEW_ID, meeting_id=MEETING_IDS[0],
                                     held_on=self.day(0), chair_present=True,
                                     attended=tuple(members), quorum_min_agencies=1))
        for _ in range(drafts):
            self.attempt(ShareReportDraft(review_id=REVIEW_ID, shared_on=self.day(3),
                                          summary="Contact with agencies over five years."))

    def _require_open(self, command: Command) -> bool:
        if not self.state.open:
            self.refuse(command, PanelNotOpen)
            return False
        return True

    # -------------------------------------------------------------------- opening and the Chair

    @rule(offset=offsets, because=st.sampled_from(PanelOpenedBecause),
          area=st.sampled_from([None, "Northtown", " "]))
    def open_panel(self, offset: int, because: PanelOpenedBecause, area: str | None) -> None:
        was_open = self.state.open
        events = self.attempt(OpenPanel(review_id=REVIEW_ID, opened_on=self.day(offset),
                                        opened_because=because, csp_area=area))
        assert events is not None and len(events) == (0 if was_open else 1)

    @rule(offset=offsets, name=st.sampled_from(["Alex Chair", " Alex Chair ", "Sam Chair", " "]),
          subject=st.sampled_from([None, "chair-alex"]))
    def record_chair(self, offset: int, name: str, subject: str | None) -> None:
        appointed_on = self.day(offset)
        command = RecordChair(review_id=REVIEW_ID, appointed_on=appointed_on, chair_name=name,
                              chair_subject=subject)
        if not name.strip():
            self.refuse(command, InvalidCommand)
            return
        chair, was_open = self.state.chair, self.state.open
        events = self.attempt(command)
        assert events is not None
        if chair is not None and (chair.name, chair.appointed_on, chair.subject) == (
                name.strip(), appointed_on, subject):
            assert events == []  # a redelivery
        else:
            assert len(events) == (1 if was_open else 2)
            assert self.state.chair is not None and self.state.chair.name == name.strip()

    # ------------------------------------------------------------------------------- membership

    @rule(offset=offsets, agency=agencies, role=roles)
    def add_member(self, offset: int, agency: str, role: PanelRole) -> None:
        command = AddMember(review_id=REVIEW_ID, joined_on=self.day(offset), agency=agency,
                            sector=AGENCIES[agency], role=role)
        if not self._require_open(command):
            return
        if not agency.strip():
            self.refuse(command, InvalidCommand)
        elif self.state.member(agency) is not None:
            self.refuse(command, AgencyAlreadyOnPanel)
        else:
            self.attempt(command)

    @rule(offset=offsets, agency=agencies, reason=st.sampled_from([None, "Restructured", " "]))
    def remove_member(self, offset: int, agency: str, reason: str | None) -> None:
        command = RemoveMember(review_id=REVIEW_ID, left_on=self.day(offset), agency=agency,
                               reason=reason)
        if not self._require_open(command):
            return
        if self.state.member(agency) is None:
            self.refuse(command, AgencyNotOnPanel)
        else:
            self.attempt(command)

    # ----------------------------------------------------------------------- terms of reference

    @rule(offset=offsets, period_start=st.integers(-2000, -100), period_length=st.integers(-5, 900),
          lines=text_lists, family_consulted=st.booleans())
    def issue_terms_of_reference(self, offset: int, period_start: int, period_length: int,
                                 lines: tuple[str, ...], family_consulted: bool) -> None:
        issued_on = self.day(offset)
        period_from = date.fromordinal(issued_on.toordinal() + period_start)
        period_to = date.fromordinal(period_from.toordinal() + period_length)
        self.attempt(IssueTermsOfReference(
            review_id=REVIEW_ID, issued_on=issued_on, period_from=period_from,
            period_to=period_to, lines_of_enquiry=lines, family_consulted=family_consulted))

    # --------------------------------------------------------------------- information requests

    @rule(request=st.sampled_from(REQUEST_IDS[:3]), kind=st.sampled_from(InformationRequestKind),
          agency=agencies, offset=offsets, due_in=st.integers(-3, 40),
          detail=st.sampled_from([None, "Chronology from 2019", " "]))
    def request_information(self, request: UUID, kind: InformationRequestKind, agency: str,
                            offset: int, due_in: int, detail: str | None) -> None:
        requested_on = self.day(offset)
        due_on = date.fromordinal(requested_on.toordinal() + due_in)
        command = RequestInformation(review_id=REVIEW_ID, request_id=request, kind=kind,
                                     agency=agency, requested_on=requested_on, due_on=due_on,
                                     detail=detail)
        if not self._require_open(command):
            return
        if not agency.strip() or self.state.request(request) is not None or due_in < 0:
            self.refuse(command, InvalidCommand)
            return
        events = self.attempt(command)
        assert events is not None
        member = self.state.member(agency)
        [requested] = events
        assert isinstance(requested, InformationRequested)
        assert requested.agency_is_panel_member is (member is not None)

    def _request(self, which: int) -> UUID:
        return self.pick([r.request_id for r in self.state.requests], which, REQUEST_IDS)

    @rule(which=WHICH, offset=offsets)
    def submit_information(self, which: int, offset: int) -> None:
        request = self._request(which)
        command = SubmitInformation(review_id=REVIEW_ID, request_id=request,
                                    submitted_on=self.day(offset))
        if self._require_open(command) and self.state.request(request) is None:
            self.refuse(command, InformationRequestNotFound)
        elif self.state.open:
            self.attempt(command)

    @rule(which=WHICH, offset=offsets, due_in=st.integers(-2, 30), reasons=text_lists)
    def return_information(self, which: int, offset: int, due_in: int,
                           reasons: tuple[str, ...]) -> None:
        returned_on = self.day(offset)
        self.attempt(ReturnInformation(
            review_id=REVIEW_ID, request_id=self._request(which), returned_on=returned_on, reasons=reasons,
            due_on=date.fromordinal(returned_on.toordinal() + due_in)))

    @rule(offset=offsets)
    def detect_overdue_requests(self, offset: int) -> None:
        as_of = self.day(offset)
        expected = {(r.request_id, r.due_on) for r in self.state.requests
                    if r.overdue_on(as_of) and r.due_on not in r.overdue_due_dates}
        events = self.attempt(DetectOverdueRequests(review_id=REVIEW_ID, as_of=as_of))
        assert events is not None
        found = {(e.request_id, e.due_on) for e in events
                 if isinstance(e, InformationRequestOverdue)}
        assert found == (expected if self.state.open else set())
        # Run again at once: nothing new.
        assert self.attempt(DetectOverdueRequests(review_id=REVIEW_ID, as_of=as_of)) == []

    # --------------------------------------------------------------------------------- meetings

    @rule(meeting=st.sampled_from(MEETING_IDS[:3]), offset=offsets, agenda=text_lists)
    def schedule_meeting(self, meeting: UUID, offset: int, agenda: tuple[str, ...]) -> None:
        self.attempt(ScheduleMeeting(review_id=REVIEW_ID, meeting_id=meeting,
                                     scheduled_for=self.day(offset), agenda=agenda))

    def _meeting(self, which: int) -> UUID:
        held_first = sorted(self.state.meetings, key=lambda m: m.status is not MeetingStatus.HELD)
        return self.pick([m.meeting_id for m in held_first], which, MEETING_IDS)

    @rule(which=WHICH, offset=offsets, attended=attendance,
          apologies=st.lists(agencies, max_size=2).map(tuple), chair_present=st.booleans(),
          quorum=st.integers(1, 4), requires_chair=st.booleans())
    def hold_meeting(self, which: int, offset: int, attended: tuple[str, ...],
                     apologies: tuple[str, ...], chair_present: bool, quorum: int,
                     requires_chair: bool) -> None:
        meeting = self._meeting(which)
        command = HoldMeeting(review_id=REVIEW_ID, meeting_id=meeting, held_on=self.day(offset),
                              attended=attended, apologies=apologies,
                              chair_present=chair_present, quorum_min_agencies=quorum,
                              quorum_requires_chair=requires_chair)
        if not self._require_open(command):
            return
        if self.state.meeting(meeting) is None:
            self.refuse(command, MeetingNotFound)
            return
        events = self.attempt(command)
        if events:
            [held] = events
            assert isinstance(held, MeetingHeld)
            counted = sum(1 for agency in attended
                          if (m := self.state.member(agency)) is not None and m.is_full_member)
            assert held.counted_agencies == counted
            assert held.quorate is (counted >= quorum and (chair_present or not requires_chair))

    @rule(which=WHICH, offset=offsets, text=texts)
    def record_minutes(self, which: int, offset: int, text: str) -> None:
        self.attempt(RecordMinutes(review_id=REVIEW_ID, meeting_id=self._meeting(which),
                                   recorded_on=self.day(offset), text=text))

    @rule(which=WHICH, decision=st.sampled_from(DECISION_IDS), text=texts)
    def record_decision(self, which: int, decision: UUID, text: str) -> None:
        meeting = self._meeting(which)
        command = RecordDecision(review_id=REVIEW_ID, meeting_id=meeting, decision_id=decision,
                                 text=text)
        found = self.state.meeting(meeting) if self.state.open else None
        if found is not None and found.status is MeetingStatus.HELD and not found.quorate:
            self.refuse(command, MeetingNotQuorate)
        else:
            self.attempt(command)

    @rule(which=WHICH, action=st.sampled_from(ACTION_IDS), text=texts, owner=agencies,
          due_in=st.integers(-3, 30))
    def assign_action(self, which: int, action: UUID, text: str, owner: str, due_in: int) -> None:
        meeting = self._meeting(which)
        found = self.state.meeting(meeting)
        anchor = found.held_on if found is not None and found.held_on is not None else self.clock
        self.attempt(AssignAction(review_id=REVIEW_ID, meeting_id=meeting, action_id=action,
                                  text=text, owner_agency=owner,
                                  due_on=date.fromordinal(anchor.toordinal() + due_in)))

    # ----------------------------------------------------------------------------------- report

    @rule(offset=offsets, summary=texts,
          recommendations=st.lists(st.tuples(texts, attendance.filter(bool),
                                             st.sampled_from(RecommendationLevel)), max_size=2))
    def share_report_draft(self, offset: int, summary: str,
                           recommendations: list[tuple[str, tuple[str, ...], RecommendationLevel]]
                           ) -> None:
        command = ShareReportDraft(
            review_id=REVIEW_ID, shared_on=self.day(offset), summary=summary,
            recommendations=tuple(DraftRecommendation(text=text, addressee_agencies=to,
                                                      level=level)
                                  for text, to, level in recommendations))
        if self.state.open and self.state.report_agreed is not None:
            self.refuse(command, ReportAlreadyAgreed)
        else:
            self.attempt(command)

    @rule(offset=offsets, version_step=st.integers(-1, 1))
    def agree_report(self, offset: int, version_step: int) -> None:
        latest = self.state.latest_draft
        version = max(1, (latest.version if latest else 1) + version_step)
        command = AgreeReport(review_id=REVIEW_ID, agreed_on=self.day(offset),
                              report_version=version)
        if self.state.open and self.state.report_agreed is not None:
            self.refuse(command, ReportAlreadyAgreed)
            return
        events = self.attempt(command)
        if events is not None:
            [agreed] = events
            assert isinstance(agreed, ReviewReportAgreed)
            assert latest is not None and agreed.report_version == latest.version
            assert agreed.recommendations == latest.recommendations

    # ------------------------------------------------------------------------------- invariants

    def check_step(self, command: Command, before: PanelState, events: Sequence[EventPayload],
                   after: PanelState) -> None:
        if before.open:  # opened once, for good
            assert after.open and after.opened_on == before.opened_on
        for meeting in before.meetings:
            if meeting.status is MeetingStatus.HELD:  # a held meeting stays as it was held
                now = after.meeting(meeting.meeting_id)
                assert now is not None and now.status is MeetingStatus.HELD
                assert (now.held_on, now.quorate) == (meeting.held_on, meeting.quorate)
        if before.report_agreed is not None:
            assert after.report_agreed == before.report_agreed
            assert after.report_drafts == before.report_drafts

    @invariant()
    def the_state_is_the_fold_of_its_events(self) -> None:
        self.check_folds()
        event(f"reached: {len(self.state.members)} members, "
              f"{'agreed' if self.state.report_agreed else 'not agreed'}")

    @invariant()
    def decisions_are_taken_once_and_only_where_they_count(self) -> None:
        counts = Counter(type(e) for e in self.history)
        assert counts[PanelOpened] <= 1
        assert counts[ReviewReportAgreed] <= 1
        held = Counter(e.meeting_id for e in self.history if isinstance(e, MeetingHeld))
        assert all(n == 1 for n in held.values())
        for decision in (e for e in self.history if isinstance(e, PanelDecisionRecorded)):
            meeting = self.state.meeting(decision.meeting_id)
            assert meeting is not None and meeting.quorate

    @invariant()
    def the_panel_is_consistent(self) -> None:
        state = self.state
        if not state.open:
            assert state == initial_state()
            return
        names = [m.agency.casefold() for m in state.members]
        assert len(set(names)) == len(names)
        assert all(m.agency == m.agency.strip() and m.agency for m in state.members)
        # The specialist domestic-abuse warning: raised while a constituted panel lacks one,
        # resolved when one joins; one active warning at most.
        has_specialist = has_specialist_domestic_abuse_service(state.members)
        full_members = sum(1 for m in state.members if m.is_full_member)
        if state.lacks_specialist_domestic_abuse_service:
            assert not has_specialist
        elif full_members:
            assert has_specialist
        active = [w for w in state.warnings if w.resolved_on is None]
        assert len(active) == (1 if state.lacks_specialist_domestic_abuse_service else 0)
        assert all(w.kind == LACKS_SPECIALIST_WARNING for w in state.warnings)
        versions = [t.version for t in state.terms_of_reference]
        assert versions == list(range(1, len(versions) + 1))
        assert all(t.period_from <= t.period_to and t.lines_of_enquiry
                   for t in state.terms_of_reference)
        issued = [t.issued_on for t in state.terms_of_reference]
        assert issued == sorted(issued)

    @invariant()
    def requests_count_their_submissions_and_returns(self) -> None:
        ids = [r.request_id for r in self.state.requests]
        assert len(set(ids)) == len(ids)
        for request in self.state.requests:
            submitted = request.status is RequestStatus.SUBMITTED
            assert request.submissions == len(request.returns) + (1 if submitted else 0)
            assert (request.status is RequestStatus.RETURNED) is (
                bool(request.returns) and not submitted)
            if submitted:
                assert request.submitted_on is not None
            elif not request.returns:
                assert request.submitted_on is None
            # Overdue once per due date, and only for a date the request was due on.
            assert len(set(request.overdue_due_dates)) == len(request.overdue_due_dates)
            due_dates = {e.due_on for e in self.history if isinstance(e, InformationRequested)
                         and e.request_id == request.request_id}
            due_dates |= {r.due_on for r in request.returns}
            assert set(request.overdue_due_dates) <= due_dates
            assert request.due_on >= request.requested_on

    @invariant()
    def meetings_and_the_report_follow_their_order(self) -> None:
        ids = [m.meeting_id for m in self.state.meetings]
        assert len(set(ids)) == len(ids)
        for meeting in self.state.meetings:
            if meeting.status is MeetingStatus.SCHEDULED:
                assert (meeting.minutes, meeting.decisions, meeting.actions) == (None, (), ())
            assert len({d.decision_id for d in meeting.decisions}) == len(meeting.decisions)
            assert len({a.action_id for a in meeting.actions}) == len(meeting.actions)
            if meeting.decisions:
                assert meeting.quorate
            assert meeting.held_on is None or all(a.due_on >= meeting.held_on
                                                  for a in meeting.actions)
        drafts = self.state.report_drafts
        assert [d.version for d in drafts] == list(range(1, len(drafts) + 1))
        assert [d.shared_on for d in drafts] == sorted(d.shared_on for d in drafts)
        agreed = self.state.report_agreed
        if agreed is not None:
            assert drafts and agreed.report_version == drafts[-1].version
            assert agreed.agreed_on >= drafts[-1].shared_on

    @invariant()
    def the_read_model_shows_the_balance(self) -> None:
        view = panel_view(self.state, len(self.history), self.clock)
        balance = view["balance"]
        assert view["version"] == len(self.history)
        assert sum(balance["full_members_by_sector"].values()) == balance["full_members"]
        assert balance["has_specialist_domestic_abuse_service"] is (
            has_specialist_domestic_abuse_service(self.state.members))
        assert len(view["active_warnings"]) <= 1


TestPanelDecider = PanelMachine.TestCase
TestPanelDecider.settings = decider_settings(max_examples=100)
