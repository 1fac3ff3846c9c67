"""Who may do what in the integration service (ADR 0008, docs/security.md).

Webhook subscriptions are an agency's own: each sends the case records that concern the agency
(personal data included) to a URL the agency chooses, so only those who answer for the agency's
systems manage them: its case system (`agency_system`, the usual caller) and its lead for
reviews (`agency_lead`, who may set one up or stop it by hand). A panel member speaks for the
agency on one panel, not for its systems; review managers, Chairs, oversight bodies and operators
are no agency and have no subscriptions. Which subscriptions a caller sees is its token's
organisation: another organisation's subscription is the 404 of a missing one.
"""

from __future__ import annotations

from dhr_platform.policy import Permissions
from dhr_platform.principal import Role

MANAGE_WEBHOOKS = "manage an agency's webhook subscriptions, delivery logs and replays"

PERMISSIONS = Permissions({
    MANAGE_WEBHOOKS: {Role.AGENCY_LEAD, Role.AGENCY_SYSTEM},
})
