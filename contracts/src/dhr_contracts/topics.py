"""Kafka topic names: one topic per service, keyed by review id, kept forever."""

from typing import Final

INTAKE_NOTIFICATIONS: Final = "dhr.intake.notifications.v1"
COMMISSIONING_EVENTS: Final = "dhr.commissioning.events.v1"
PANEL_EVENTS: Final = "dhr.panel.events.v1"
LEARNING_EVENTS: Final = "dhr.learning.events.v1"
RECOMMENDATIONS_EVENTS: Final = "dhr.recommendations.events.v1"
OVERSIGHT_CHECKPOINTS: Final = "dhr.oversight.checkpoints.v1"


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of `topic`, where messages go that kept failing."""
    return f"{topic}.dlq"
