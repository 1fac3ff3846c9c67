"""Who may do what in the oversight service (ADR 0008, docs/security.md).

Oversight bodies (the Home Office, the Domestic Abuse Commissioner) read everything and change
nothing. Checkpoints, verifier keys and consistency proofs hold no personal data: anyone with a
token may fetch them to verify the ledger. Inclusion proofs carry the event itself, so they are
for oversight readers; a CSP's review manager may read the history of their own area's reviews
and the national statistics. Signing a checkpoint on demand is an operator's command (the
service also signs them by itself every N events or T seconds).
"""

from __future__ import annotations

from dhr_platform.policy import Permissions
from dhr_platform.principal import Principal, Role

VERIFY_LEDGER = "read checkpoints, verifier keys and consistency proofs"
ISSUE_CHECKPOINT = "sign a checkpoint on demand"
READ_EVENTS = "read the ledger's events (inclusion proofs)"
READ_REVIEW_HISTORY = "read a review's history"
READ_TIMELINESS = "read the timeliness statistics"
READ_NATIONAL_STATISTICS = "read the national statistics"

PERMISSIONS = Permissions({
    VERIFY_LEDGER: set(Role),
    ISSUE_CHECKPOINT: {Role.ADMIN},
    READ_EVENTS: {Role.OVERSIGHT_READER},
    READ_REVIEW_HISTORY: {Role.OVERSIGHT_READER, Role.REVIEW_MANAGER},
    READ_TIMELINESS: {Role.OVERSIGHT_READER},
    READ_NATIONAL_STATISTICS: {Role.OVERSIGHT_READER, Role.REVIEW_MANAGER},
})


def may_read_history(principal: Principal, csp_area: str | None) -> bool:
    """Oversight reads every review's history; a review manager their own area's."""
    if principal.has(Role.OVERSIGHT_READER):
        return True
    return principal.has(Role.REVIEW_MANAGER) and principal.belongs_to(csp_area)
