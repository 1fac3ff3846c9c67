"""Deadline arithmetic for recommendations (pure): response due dates, re-verification dates,
and target dates read from a recommendation's wording."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date, timedelta

from dhr_contracts.recommendations import AddresseeType

DEFAULT_RESPONSE_DUE_DAYS = 56
DEFAULT_REVERIFICATION_MONTHS = 12


def add_months(start: date, months: int) -> date:
    """`start` plus whole months; a day that the target month lacks becomes its last day
    (31 January + 1 month = 28 or 29 February)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def response_due_on(issued_on: date, addressee_type: AddresseeType,
                    due_days: Mapping[AddresseeType, int] | None = None,
                    default_days: int = DEFAULT_RESPONSE_DUE_DAYS) -> date:
    """The date a response is due: the days allowed for the addressee's type (default 56) after
    the issue date."""
    days = (due_days or {}).get(addressee_type, default_days)
    return issued_on + timedelta(days=days)


def reverify_on(verified_on: date, months: int = DEFAULT_REVERIFICATION_MONTHS) -> date:
    """When a verified implementation is checked again to see the change lasted."""
    return add_months(verified_on, months)


def is_past(due_on: date | None, as_of: date) -> bool:
    """A deadline is overdue the day after it: due today is not late yet."""
    return due_on is not None and as_of > due_on


_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_WITHIN = re.compile(r"\bwithin\s+(\d{1,3}|one|two|three|four|six|nine|twelve|eighteen)\s+"
                     r"(day|week|month|year)s?\b", re.IGNORECASE)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "six": 6, "nine": 9, "twelve": 12,
                 "eighteen": 18}
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DAY_MONTH_YEAR = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]{3,9})\s+(\d{4})\b")
_MONTH_YEAR = re.compile(r"\b(?:by|before|end\s+of|in)\s+([A-Za-z]{3,9})\s+(\d{4})\b",
                         re.IGNORECASE)
_SLASH_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")


def target_date_in_text(text: str, issued_on: date) -> date | None:
    """The first target date the wording states, if any: an explicit date ("31 March 2027",
    "2027-03-31", "31/03/2027"), a month ("by March 2027": its last day) or a period from issue
    ("within six months")."""
    for finder in (_explicit_date, _month_date, _period_date):
        found = finder(text, issued_on)
        if found is not None:
            return found
    return None


def _explicit_date(text: str, issued_on: date) -> date | None:
    if match := _ISO_DATE.search(text):
        return _safe_date(int(match[1]), int(match[2]), int(match[3]))
    if match := _SLASH_DATE.search(text):  # day/month/year, as written in England and Wales
        return _safe_date(int(match[3]), int(match[2]), int(match[1]))
    for match in _DAY_MONTH_YEAR.finditer(text):
        month = _MONTHS.get(match[2].lower())
        if month is not None:
            return _safe_date(int(match[3]), month, int(match[1]))
    return None


def _month_date(text: str, issued_on: date) -> date | None:
    for match in _MONTH_YEAR.finditer(text):
        month = _MONTHS.get(match[1].lower())
        if month is not None:
            year = int(match[2])
            return date(year, month, calendar.monthrange(year, month)[1])
    return None


def _period_date(text: str, issued_on: date) -> date | None:
    match = _WITHIN.search(text)
    if match is None:
        return None
    raw = match[1].lower()
    count = _NUMBER_WORDS[raw] if raw in _NUMBER_WORDS else int(raw)
    unit = match[2].lower()
    if unit == "day":
        return issued_on + timedelta(days=count)
    if unit == "week":
        return issued_on + timedelta(weeks=count)
    return add_months(issued_on, count * (12 if unit == "year" else 1))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
