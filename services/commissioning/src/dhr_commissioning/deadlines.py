"""Calendar arithmetic for statutory deadlines. Pure, standard library only."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def add_months(start: date, months: int) -> date:
    """`start` plus calendar months, the day clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last_day))


def days_between(start: date, end: date) -> int:
    """Whole days from `start` to `end` (0 when the same day)."""
    return (end - start).days


def extend_by_days(due_on: date, days: int) -> date:
    """A due date moved later by `days` (used to take pauses off the clock)."""
    return due_on + timedelta(days=days)
