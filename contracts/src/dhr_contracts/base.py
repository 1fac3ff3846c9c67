"""Base types of the published language: event payloads and personal-data marking."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

PERSONAL_DATA_KEY = "x-personal-data"

SEALED_PREFIX = "dhr-sealed:v1:"
"""How a sealed personal value starts. The whole form is `dhr-sealed:v1:<key id>:<box>`: the
review's data key id (32 lower-case hex digits) and base64url without padding of the 12-byte
AES-GCM nonce followed by the ciphertext and its 16-byte tag (docs/security.md)."""

SEALED_PATTERN = r"^dhr-sealed:v1:[0-9a-f]{32}:[A-Za-z0-9_-]{38,}$"


def is_sealed(value: object) -> bool:
    """Whether a value is a sealed personal value (its plaintext needs the review's data key)."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def personal(description: str, **kwargs: Any) -> Any:
    """A field that holds personal data: marked in the JSON Schema so it can be encrypted or erased."""
    extra: dict[str, JsonValue] = {PERSONAL_DATA_KEY: True}
    return Field(description=description, json_schema_extra=extra, **kwargs)


class EventPayload(BaseModel):
    """The data of one event. Subclasses set `event_type` to a stable, versioned name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    """Stable name plus version, e.g. `dhr.commissioning.ChairAppointed.v1`. Never a Python path."""

    @classmethod
    def personal_fields(cls) -> frozenset[str]:
        """Names of the fields marked as personal data."""
        names = set()
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get(PERSONAL_DATA_KEY):
                names.add(name)
        return frozenset(names)


NonEmptyText = Annotated[str, Field(min_length=1, max_length=10_000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
SealedText = Annotated[str, Field(pattern=SEALED_PATTERN, max_length=20_000)]
"""A personal value as stored and published: sealed with the review's data key."""
PersonalShortText = SealedText | ShortText
"""A short personal value (a name): plaintext when a command makes it, sealed once recorded."""
PersonalText = SealedText | NonEmptyText
"""Personal free text (testimony, notes): plaintext when a command makes it, sealed once
recorded."""
