"""Base types of the published language: event payloads and personal-data marking."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

PERSONAL_DATA_KEY = "x-personal-data"


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
