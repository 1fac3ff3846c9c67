"""The envelope every event travels in: CloudEvents 1.0, binary mode on Kafka."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE: Literal["application/json"] = "application/json"

# CloudEvents attributes carried as Kafka headers `ce_<name>` (binary content mode).
# Extension names are lower-case alphanumerics, as the CloudEvents spec requires.
HEADER_PREFIX = "ce_"


class Envelope(BaseModel):
    """One event as published: CloudEvents context attributes, our extensions and the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID = Field(description="Event id, unique for ever; consumers deduplicate on it.")
    source: str = Field(description="URI reference of the producing service, e.g. /dhr/commissioning.")
    type: str = Field(description="Stable, versioned event type, e.g. dhr.commissioning.ChairAppointed.v1.")
    subject: str = Field(description="The review id: also the Kafka record key.")
    time: datetime = Field(description="When the event was recorded (UTC).")
    specversion: Literal["1.0"] = SPEC_VERSION
    datacontenttype: Literal["application/json"] = CONTENT_TYPE
    stream: str = Field(description="Event-store stream the event belongs to.")
    streamversion: int = Field(ge=1, description="Position of the event within its stream, from 1.")
    correlationid: UUID = Field(description="Id shared by every event caused by one request.")
    causationid: UUID | None = Field(default=None, description="Id of the message that caused it.")
    actor: str = Field(description="Who or what issued the command (user, agency system or service).")
    traceparent: str | None = Field(default=None, description="W3C trace context of the write.")
    datakeyid: UUID | None = Field(
        default=None, description="Id of the review data key that sealed the personal values in "
        "`data` (`dhr-sealed:v1:...` strings); absent when the event holds none.")
    data: dict[str, Any] = Field(description="The event payload, as JSON.")

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """Headers for Kafka binary content mode: every attribute but `data` as `ce_<name>`."""
        headers: list[tuple[str, bytes]] = [("content-type", self.datacontenttype.encode())]
        for name, value in self.model_dump(mode="json", exclude={"data", "datacontenttype"}).items():
            if value is not None:
                headers.append((HEADER_PREFIX + name, str(value).encode()))
        if self.traceparent is not None:
            # Also the plain W3C header, which OpenTelemetry's Kafka propagation reads.
            headers.append(("traceparent", self.traceparent.encode()))
        return headers

    def kafka_value(self) -> bytes:
        """The record value in binary content mode: the data alone, as compact UTF-8 JSON."""
        return json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_kafka(cls, headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...],
                   value: bytes) -> Envelope:
        """Rebuild an envelope from a Kafka record in binary content mode."""
        attributes: dict[str, Any] = {}
        for name, raw in headers:
            if name.startswith(HEADER_PREFIX):
                attributes[name[len(HEADER_PREFIX):]] = raw.decode()
        attributes["data"] = json.loads(value)
        return cls.model_validate(attributes)
