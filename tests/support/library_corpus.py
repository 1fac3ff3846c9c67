"""A reproducible corpus of recommendations for the national library's tests and benchmark:
reviews of several recommendations each, across CSP areas, years, themes and addressee types,
plus texts planted with known matches. Two styles of generated text:

- "realistic" (the default): each text combines a theme's action, reworded word by word from
  banks of synonyms, with the review's own particulars (a named local procedure, team or place,
  a percentage or number of days, a dated deadline, one of many contexts and measures). About
  one in ten belongs to a cluster of genuine recurrence: the same recommendation made again by
  other reviews, to the same type of addressee under the same theme, lightly reworded; clusters
  hold from a handful to a few dozen. Apart from its cluster, a text is rarely 0.5 similar to
  another (as across real reviews).
- "templates": every text is one of 8 actions x 12 contexts x 8 measures x 6 deadlines per
  theme with only the owner's name varying, so each is at least 0.5 similar to hundreds of
  others: the worst case for the recurrence lookup.

The background vocabulary never contains the planted search words (checked when generating), so
a full-text query for one of them finds exactly the planted recommendations.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from dhr_contracts.recommendations import Addressee as ContractAddressee
from dhr_contracts.recommendations import (
    ImplementationClaimed,
    ImplementationStatus,
    ImplementationVerified,
    RecommendationRecorded,
    RecommendationSource,
    ResponseRecorded,
    ResponseStatus,
    SmartAssessment,
    SmartFinding,
)
from dhr_platform.commands import new_event
from dhr_platform.eventstore import NewEvent
from dhr_recommendations.library import addressee_facets
from dhr_recommendations.status import ntsb_status

THEMES = ("technology_systems", "identification_of_risk", "training", "policy",
          "multi_agency_working", "record_keeping", "awareness_raising", "other")
RESPONSE_STATUSES = ("awaiting_response", "response_received", "accepted", "accepted_in_part",
                     "rejected", "already_in_place", "not_applicable")
IMPLEMENTATION_STATUSES = ("not_started", "in_progress", "implemented",
                           "implemented_by_alternative_means", "partially_implemented",
                           "not_implemented", "superseded", "no_longer_applicable")
# Verified statuses that close an addressee (the service's rule: a claim alone never closes).
CLOSING_VERIFICATIONS = {"implemented", "implemented_by_alternative_means", "not_implemented",
                         "superseded", "no_longer_applicable"}

AREAS = ("Norfolk", "Suffolk", "Leeds", "Birmingham", "Cardiff", "Bristol", "Kent", "Essex",
         "Cornwall", "Devon", "Manchester", "Liverpool", "Sheffield", "Newcastle upon Tyne",
         "Nottingham", "Leicester", "Coventry", "Brighton and Hove", "Southampton", "Portsmouth",
         "Swansea", "Wrexham", "Cumbria", "Durham", "Hampshire", "Surrey", "Lancashire",
         "Derbyshire", "Wiltshire", "Tower Hamlets")

# How an addressee of each type is named in a given area.
_LOCAL_NAMES = {
    "police": ["{area} Police", "{area} Constabulary"],
    "social_services": ["{area} Adult Social Care", "{area} Children's Services"],
    "health_services": ["{area} Integrated Care Board", "{area} NHS Foundation Trust",
                        "{area} Mental Health Trust"],
    "idva_or_domestic_abuse_service": ["{area} Domestic Abuse Service", "{area} IDVA Service"],
    "probation": ["Probation Service ({area})"],
    "housing": ["{area} Housing Options", "{area} Homes Partnership"],
    "school": ["{area} Schools Partnership", "{area} Academy Trust"],
    "employer": ["{area} Chamber of Commerce"],
    "other_educational_institution": ["{area} College", "University of {area}"],
    "religious_institution": ["{area} Faith Forum"],
    "military": ["Army Welfare Service ({area})"],
    "community_safety_partnership": ["{area} Community Safety Partnership"],
}
_DEPARTMENTS = ("Home Office", "Department of Health and Social Care", "Ministry of Justice",
                "Department for Education", "Ministry of Housing, Communities and Local Government",
                "Department for Work and Pensions")
_LOCAL_TYPES = tuple(_LOCAL_NAMES)
# Each theme's usual addressees, so that types and themes correlate as they do in real reports.
_THEME_TYPES = {
    "technology_systems": ("police", "health_services", "social_services", "probation"),
    "identification_of_risk": ("police", "health_services", "idva_or_domestic_abuse_service",
                               "probation", "social_services"),
    "training": ("health_services", "police", "housing", "school", "employer",
                 "other_educational_institution", "religious_institution", "military"),
    "policy": ("community_safety_partnership", "housing", "social_services", "police"),
    "multi_agency_working": ("community_safety_partnership", "police", "social_services",
                             "idva_or_domestic_abuse_service", "probation"),
    "record_keeping": ("health_services", "police", "social_services", "housing"),
    "awareness_raising": ("community_safety_partnership", "employer", "school",
                          "religious_institution", "idva_or_domestic_abuse_service"),
    "other": _LOCAL_TYPES,
}

_ACTIONS = {
    "technology_systems": [
        "introduce an electronic flag on the patient record for victims of domestic abuse",
        "replace the case management system so that referrals are visible to partner agencies",
        "enable automatic alerts when a repeat call is logged at the same address",
        "link the call handling system with the records of the children's safeguarding hub",
        "give frontline staff mobile access to previous incident histories",
        "audit how the records system shows active non-molestation orders",
        "configure the electronic record to prompt for routine enquiry at every appointment",
        "build a shared dashboard of high-risk cases for the daily safeguarding meeting",
    ],
    "identification_of_risk": [
        "ensure that a DASH risk assessment is completed after every reported incident",
        "review how escalating jealousy and controlling behaviour are weighed in risk grading",
        "ask about access to weapons whenever a threat to kill is disclosed",
        "consider the risk posed by a perpetrator after release from custody",
        "treat non-fatal strangulation as a marker of high risk in every assessment",
        "reassess risk when a victim separates from the perpetrator or a child is born",
        "include the views of the victim's family when grading the level of risk",
        "record the perpetrator's history across relationships when assessing risk",
    ],
    "training": [
        "deliver training on coercive and controlling behaviour to all frontline staff",
        "train reception staff to recognise disclosures of abuse and respond safely",
        "provide refresher training on the MARAC referral pathway every two years",
        "include economic abuse in the induction programme for new employees",
        "train practitioners to ask about abuse when the partner is not present",
        "commission specialist training on the needs of older victims",
        "extend safeguarding training to volunteers and contracted staff",
        "deliver joint training with specialist services on professional curiosity",
    ],
    "policy": [
        "revise the safeguarding policy so that it names the lead for domestic abuse",
        "adopt a written procedure for responding to disclosures made by colleagues",
        "update the allocations policy to prioritise applicants fleeing abuse",
        "publish a policy on sharing information without consent where risk is high",
        "set out in policy how missed appointments of vulnerable adults are followed up",
        "review the tenancy enforcement policy where abuse is a factor in arrears",
        "adopt a workplace domestic abuse policy with named points of contact",
        "amend the discharge policy to require a safety plan for victims of abuse",
    ],
    "multi_agency_working": [
        "attend every MARAC meeting with the information held on the family",
        "share information promptly with the safeguarding hub when a referral is made",
        "establish a joint protocol for cases that cross local authority boundaries",
        "hold a multi-agency meeting before closing a case with unresolved risk",
        "agree with partners who leads when several agencies are involved",
        "invite specialist domestic abuse services to strategy discussions",
        "set up a regular case audit with partner agencies of repeat referrals",
        "ensure that actions agreed at MARAC are tracked until completed",
    ],
    "record_keeping": [
        "record the reasons for decisions not to refer a case onwards",
        "ensure that contacts with the victim are recorded on the same day",
        "record who was present when a disclosure was discussed",
        "keep a chronology of incidents on the file of each family at risk",
        "record the outcome of every safeguarding referral and who was told",
        "audit the quality of case notes in cases involving abuse",
        "record third-party concerns raised by neighbours or relatives",
        "note on file when an interpreter was needed but not used",
    ],
    "awareness_raising": [
        "run a public campaign on the signs of coercive control",
        "publicise local support services in community venues and online",
        "raise awareness among employers of how to support staff experiencing abuse",
        "promote the domestic violence disclosure scheme to families and friends",
        "produce leaflets in community languages on where to seek help",
        "work with local media to report domestic homicide responsibly",
        "engage faith and community leaders in conversations about abuse",
        "tell young people in schools about healthy relationships and consent",
    ],
    "other": [
        "commission an independent audit of progress against this action plan",
        "report progress on these recommendations to the partnership board",
        "seek assurance from partner agencies that lessons have been embedded",
        "review the commissioning of specialist services for male victims",
        "consider the findings of this review in the next strategic needs assessment",
        "share the learning from this review across the region",
        "evaluate the impact of the changes made since the review",
        "provide bereavement support information to the family",
    ],
}
_CONTEXTS = [
    "so that victims are not left without support",
    "so that repeat victims are identified earlier",
    "taking account of the victim's wishes and safety",
    "with particular attention to victims with care and support needs",
    "including cases where the perpetrator is a family member",
    "for cases involving children in the household",
    "for victims living in rural communities",
    "including victims whose first language is not English",
    "where alcohol or substance misuse is present",
    "where the victim has a disability",
    "including older victims and those abused by adult children",
    "for victims who have recently separated",
]
_MEASURES = [
    "and report compliance to the partnership through a quarterly audit",
    "and measure the proportion of staff trained",
    "and evidence the change through a dip sample of cases",
    "and provide a written update to the review panel",
    "and monitor the number of referrals received",
    "and confirm completion to the chair of the partnership",
    "and report the results of a follow-up audit",
    "and publish the outcome on the partnership's website",
]
_DEADLINES = ["within three months", "within six months", "within nine months",
              "within twelve months", "by the end of the financial year",
              "before the next annual report"]
_TAGS = ["coercive_control", "older_people", "mental_health", "substance_misuse", "children",
         "economic_abuse", "rural", "suicide", "carers", "disability", "marac", "stalking_risk"]

# Planted search words: never in the background vocabulary above.
PLANTED_WORDS = ("hoarding", "chaplaincy", "veterans", "ketamine", "stalking", "gaslighting")


@dataclass(frozen=True)
class Addressee:
    addressee_id: str
    name: str
    addressee_type: str
    response_status: str
    implementation_claimed: str
    implementation_verified: str | None
    response_due_on: date | None
    target_date: date | None

    @property
    def implementation_status(self) -> str:
        """The library's status: verified where verified, else claimed."""
        return self.implementation_verified or self.implementation_claimed

    @property
    def open(self) -> bool:
        return self.implementation_verified not in CLOSING_VERIFICATIONS


@dataclass(frozen=True)
class Recommendation:
    recommendation_id: uuid.UUID
    review_id: uuid.UUID
    number: int
    csp_area: str
    level: str
    themes: tuple[str, ...]
    tags: tuple[str, ...]
    text: str
    issued_on: date
    smart_score: int
    smart_flags: tuple[str, ...]
    addressees: tuple[Addressee, ...]
    label: str | None = None
    """A name for a planted recommendation, so tests can find it."""

    @property
    def open(self) -> bool:
        return any(addressee.open for addressee in self.addressees)

    @property
    def addressee_types(self) -> set[str]:
        return {addressee.addressee_type for addressee in self.addressees}

    @property
    def statuses(self) -> set[str]:
        """The library's status values of this recommendation: open or closed, and each
        addressee's implementation status."""
        return {"open" if self.open else "closed"} | {
            a.implementation_status for a in self.addressees}


@dataclass
class Corpus:
    recommendations: list[Recommendation] = field(default_factory=list)

    def planted(self, label: str) -> Recommendation:
        return next(r for r in self.recommendations if r.label == label)

    def __len__(self) -> int:
        return len(self.recommendations)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _addressee(rng: random.Random, addressee_type: str, area: str, issued_on: date,
               name: str | None = None, status: str | None = None,
               verified: str | None = None) -> Addressee:
    if name is None:
        name = (rng.choice(_DEPARTMENTS) if addressee_type == "government_department"
                else rng.choice(_LOCAL_NAMES[addressee_type]).format(area=area))
    age_days = (date(2026, 3, 1) - issued_on).days
    if status is None:
        # Older recommendations have moved further along, as they would have.
        weights = [max(1, 40 - age_days // 60), 10, 25 + age_days // 200, 5, 8, 6, 3, 3]
        status = rng.choices(IMPLEMENTATION_STATUSES, weights)[0]
        if rng.random() < 0.3:
            verified = rng.choices(IMPLEMENTATION_STATUSES, weights)[0]
    response = "awaiting_response" if age_days < 56 else rng.choice(RESPONSE_STATUSES[1:])
    return Addressee(
        addressee_id=_slug(name), name=name, addressee_type=addressee_type,
        response_status=response, implementation_claimed=status,
        implementation_verified=verified, response_due_on=issued_on + timedelta(days=56),
        target_date=issued_on + timedelta(days=rng.choice([90, 180, 270, 365])))


def _background(rng: random.Random, review_id: uuid.UUID, number: int, area: str,
                issued_on: date, level: str) -> Recommendation:
    themes = [rng.choice(THEMES)]
    if rng.random() < 0.3:
        themes.append(rng.choice([t for t in THEMES if t != themes[0]]))
    if level == "national":
        types = ["government_department"]
    else:
        types = rng.sample(_THEME_TYPES[themes[0]], k=min(len(_THEME_TYPES[themes[0]]),
                                                            rng.choice([1, 1, 1, 2, 2, 3])))
    addressees = tuple(_addressee(rng, t, area, issued_on) for t in types)
    owner = addressees[0].name if len(addressees) == 1 else (
        ", ".join(a.name for a in addressees[:-1]) + " and " + addressees[-1].name)
    text = (f"{owner} should {rng.choice(_ACTIONS[themes[0]])} {rng.choice(_CONTEXTS)}"
            f" {rng.choice(_MEASURES)} {rng.choice(_DEADLINES)}.")
    flags = tuple(sorted(rng.sample(["no_measure_of_success", "no_target_date", "vague_wording",
                                     "no_concrete_action"], k=rng.choice([0, 0, 0, 1, 2]))))
    return Recommendation(
        recommendation_id=uuid.UUID(int=rng.getrandbits(128), version=4), review_id=review_id,
        number=number, csp_area=area, level=level, themes=tuple(themes),
        tags=tuple(sorted(set(rng.sample(_TAGS, k=rng.choice([0, 1, 1, 2]))))), text=text,
        issued_on=issued_on, smart_score=100 - 20 * len(flags), smart_flags=flags,
        addressees=addressees)


CORPUS_STYLES = ("realistic", "templates")


def background(count: int, seed: int = 2026, style: str = "realistic") -> list[Recommendation]:
    """`count` generated recommendations in reviews of 3 to 10, issued 2012 to 2025, in one of
    the CORPUS_STYLES."""
    if style not in CORPUS_STYLES:
        raise ValueError(f"unknown corpus style {style!r}")
    rng = random.Random(seed)
    generate = _background if style == "templates" else _Realistic(rng, count).generate
    recommendations: list[Recommendation] = []
    while len(recommendations) < count:
        review_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        area = rng.choice(AREAS)
        issued_on = date(2012, 1, 1) + timedelta(days=rng.randrange(14 * 365))
        for number in range(1, rng.randint(3, 10) + 1):
            level = rng.choices(("local", "regional", "national"), (80, 12, 8))[0]
            recommendations.append(generate(rng, review_id, number, area, issued_on, level))
            if len(recommendations) == count:
                break
    return recommendations


# --- the realistic style ------------------------------------------------------------------------

# Interchangeable wordings: each occurrence of a key is replaced by one of its alternatives.
_SYNONYMS = {
    "ensure": ["ensure", "make sure", "satisfy itself", "confirm"],
    "staff": ["staff", "practitioners", "officers", "employees", "workers", "colleagues"],
    "frontline": ["frontline", "front-line", "operational", "duty", "public-facing"],
    "victims": ["victims", "survivors", "people experiencing abuse", "those harmed"],
    "victim": ["victim", "survivor", "person experiencing abuse", "adult at risk"],
    "perpetrator": ["perpetrator", "abuser", "person causing harm", "alleged perpetrator"],
    "review": ["review", "examine", "reconsider", "evaluate", "reassess"],
    "record": ["record", "document", "note", "log"],
    "training": ["training", "learning sessions", "briefings", "workshops", "development"],
    "deliver": ["deliver", "provide", "run", "roll out", "offer"],
    "introduce": ["introduce", "implement", "put in place", "establish", "develop"],
    "policy": ["policy", "guidance", "procedure", "protocol", "standard"],
    "share": ["share", "pass on", "exchange", "disclose"],
    "information": ["information", "intelligence", "records", "details"],
    "referral": ["referral", "onward referral", "notification", "request for support"],
    "assessment": ["assessment", "evaluation", "appraisal", "review"],
    "meeting": ["meeting", "discussion", "conference", "panel"],
    "agencies": ["agencies", "partners", "organisations", "services"],
    "children": ["children", "young people", "dependants"],
    "promptly": ["promptly", "without delay", "quickly", "in good time"],
    "every": ["every", "each", "any", "all"],
    "consider": ["consider", "take into account", "weigh", "look at"],
    "support": ["support", "help", "assistance", "advocacy"],
}
_ACTION_CORES = {
    "technology_systems": [
        "introduce an electronic flag for victims on the {system}",
        "link the {system} with the records of the {team}",
        "give frontline staff mobile access to incident histories held on the {system}",
        "configure the {system} to prompt a routine enquiry about abuse",
        "enable alerts on the {system} when repeat calls come from one address",
        "audit how the {system} displays protective orders and bail conditions",
        "build a dashboard of high-risk cases for the {team}",
        "make referrals on the {system} visible to partner agencies",
        "migrate historic case notes into the {system} so that patterns stay visible",
        "test whether the {system} records the relationship between a victim and a perpetrator",
    ],
    "identification_of_risk": [
        "ensure that a risk assessment is completed after every reported incident",
        "treat non-fatal strangulation as a marker of high risk",
        "reassess risk when a victim separates from the perpetrator",
        "ask about access to weapons whenever a threat to kill is disclosed",
        "consider the risk from a perpetrator released from custody",
        "include the views of family and friends when grading risk",
        "record the history of the perpetrator across relationships when assessing risk",
        "review how coercive control is weighed when grading risk",
        "refer cases of escalating abuse to the {team}",
        "check for earlier call-outs before a risk assessment is closed",
    ],
    "training": [
        "deliver training on coercive control to frontline staff",
        "train reception staff to respond safely to a disclosure",
        "provide refresher training on the MARAC referral pathway",
        "include economic abuse in induction training for new staff",
        "deliver joint training with the {team} on professional curiosity",
        "train practitioners to ask about abuse when the partner is absent",
        "commission training on the needs of older victims",
        "extend safeguarding training to volunteers and contractors",
        "train call handlers to recognise the signs of abuse on the telephone",
        "use the learning from this review in training for managers",
    ],
    "policy": [
        "revise the {procedure} so that it names a lead for domestic abuse",
        "update the {procedure} to prioritise applicants fleeing abuse",
        "adopt a workplace policy on domestic abuse with named contacts",
        "set out in the {procedure} how missed appointments are followed up",
        "amend the {procedure} to require a safety plan before discharge",
        "publish a policy on information sharing without consent where risk is high",
        "review the {procedure} where abuse contributes to rent arrears",
        "write a procedure for disclosures made by colleagues",
        "align the {procedure} with the statutory guidance on domestic abuse",
        "require managers to sign off the closure of cases under the {procedure}",
    ],
    "multi_agency_working": [
        "attend every MARAC with the information held on the family",
        "share information promptly with the {team} when a referral is made",
        "agree a protocol for cases that cross local authority boundaries",
        "hold a multi-agency meeting before closing a case with unresolved risk",
        "agree with partners which agency leads when several are involved",
        "invite specialist domestic abuse services to strategy meetings",
        "audit repeat referrals jointly with the {team}",
        "track actions agreed at MARAC until they are completed",
        "escalate disagreements between agencies to senior managers",
        "include housing providers in the {team}",
    ],
    "record_keeping": [
        "record the reasons for decisions not to refer a case",
        "record contacts with the victim on the same day",
        "record who was present when a disclosure was discussed",
        "keep a chronology of incidents on the file of each family at risk",
        "record the outcome of every safeguarding referral",
        "audit the quality of case notes on the {system}",
        "record concerns raised by neighbours or relatives",
        "note on file when an interpreter was needed but not used",
        "record the name of every member of the household",
        "record safety plans where all staff involved can read them",
    ],
    "awareness_raising": [
        "run a public campaign on the signs of coercive control",
        "publicise local support services in {place}",
        "raise awareness among employers of how to support staff experiencing abuse",
        "promote the domestic violence disclosure scheme to families and friends",
        "produce leaflets in community languages on where to seek help",
        "work with local media on reporting domestic homicide responsibly",
        "engage faith and community leaders in {place} in conversations about abuse",
        "teach young people about healthy relationships and consent",
        "place information about support in GP surgeries and pharmacies",
        "tell neighbours and bystanders how to report concerns safely",
    ],
    "other": [
        "commission an independent audit of progress against this action plan",
        "report progress on these recommendations to the partnership board",
        "seek assurance from partners that the lessons have been embedded",
        "review the commissioning of services for male victims",
        "consider this review in the next strategic needs assessment",
        "share the learning from this review across the region",
        "evaluate the impact of the changes made since the review",
        "offer the family information about bereavement support",
        "publish an annual report of the outcomes of reviews",
        "ask the {team} to monitor the action plan",
    ],
}
_SYSTEMS = ["electronic patient record", "case management system", "call handling system",
            "crime recording system", "housing management system", "child protection register",
            "records system", "shared care record", "referral portal", "intelligence database"]
_TEAMS = ["Multi-Agency Safeguarding Hub", "children's safeguarding hub", "adult safeguarding team",
          "early help team", "specialist domestic abuse court", "integrated offender management "
          "unit", "public protection unit", "MARAC coordinator", "community mental health team",
          "homelessness prevention team", "violence reduction unit", "safeguarding board"]
_PROCEDURES = ["allocations policy", "safeguarding adults procedure", "discharge policy",
               "tenancy enforcement policy", "missed appointments policy", "supervision policy",
               "lone working procedure", "case closure procedure", "escalation protocol",
               "information sharing agreement"]
_PLACE_START = ("Ash", "Bram", "Carl", "Dun", "Elm", "Fair", "Glen", "Hart", "Kings", "Lang",
                "Mill", "North", "Oak", "Pen", "Red", "South", "Stan", "Thorn", "West", "Whit")
_PLACE_END = ("ford", "ton", "bury", "field", "ham", "ley", "wick", "by", "mouth", "bridge",
              "stead", "wood", "thorpe", "worth", "combe")
_VENUES = ["community centres", "libraries", "leisure centres", "GP surgeries", "food banks",
           "family hubs", "job centres", "places of worship"]
_REALISTIC_CONTEXTS = [
    "so that victims are not left without support", "so that repeat victims are found earlier",
    "taking account of the wishes and safety of the victim",
    "for victims with care and support needs", "where the perpetrator is a family member",
    "where children live in the household", "for victims in rural communities",
    "for victims whose first language is not English", "where substance misuse is present",
    "where the victim has a disability", "for older victims and those abused by adult children",
    "for victims who have recently separated", "for victims with insecure immigration status",
    "where the victim is pregnant", "for young people in abusive relationships",
    "where the perpetrator has mental health needs", "for victims in temporary accommodation",
    "for male victims", "for victims who are also carers", "for LGBT+ victims",
]
_REALISTIC_MEASURES = [
    "and report compliance to the partnership through a quarterly audit",
    "and measure the proportion of staff trained, aiming for {percent}%",
    "and evidence the change through a dip sample of {number} cases",
    "and give a written update to the review panel", "and monitor the number of referrals",
    "and confirm completion to the chair of the partnership",
    "and report the results of a follow-up audit after {number} days",
    "and publish the outcome on its website", "and report to the board every {number} weeks",
    "and show that {percent}% of cases meet the standard at audit",
    "and survey {number} victims about their experience of the service",
]
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_OPENERS = ["should", "should", "must", "is recommended to", "is asked to"]


def _reword(rng: random.Random, text: str, chance: float) -> str:
    words = text.split(" ")
    return " ".join(rng.choice(_SYNONYMS[w]) if w in _SYNONYMS and rng.random() < chance else w
                    for w in words)


class _Realistic:
    """Realistic texts: a reworded action with the review's particulars, or a member of a
    cluster of genuine recurrence (one per theme and addressee type it was drawn for)."""

    RECURRING_SHARE = 0.1

    def __init__(self, rng: random.Random, count: int) -> None:
        clusters = max(8, count // 200)
        # Some recommendations recur more often than others: the first clusters about ten
        # times as often as the last (at 100,000, about 5 to 60 members each).
        self.cluster_weights = [1 / (1 + rank / (clusters / 10)) for rank in range(clusters)]
        self.clusters: list[tuple[str, str, str]] = []
        for _ in range(clusters):
            theme = rng.choice(THEMES)
            self.clusters.append((theme, rng.choice(_THEME_TYPES[theme]),
                                  self._action(rng, theme, chance=0.5)))

    @staticmethod
    def _particulars(rng: random.Random, core: str) -> str:
        place = rng.choice(_PLACE_START) + rng.choice(_PLACE_END)
        return core.format(system=rng.choice(_SYSTEMS), team=rng.choice(_TEAMS),
                           procedure=rng.choice(_PROCEDURES),
                           place=f"{rng.choice(_VENUES)} across {place}")

    def _action(self, rng: random.Random, theme: str, chance: float) -> str:
        action = _reword(rng, self._particulars(rng, rng.choice(_ACTION_CORES[theme])), chance)
        context = _reword(rng, rng.choice(_REALISTIC_CONTEXTS), chance)
        return f"{action} {context}"

    @staticmethod
    def _tail(rng: random.Random, issued_on: date) -> str:
        measure = rng.choice(_REALISTIC_MEASURES).format(
            percent=rng.choice(range(60, 100, 5)), number=rng.choice(range(10, 120, 5)))
        year = issued_on.year + rng.choice([0, 1, 1, 2])
        deadline = rng.choice([f"by {rng.randint(1, 28)} {rng.choice(_MONTHS)} {year}",
                               f"by the end of {rng.choice(_MONTHS)} {year}",
                               f"within {rng.choice([3, 6, 9, 12, 18])} months",
                               f"before the {rng.choice(['next', 'second'])} annual report"])
        return f"{_reword(rng, measure, 0.5)} {deadline}"

    def generate(self, rng: random.Random, review_id: uuid.UUID, number: int, area: str,
                 issued_on: date, level: str) -> Recommendation:
        if level != "national" and rng.random() < self.RECURRING_SHARE:
            theme, kind, action = rng.choices(self.clusters, self.cluster_weights)[0]
            themes = [theme]
            types = [kind]
            action = _reword(rng, action, 0.1)
        else:
            themes = [rng.choice(THEMES)]
            if level == "national":
                types = ["government_department"]
            else:
                options = _THEME_TYPES[themes[0]]
                types = rng.sample(options, k=min(len(options), rng.choice([1, 1, 1, 2, 2, 3])))
            action = self._action(rng, themes[0], chance=0.5)
        if rng.random() < 0.3:
            themes.append(rng.choice([t for t in THEMES if t not in themes]))
        addressees = tuple(_addressee(rng, t, area, issued_on) for t in types)
        owner = addressees[0].name if len(addressees) == 1 else (
            ", ".join(a.name for a in addressees[:-1]) + " and " + addressees[-1].name)
        text = f"{owner} {rng.choice(_OPENERS)} {action} {self._tail(rng, issued_on)}."
        flags = tuple(sorted(rng.sample(["no_measure_of_success", "no_target_date",
                                         "vague_wording", "no_concrete_action"],
                                        k=rng.choice([0, 0, 0, 1, 2]))))
        return Recommendation(
            recommendation_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            review_id=review_id, number=number, csp_area=area, level=level,
            themes=tuple(themes), tags=tuple(sorted(set(rng.sample(_TAGS, k=rng.choice(
                [0, 1, 1, 2]))))), text=text, issued_on=issued_on,
            smart_score=100 - 20 * len(flags), smart_flags=flags, addressees=addressees)


def _planted(label: str, text: str, *, area: str, issued_on: date, themes: Sequence[str],
             addressees: Iterable[tuple[str, str, str, str | None]], level: str = "local",
             review_id: uuid.UUID | None = None, number: int = 1) -> Recommendation:
    """A hand-written recommendation; addressees as (type, name, claimed, verified)."""
    return Recommendation(
        recommendation_id=uuid.uuid5(uuid.NAMESPACE_URL, f"dhr-library-test/{label}"),
        review_id=review_id or uuid.uuid5(uuid.NAMESPACE_URL, f"dhr-library-review/{label}"),
        number=number, csp_area=area, level=level, themes=tuple(themes), tags=(), text=text,
        issued_on=issued_on, smart_score=100, smart_flags=(),
        addressees=tuple(
            Addressee(addressee_id=_slug(name), name=name, addressee_type=kind,
                      response_status="accepted", implementation_claimed=claimed,
                      implementation_verified=verified,
                      response_due_on=issued_on + timedelta(days=56),
                      target_date=issued_on + timedelta(days=180))
            for kind, name, claimed, verified in addressees),
        label=label)


HOARDING = ("Suffolk Adult Social Care should develop a hoarding protocol with the fire service "
            "so that self-neglect and hoarding are recognised as possible signs of abuse, and "
            "audit its use within six months.")
_RECURRING = ("{police} should ensure that officers attending a report of domestic abuse check "
              "for previous call-outs to the address and complete a risk assessment with the "
              "victim away from the perpetrator, {tail}")


def planted() -> list[Recommendation]:
    """Recommendations with known matches: search words, near-duplicates across reviews,
    unrelated texts, never-implemented precedents, and texts that CSV must quote."""
    police = ("police", "Essex Police")
    shared_review = uuid.uuid5(uuid.NAMESPACE_URL, "dhr-library-review/same-review")
    return [
        # Full-text: the word "hoarding" appears twice in one, once in the other.
        _planted("hoarding-twice", HOARDING, area="Suffolk", issued_on=date(2019, 5, 2),
                 themes=["identification_of_risk"],
                 addressees=[("social_services", "Suffolk Adult Social Care", "in_progress",
                              None)]),
        _planted("hoarding-once", "Norfolk Housing Options should give tenancy officers "
                 "guidance on visiting tenants whose homes show hoarding, with a named lead, "
                 "by April 2022.", area="Norfolk", issued_on=date(2021, 10, 1),
                 themes=["training"], addressees=[("housing", "Norfolk Housing Options",
                                                   "not_started", None)]),
        # Ranking by proximity: the phrase together ranks above the words apart.
        _planted("stalking-together", "Kent Police should apply for stalking protection orders "
                 "in every eligible case and report the number granted to the partnership "
                 "each quarter.", area="Kent", issued_on=date(2023, 2, 14),
                 themes=["policy"], addressees=[("police", "Kent Police", "in_progress", None)]),
        _planted("stalking-apart", "Cumbria Constabulary should review its protection of "
                 "victims who report repeated contact after separation, treating stalking as "
                 "a pattern, and consider whether an order is needed in each case, within six "
                 "months.", area="Cumbria", issued_on=date(2022, 3, 1),
                 themes=["identification_of_risk"],
                 addressees=[("police", "Cumbria Constabulary", "implemented", "implemented")]),
        _planted("stalking-only", "Devon IDVA Service should offer stalking advocacy to "
                 "clients who ask for it, and report uptake annually.", area="Devon",
                 issued_on=date(2020, 7, 7), themes=["other"],
                 addressees=[("idva_or_domestic_abuse_service", "Devon IDVA Service",
                              "implemented", None)]),
        # Recurrence: three reviews in different areas say nearly the same thing.
        _planted("recurring-2016", _RECURRING.format(
            police="Essex Police", tail="and report compliance quarterly."),
            area="Essex", issued_on=date(2016, 4, 1), themes=["identification_of_risk"],
            addressees=[(*police, "not_implemented", None),
                        ("health_services", "Essex NHS Foundation Trust", "implemented", None)]),
        _planted("recurring-2019", _RECURRING.format(
            police="Essex Police", tail="and audit compliance every quarter."),
            area="Essex", issued_on=date(2019, 9, 1), themes=["identification_of_risk"],
            addressees=[(*police, "implemented", "implemented")]),
        _planted("recurring-2018-housing", _RECURRING.format(
            police="Essex Homes Partnership", tail="and report compliance quarterly."),
            area="Essex", issued_on=date(2018, 1, 15), themes=["identification_of_risk"],
            addressees=[("housing", "Essex Homes Partnership", "not_implemented", None)]),
        _planted("recurring-2023", _RECURRING.format(
            police="Kent Police", tail="and report compliance to the partnership quarterly."),
            area="Kent", issued_on=date(2023, 6, 1), themes=["identification_of_risk"],
            addressees=[("police", "Kent Police", "not_started", None)]),
        # A later report of an old review, recorded last but issued first.
        _planted("recurring-2014-backfilled", _RECURRING.format(
            police="Kent Police", tail="and report compliance quarterly."),
            area="Kent", issued_on=date(2014, 2, 1), themes=["identification_of_risk"],
            addressees=[("police", "Kent Police", "partially_implemented", "not_implemented")]),
        # Alike in words, but no shared theme or addressee type: not a recurrence.
        _planted("lookalike-other-theme", _RECURRING.format(
            police="Essex Chamber of Commerce", tail="and report compliance quarterly."),
            area="Essex", issued_on=date(2020, 1, 1), themes=["awareness_raising"],
            addressees=[("employer", "Essex Chamber of Commerce", "not_started", None)]),
        # Alike, but in the same review: repetition within a report, not recurrence across.
        _planted("same-review-1", "Leeds Children's Services should ensure that veterans "
                 "leaving the armed forces are asked about abuse at their first housing "
                 "assessment, and report quarterly.", area="Leeds",
                 issued_on=date(2021, 1, 20), themes=["identification_of_risk"],
                 addressees=[("social_services", "Leeds Children's Services", "not_started",
                              None)], review_id=shared_review, number=1),
        _planted("same-review-2", "Leeds Children's Services should ensure that veterans "
                 "leaving the armed forces are asked about abuse at their first housing "
                 "assessment, and report annually.", area="Leeds",
                 issued_on=date(2021, 1, 20), themes=["identification_of_risk"],
                 addressees=[("social_services", "Leeds Children's Services", "not_started",
                              None)], review_id=shared_review, number=2),
        # Unrelated, distinctive texts: never linked.
        _planted("unrelated-chaplaincy", "The prison chaplaincy should be invited to "
                 "contribute to release planning for men convicted of violence against a "
                 "partner.", area="Durham", issued_on=date(2024, 3, 3), themes=["other"],
                 addressees=[("religious_institution", "HMP Durham chaplaincy", "not_started",
                              None)]),
        _planted("unrelated-ketamine", "Brighton and Hove drug services should screen "
                 "ketamine users in couples' treatment for controlling behaviour.",
                 area="Brighton and Hove", issued_on=date(2024, 11, 5),
                 themes=["identification_of_risk"],
                 addressees=[("health_services", "Brighton and Hove drug services",
                              "not_started", None)]),
        # CSV must quote commas, quotes and line breaks, and keep the rest as is.
        _planted("awkward-csv", 'The Ministry of Housing, Communities and Local Government '
                 'should define "gaslighting" in statutory guidance,\nwith examples; and '
                 '=consult survivors.', area="Wrexham", issued_on=date(2025, 5, 5),
                 themes=["policy", "awareness_raising"], level="national",
                 addressees=[("government_department",
                              "Ministry of Housing, Communities and Local Government",
                              "not_started", None)]),
    ]


def corpus(count: int = 2000, seed: int = 2026, style: str = "realistic") -> Corpus:
    """`count` generated recommendations followed by the planted ones (recorded last)."""
    generated = background(count, seed, style)
    for recommendation in generated:
        lowered = recommendation.text.lower()
        for word in PLANTED_WORDS:
            if word in lowered:
                raise AssertionError(f"background text contains the planted word {word!r}")
    return Corpus(generated + planted())


def with_status(recommendation: Recommendation, claimed: str) -> Recommendation:
    """The same recommendation with every addressee claiming `claimed`."""
    return replace(recommendation, addressees=tuple(
        replace(a, implementation_claimed=claimed, implementation_verified=None)
        for a in recommendation.addressees))


# --- recording through the event store (the service's real projection path) ------------------


def recorded_events(r: Recommendation) -> list[NewEvent]:
    """The events that leave the recommendation as it is here: recorded, then each addressee's
    response, claim and verification (written as the service's deciders would have)."""
    recorded = RecommendationRecorded(
        recommendation_id=r.recommendation_id, review_id=r.review_id,
        source=RecommendationSource.REVIEW_REPORT, number=r.number, text=r.text, level=r.level,
        themes=r.themes, tags=r.tags, csp_area=r.csp_area, issued_on=r.issued_on,
        addressees=tuple(ContractAddressee(
            addressee_id=a.addressee_id, name=a.name, addressee_type=a.addressee_type,
            response_due_on=a.response_due_on, target_date=a.target_date)
            for a in r.addressees),
        smart=SmartAssessment(score=r.smart_score, findings=tuple(
            SmartFinding(flag=flag, reason=f"Flagged: {flag.replace('_', ' ')}.")
            for flag in r.smart_flags)))
    payloads: list[Any] = [recorded]
    for a in r.addressees:
        common = {"recommendation_id": r.recommendation_id, "review_id": r.review_id,
                  "addressee_id": a.addressee_id}
        if a.response_status != "awaiting_response":
            payloads.append(ResponseRecorded(
                **common, previous_status="awaiting_response", status=a.response_status,
                recorded_on=r.issued_on + timedelta(days=30),
                reason="Not agreed by the board." if a.response_status == "rejected" else None))
        if a.implementation_claimed != "not_started":
            payloads.append(ImplementationClaimed(
                **common, previous_status="not_started", status=a.implementation_claimed,
                claimed_on=r.issued_on + timedelta(days=60), summary="Progress reported."))
        if a.implementation_verified is not None:
            payloads.append(ImplementationVerified(
                **common, status=a.implementation_verified,
                verified_on=r.issued_on + timedelta(days=90), verified_by="CSP board",
                note="Evidence reviewed.",
                closes_addressee=a.implementation_verified in CLOSING_VERIFICATIONS))
    return [new_event(payload) for payload in payloads]


def stream_of(r: Recommendation) -> str:
    return f"recommendation-{r.recommendation_id}"


# --- loading into the read model directly (the benchmark's fast path) -------------------------

RECOMMENDATION_COLUMNS = ("recommendation_id", "review_id", "number", "csp_area", "level",
                          "themes", "tags", "text", "issued_on", "smart_score", "smart_flags",
                          "open", "version", "state", "source", "addressee_facets")
ADDRESSEE_COLUMNS = ("recommendation_id", "addressee_id", "name", "addressee_type",
                     "response_status", "implementation_claimed", "implementation_verified",
                     "response_due_on", "target_date", "open", "ntsb_status")


def recommendation_record(r: Recommendation) -> tuple[Any, ...]:
    return (r.recommendation_id, r.review_id, r.number, r.csp_area, r.level, list(r.themes),
            list(r.tags), r.text, r.issued_on, r.smart_score, list(r.smart_flags), r.open, 1, {},
            "review_report",
            addressee_facets((a.addressee_type, a.implementation_verified or a.implementation_claimed)
                             for a in r.addressees))


def addressee_records(r: Recommendation) -> list[tuple[Any, ...]]:
    return [(r.recommendation_id, a.addressee_id, a.name, a.addressee_type, a.response_status,
             a.implementation_claimed, a.implementation_verified, a.response_due_on,
             a.target_date, a.open,
             ntsb_status(ResponseStatus(a.response_status),
                         ImplementationStatus(a.implementation_claimed),
                         None if a.implementation_verified is None
                         else ImplementationStatus(a.implementation_verified)))
            for a in r.addressees]


async def insert_into_read_model(connection: Any,
                                 recommendations: Sequence[Recommendation]) -> None:
    """Write the recommendations and their addressees straight into the read model tables,
    without events (their `state` left empty): the benchmark's fast path."""
    columns = ", ".join(RECOMMENDATION_COLUMNS)
    placeholders = ", ".join(f"${n}" for n in range(1, len(RECOMMENDATION_COLUMNS) + 1))
    await connection.executemany(
        f"INSERT INTO recommendations ({columns}) VALUES ({placeholders})",
        [recommendation_record(r) for r in recommendations])
    await connection.copy_records_to_table(
        "recommendation_addressees", columns=ADDRESSEE_COLUMNS,
        records=[record for r in recommendations for record in addressee_records(r)])

