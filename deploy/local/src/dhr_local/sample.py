"""The sample review that `make run` takes through its whole life across the services.

A walk of HTTP steps: notification, decision and Chair (commissioning); panel, terms of reference,
an IMR, meetings and the family (panel); a learning event (learning); the report agreed (panel);
each recommendation's response and action (recommendations); sign-off, Home Office quality
assurance and publication (commissioning). Steps that wait on another service (the panel opens
when the Chair's appointment reaches it over Kafka, the recommendations appear when the agreed
report does) poll until the other service shows it.

Every step sends a fixed Idempotency-Key, so running `make run` again replays the same answers
instead of recording anything twice: the walk finds the same review and ends in the same state.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

POLICE = "Norfolk Constabulary"
HEALTH = "Norfolk and Waveney ICB"
WOMENS_AID = "Leeway Domestic Abuse Services"

Context = dict[str, str]
Identity = tuple[str, str]  # (role, organisation) of a bearer token
Headers = Callable[[Identity], Mapping[str, str]]  # who acts -> the headers of their requests

# Most steps are the area's review manager's; agencies act for themselves.
MANAGER: Identity = ("review_manager", "Norfolk")
SAMPLE_CHAIR = "dev-chair"  # the Chair's user id (`dhr token --role chair` defaults to it)


@dataclass(frozen=True)
class Step:
    """POST `body` to `path` of `service` (both formatted with the context), then keep the
    answer's `save` fields in the context under the given names."""

    service: str
    path: str
    body: dict[str, Any]
    title: str
    save: dict[str, str] = field(default_factory=dict)
    actor: Identity = MANAGER


@dataclass(frozen=True)
class Wait:
    """GET `path` of `service` until `ready(answer)` holds, then keep what `save` picks."""

    service: str
    path: str
    ready: Callable[[Any], bool]
    title: str
    save: Callable[[Any], dict[str, str]] = lambda _: {}
    actor: Identity = MANAGER


AFTER_REPORT_AGREED = {"report_agreed", "signed_off", "submitted_to_home_office",
                       "changes_required", "approved_for_publication", "published"}


def _first_recommendation(answer: Any) -> dict[str, str]:
    item = answer["items"][0]
    return {"recommendation_id": item["recommendation_id"],
            "addressee_id": item["addressees"][0]["addressee_id"]}


WALK: tuple[Step | Wait, ...] = (
    Step("commissioning", "/reviews", {
        "notifying_agency": POLICE, "date_of_death": "2026-02-10", "csp_learned_on": "2026-02-12",
        "csp_area": "Norfolk", "victim_age": 34, "suspect_relationship": "former_intimate_partner",
        "circumstances": "homicide", "prior_agency_contact": "yes",
        "victim_name": "Sample Victim Name", "suspect_name": "Sample Suspect Name"},
        "a death notified by the police", save={"review_id": "review_id"}),
    Step("commissioning", "/reviews/{review_id}/decision-to-commission",
         {"decided_on": "2026-02-20", "rationale": "Statutory criteria met: intimate partner "
          "homicide of a person over 16 with prior agency contact."}, "decision to commission"),
    Step("commissioning", "/reviews/{review_id}/home-office-notification",
         {"notified_on": "2026-02-21"}, "Home Office notified"),
    Step("commissioning", "/reviews/{review_id}/chair", {
        "appointed_on": "2026-02-25", "chair_name": "Independent Chair (sample)",
        "chair_subject": SAMPLE_CHAIR, "declaration": {"line_management_of_involved_agency": False,
                        "service_delivery_for_involved_agency": False}}, "independent Chair"),
    Wait("panel", "/panels/{review_id}", lambda panel: panel.get("chair") is not None,
         "the panel opened from Kafka"),
    *(Step("panel", "/panels/{review_id}/members",
           {"joined_on": "2026-03-01", "agency": agency, "sector": sector, "role": "panel_member"},
           f"panel member: {agency}") for agency, sector in (
               (POLICE, "police"), (HEALTH, "health"),
               (WOMENS_AID, "specialist_domestic_abuse_service"))),
    Step("panel", "/panels/{review_id}/terms-of-reference", {
        "issued_on": "2026-03-05", "period_from": "2021-01-01", "period_to": "2026-02-10",
        "lines_of_enquiry": ["What did agencies know of the abuse?"], "family_consulted": True},
        "terms of reference"),
    Step("panel", "/panels/{review_id}/requests", {
        "kind": "imr", "agency": POLICE, "requested_on": "2026-03-05", "due_on": "2026-04-05"},
        "IMR requested from the police", save={"imr": "request_id"}),
    Step("panel", "/panels/{review_id}/meetings", {
        "scheduled_for": "2026-03-10", "agenda": ["Terms of reference"]},
        "first panel meeting scheduled", save={"first_meeting": "meeting_id"}),
    Step("panel", "/panels/{review_id}/meetings/{first_meeting}/held", {
        "held_on": "2026-03-10", "attended": [POLICE, HEALTH, WOMENS_AID], "chair_present": True},
        "first panel meeting held"),
    Step("panel", "/panels/{review_id}/family/people", {
        "recorded_on": "2026-03-12", "name": "Family member (sample)", "relationship": "parent"},
        "a family member recorded", save={"person": "person_id"}),
    Step("panel", "/panels/{review_id}/family/people/{person}/approaches", {
        "approached_on": "2026-03-12", "channel": "via_advocate", "outcome": "agreed"},
        "the family approached through an advocate"),
    Step("panel", "/panels/{review_id}/requests/{imr}/submission",
         {"submitted_on": "2026-04-01"}, "IMR submitted"),
    Step("panel", "/panels/{review_id}/family/people/{person}/contributions", {
        "contributed_on": "2026-04-10", "kind": "interview",
        "summary": "Described how isolated the victim had become."}, "the family's contribution"),
    Wait("learning", "/reviews/{review_id}/learning", lambda _: True,
         "the learning record opened from Kafka"),
    Step("learning", "/reviews/{review_id}/learning-events", {
        "planned_on": "2026-05-20", "facilitator_name": "Facilitator (sample)",
        "format": "in_person", "invited_agencies": [POLICE, HEALTH]},
        "learning event planned", save={"event": "id"}),
    *(Step("learning", "/reviews/{review_id}/learning-events/{event}/ground-rules-acknowledgements",
           {"agency": agency}, f"ground rules acknowledged: {agency}",
           actor=("agency_lead", agency)) for agency in (POLICE, HEALTH)),
    Step("learning", "/reviews/{review_id}/learning-events/{event}/held",
         {"held_on": "2026-05-20", "participating_agencies": [POLICE, HEALTH]},
         "learning event held"),
    Step("learning", "/reviews/{review_id}/learning-points", {
        "recorded_on": "2026-05-21", "summary": "Earlier call-outs must be visible to call handlers.",
        "themes": ["identification_of_risk", "technology_systems"], "tags": ["call handling"],
        "learning_event_id": "{event}"}, "a learning point"),
    Step("panel", "/panels/{review_id}/report-drafts", {
        "shared_on": "2026-06-01", "summary": "Agencies' contact with the victim, 2021 to 2026.",
        "recommendations": [{
            "level": "local", "addressee_agencies": [POLICE],
            "text": "Norfolk Constabulary to show call handlers every earlier call-out to an "
                    "address, measured by a quarterly audit of 50 calls, by 31 March 2027."}]},
        "draft report shared"),
    Step("panel", "/panels/{review_id}/report-agreement",
         {"agreed_on": "2026-06-15", "report_version": 1}, "report agreed by the panel"),
    Wait("recommendations", "/reviews/{review_id}/recommendations",
         lambda answer: bool(answer["items"]), "recommendations recorded from the agreed report",
         save=_first_recommendation),
    Step("recommendations",
         "/recommendations/{recommendation_id}/addressees/{addressee_id}/responses", {
             "status": "accepted", "recorded_on": "2026-07-01",
             "action_plan": "Show earlier call-outs on the call handlers' screen.",
             "target_date": "2027-03-31"}, "the police accept the recommendation",
         actor=("agency_lead", POLICE)),
    Step("recommendations",
         "/recommendations/{recommendation_id}/addressees/{addressee_id}/implementation-claims", {
             "status": "in_progress", "claimed_on": "2026-09-01",
             "summary": "The change is in testing with two call-handling teams."},
         "the police report progress on the action", actor=("agency_lead", POLICE)),
    Wait("commissioning", "/reviews/{review_id}",
         lambda review: review["status"] in AFTER_REPORT_AGREED,
         "commissioning knows the report is agreed"),
    Step("commissioning", "/reviews/{review_id}/sign-off",
         {"signed_off_on": "2026-06-20", "signed_off_by": "Chair of Norfolk CSP"},
         "report signed off by the CSP"),
    Step("commissioning", "/reviews/{review_id}/home-office-submissions",
         {"submitted_on": "2026-06-22"}, "submitted to the Home Office quality assurance panel"),
    Step("commissioning", "/reviews/{review_id}/home-office-submissions/1/outcome",
         {"decided_on": "2026-08-01", "outcome": "approved_for_publication"},
         "approved for publication"),
    Step("commissioning", "/reviews/{review_id}/publication", {
        "published_on": "2026-08-10", "anonymised": True,
        "location": "https://www.example.org/dhr/norfolk-2026-sample"}, "published"),
)


class SampleError(RuntimeError):
    """A step of the walk was refused or never became true."""


def _format(value: Any, context: Context) -> Any:
    if isinstance(value, str):
        return value.format(**context) if "{" in value else value
    if isinstance(value, list):
        return [_format(item, context) for item in value]
    if isinstance(value, dict):
        return {key: _format(item, context) for key, item in value.items()}
    return value


def request(method: str, url: str, body: dict[str, Any] | None = None,
            headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
    """One JSON request to a service: (status, decoded body), also for 4xx and 5xx answers."""
    if not url.startswith(("http://", "https://")):
        raise SampleError(f"not an HTTP URL: {url}")
    data = None if body is None else json.dumps(body).encode()
    prepared = urllib.request.Request(url, data=data, method=method, headers={  # noqa: S310
        **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def walk(urls: Mapping[str, str], headers: Headers = lambda _: {},
         on_step: Callable[[int, int, str], None] = lambda n, total, title: None,
         wait_seconds: float = 120.0) -> Context:
    """Take the sample review through WALK; return the ids it made (review_id first)."""
    context: Context = {}
    for number, step in enumerate(WALK, start=1):
        on_step(number, len(WALK), step.title)
        url = urls[step.service] + _format(step.path, context)
        if isinstance(step, Wait):
            deadline = time.monotonic() + wait_seconds
            while True:
                status, answer = request("GET", url, None, headers(step.actor))
                if status == 200 and step.ready(answer):
                    context.update(step.save(answer))
                    break
                if time.monotonic() > deadline:
                    raise SampleError(f"waited {wait_seconds:.0f}s for {step.title}: {status}")
                time.sleep(0.5)
            continue
        key = f"sample-review-{number:02d}"
        status, answer = request("POST", url, _format(step.body, context),
                               {**headers(step.actor), "Idempotency-Key": key})
        if status >= 400:
            raise SampleError(f"step {number} ({step.title}) was refused: {status} {answer}")
        context.update({name: str(answer[field_]) for name, field_ in step.save.items()})
    return context
