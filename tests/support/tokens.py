"""A token issuer for tests: the platform's development issuer under a test name, its JWKS in a
temporary directory, and the settings that make a service trust it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dhr_platform.auth import TokenVerifier, token_verifier_from
from dhr_platform.dev_issuer import DevelopmentIssuer
from dhr_platform.settings import PlatformSettings

TEST_ISSUER = "urn:dhr:test-issuer"
TEST_AUDIENCE = "dhr-test"
PURPOSE = "review-work"
"""The purpose test requests state for reading restricted material (`DHR-Purpose`)."""

# Who the tests act as, by default and in the authorisation tests: (role, organisation, subject).
REVIEW_MANAGER_NORFOLK = ("review_manager", "Norfolk", "rm-norfolk")
REVIEW_MANAGER_SUFFOLK = ("review_manager", "Suffolk", "rm-suffolk")
CHAIR = ("chair", "Independent Chairs Ltd", "chair-alex")
OVERSIGHT = ("oversight_reader", "Home Office", "ho-reader")
ADMIN = ("admin", "DHR operations", "ops-admin")
POLICE_LEAD = ("agency_lead", "Norfolk Constabulary", "lead-police")
HEALTH_LEAD = ("agency_lead", "Norfolk ICB", "lead-health")
POLICE_SYSTEM = ("agency_system", "Norfolk Constabulary", "system-police")


class TestIssuer:
    """Mints tokens the services under test accept."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, directory: Path):
        self.issuer = DevelopmentIssuer.load_or_create(directory, issuer=TEST_ISSUER,
                                                       audience=TEST_AUDIENCE)

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for a service's settings."""
        return {"auth_jwks_file": self.issuer.jwks_path, "auth_issuer": TEST_ISSUER,
                "auth_audience": TEST_AUDIENCE}

    def verifier(self) -> TokenVerifier:
        """A verifier that trusts this issuer, for apps built without a service's settings."""
        return token_verifier_from(PlatformSettings(**self.settings()))

    def token(self, role: str, organisation: str | None, subject: str | None = None,
              personal_data: bool = False) -> str:
        return self.issuer.mint(role=role, organisation=organisation, subject=subject,
                                personal_data=personal_data)

    def headers(self, who: tuple[str, str | None, str] | None = None, *, role: str | None = None,
                organisation: str | None = None, subject: str | None = None,
                purpose: str | None = PURPOSE, personal_data: bool = False) -> dict[str, str]:
        """An Authorization header for `who` (a triple above) or the role given, and the
        `DHR-Purpose` of the reads (none when `purpose` is None)."""
        if who is not None:
            role, organisation, subject = who
        assert role is not None
        token = self.token(role, organisation, subject, personal_data=personal_data)
        headers = {"Authorization": f"Bearer {token}"}
        if purpose is not None:
            headers["DHR-Purpose"] = purpose
        return headers
