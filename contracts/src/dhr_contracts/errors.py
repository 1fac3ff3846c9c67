"""The one base of every domain's refusals, so that adapters can answer them alike."""

from __future__ import annotations


class DomainError(Exception):
    """A command the domain refuses. `field` names the offending input field, when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
