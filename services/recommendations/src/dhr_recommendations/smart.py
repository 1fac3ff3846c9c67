"""The SMART check at agreement and what is read from a report's wording (pure).

A recommendation must name who acts (a named addressee), say what they will do (a concrete
action), how success will be known (a measure) and by when (a target date). Vague wording such as
"improve information sharing" disperses responsibility: it is flagged with reasons and a lower
score, never silently accepted, and never refused (the panel agreed it; the CSP follows it up).

Score: 25 points for each of the four criteria met, less 15 for vague wording, floor 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date

from dhr_contracts.panel import RecommendationLevel
from dhr_contracts.recommendations import (
    AddresseeType,
    RecommendationTheme,
    SmartAssessment,
    SmartFinding,
    SmartFlag,
)

POINTS_PER_CRITERION = 25
VAGUE_WORDING_PENALTY = 15

# Phrases that say what to get better at, not what to do.
VAGUE_PHRASES = (
    "improve information sharing", "improve communication", "improve joint working",
    "improve partnership working", "improve multi-agency working", "improve practice",
    "improve understanding", "improve awareness", "raise awareness", "work together",
    "work more closely", "be reminded", "should consider", "consider", "explore",
    "look at", "look into", "strengthen", "enhance", "promote", "encourage", "be aware",
    "lessons learned", "lessons are learned", "best practice", "where appropriate",
    "as appropriate", "ensure that staff are aware",
)
# Verbs that name something a person can be seen to have done.
CONCRETE_ACTIONS = (
    "introduce", "implement", "deliver", "train", "audit", "publish", "issue", "revise",
    "rewrite", "update", "amend", "establish", "appoint", "commission", "create", "develop",
    "adopt", "install", "configure", "add", "record", "require", "review and update", "produce",
    "provide", "set up", "embed", "monitor", "fund", "design", "launch", "refer", "replace",
    "circulate", "include", "change", "test", "write", "run", "hold", "extend", "roll out",
)
MEASURE_CUES = (
    "measured by", "measure of success", "success will be", "evidenced by", "evidence of",
    "so that", "per cent", "percent", "%", "audit of", "audited", "dip sample", "dip-sample",
    "reported to", "report to the", "compliance", "all staff", "every ", "each ", "kpi",
    "performance indicator", "target of", "at least",
)
GENERIC_ADDRESSEES = frozenset({
    "all agencies", "agencies", "all partners", "partners", "partner agencies", "the partnership",
    "everyone", "all", "relevant agencies", "all relevant agencies", "professionals",
    "practitioners", "all organisations", "organisations", "services", "all services",
})

_WORD = re.compile(r"[a-z0-9']+")


def _contains(text: str, phrase: str) -> bool:
    if phrase.strip() != phrase or not phrase[-1].isalnum():
        return phrase in text
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None


def assess(text: str, addressee_names: Sequence[str], *, measure_of_success: str | None,
           target_date: date | None) -> SmartAssessment:
    """The SMART check of one recommendation: findings with reasons and a quality score."""
    lowered = " ".join(text.lower().split())
    findings: list[SmartFinding] = []
    named = [n for n in addressee_names if n.strip().lower() not in GENERIC_ADDRESSEES]
    if not named:
        findings.append(SmartFinding(
            flag=SmartFlag.NO_NAMED_ADDRESSEE,
            reason="No named agency owns the action (only generic addressees such as 'all "
            "agencies'); name the agency or department responsible."))
    vague = [p for p in VAGUE_PHRASES if _contains(lowered, p)]
    if not any(_contains(lowered, verb) for verb in CONCRETE_ACTIONS):
        findings.append(SmartFinding(
            flag=SmartFlag.NO_CONCRETE_ACTION,
            reason="The wording names no concrete action (such as introduce, train, audit, "
            "publish, revise); say what will be done."))
    if measure_of_success is None and not any(_contains(lowered, cue) for cue in MEASURE_CUES):
        findings.append(SmartFinding(
            flag=SmartFlag.NO_MEASURE_OF_SUCCESS,
            reason="No measure of success: say how anyone will know it worked (an audit, a "
            "percentage of staff trained, a report to the CSP board)."))
    if target_date is None:
        findings.append(SmartFinding(
            flag=SmartFlag.NO_TARGET_DATE,
            reason="No target date: give the date by which the action is to be done."))
    if vague:
        quoted = ", ".join(f"'{p}'" for p in vague[:3])
        findings.append(SmartFinding(
            flag=SmartFlag.VAGUE_WORDING,
            reason=f"Vague wording ({quoted}) states an aim, not an action; it disperses "
            "responsibility unless an owner, a measure and a date are added."))
    criteria_met = 4 - sum(1 for f in findings if f.flag is not SmartFlag.VAGUE_WORDING)
    score = criteria_met * POINTS_PER_CRITERION - (VAGUE_WORDING_PENALTY if vague else 0)
    return SmartAssessment(score=max(0, score), findings=tuple(findings))


# ----------------------------------------------------------------------- reading a report's text

_ADDRESSEE_KEYWORDS: tuple[tuple[AddresseeType, tuple[str, ...]], ...] = (
    (AddresseeType.COMMUNITY_SAFETY_PARTNERSHIP, ("community safety partnership", "csp",
                                                  "safer", "community safety")),
    (AddresseeType.GOVERNMENT_DEPARTMENT, ("home office", "department", "ministry",
                                           "hm government", "cabinet office", "dhsc", "dfe",
                                           "moj", "treasury", "hmcts", "government")),
    (AddresseeType.PROBATION, ("probation",)),
    (AddresseeType.POLICE, ("police", "constabulary", "met ")),
    (AddresseeType.IDVA_OR_DOMESTIC_ABUSE_SERVICE, ("idva", "domestic abuse", "women's aid",
                                                    "refuge", "marac", "domestic violence")),
    (AddresseeType.HEALTH_SERVICES, ("nhs", "health", "hospital", "gp", "integrated care",
                                     "icb", "clinical", "ambulance", "mental health",
                                     "foundation trust", "surgery", "medical")),
    (AddresseeType.SOCIAL_SERVICES, ("social care", "social services", "children's services",
                                     "adult services", "safeguarding", "council", "borough",
                                     "county")),
    (AddresseeType.HOUSING, ("housing", "homes", "landlord")),
    (AddresseeType.SCHOOL, ("school", "academy")),
    (AddresseeType.OTHER_EDUCATIONAL_INSTITUTION, ("college", "university")),
    (AddresseeType.RELIGIOUS_INSTITUTION, ("church", "mosque", "synagogue", "temple",
                                           "diocese", "gurdwara", "faith")),
    (AddresseeType.MILITARY, ("army", "royal navy", "raf", "armed forces", "ministry of defence",
                              "military")),
    (AddresseeType.EMPLOYER, ("employer", "ltd", "plc", "limited")),
)


def infer_addressee_type(name: str, level: RecommendationLevel) -> AddresseeType:
    """The library's category of an agency named in a report; when nothing matches, the
    government department for a national recommendation, else the CSP (which owns the area's
    action plan and allocates it)."""
    lowered = f" {' '.join(name.lower().split())} "
    for addressee_type, keywords in _ADDRESSEE_KEYWORDS:
        if any(_contains(lowered, k) for k in keywords):
            return addressee_type
    if level is RecommendationLevel.NATIONAL:
        return AddresseeType.GOVERNMENT_DEPARTMENT
    return AddresseeType.COMMUNITY_SAFETY_PARTNERSHIP


_THEME_KEYWORDS: tuple[tuple[RecommendationTheme, tuple[str, ...]], ...] = (
    (RecommendationTheme.TECHNOLOGY_SYSTEMS, ("system", "systems", " it ", "database", "software",
                                              "electronic", "digital", "flag", "alert")),
    (RecommendationTheme.IDENTIFICATION_OF_RISK, ("risk", "dash", "marac", "assessment",
                                                  "screening", "routine enquiry", "coercive")),
    (RecommendationTheme.TRAINING, ("training", "train", "trained", "learning", "e-learning")),
    (RecommendationTheme.POLICY, ("policy", "policies", "procedure", "guidance", "protocol",
                                  "pathway")),
    (RecommendationTheme.MULTI_AGENCY_WORKING, ("information sharing", "multi-agency",
                                                "multi agency", "partnership", "partners",
                                                "joint", "referral", "refer")),
    (RecommendationTheme.RECORD_KEEPING, ("record", "records", "recording", "documentation",
                                          "case notes")),
    (RecommendationTheme.AWARENESS_RAISING, ("awareness", "campaign", "publicity", "leaflet",
                                             "community", "public")),
)


def infer_themes(text: str) -> tuple[RecommendationTheme, ...]:
    """The Home Office library themes the wording speaks to, in library order; `other` when none."""
    lowered = f" {' '.join(text.lower().split())} "
    found = tuple(theme for theme, keywords in _THEME_KEYWORDS
                  if any(_contains(lowered, k) for k in keywords))
    return found or (RecommendationTheme.OTHER,)


def measure_in_text(text: str) -> bool:
    """Whether the wording itself states a measure of success."""
    lowered = " ".join(text.lower().split())
    return any(_contains(lowered, cue) for cue in MEASURE_CUES)


def addressee_id(name: str) -> str:
    """A stable id for an addressee within a recommendation: a slug of its name."""
    slug = "-".join(_WORD.findall(name.lower().replace("'", "")))
    return (slug or "addressee")[:80].strip("-")


def unique_ids(names: Iterable[str]) -> list[str]:
    """Slugs of several names, numbered where two names share one.

    An id is never given twice, even when a numbered slug is another name's own slug:
    "Police", "Police." and "Police 2" get police, police-2 and police-2-2.
    """
    seen: dict[str, int] = {}
    taken: set[str] = set()
    ids = []
    for name in names:
        base = identifier = addressee_id(name)
        while identifier in taken:
            seen[base] = seen.get(base, 1) + 1
            identifier = f"{base[:76]}-{seen[base]}"
        taken.add(identifier)
        ids.append(identifier)
    return ids
