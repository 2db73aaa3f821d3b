"""Strict checks of values that come from outside (JSON bodies, query strings), with per-field messages."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timezone
from typing import Any


class ValidationError(ValueError):
    """Some fields of a request are missing or wrong; `fields` maps each to what is wrong with it."""

    def __init__(self, fields: Mapping[str, str], message: str | None = None):
        self.fields = dict(fields)
        super().__init__(message or "Some fields are not valid: " + ", ".join(sorted(self.fields)) + ".")


class Errors:
    """Collects per-field problems so that one answer lists all of them."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, message)

    def __contains__(self, name: str) -> bool:
        return name in self.fields

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationError(self.fields)


# Plain decimal notation only: query strings like "nan", "inf", "0x10" or "1e309" are refused before float().
# ASCII digits only: Python's \d (and str.isdigit) also take "٣" and "²", which are not how anyone writes a number
# in a URL.
_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$")
ID_MAX = 2**63 - 1  # PostgreSQL bigint


def _range(minimum: float | None, maximum: float | None) -> str:
    def shown(bound: float) -> str:
        return f"{bound:g}" if isinstance(bound, float) else str(bound)

    if minimum is None:
        return f"must be at most {shown(maximum)}"
    if maximum is None:
        return f"must be at least {shown(minimum)}"
    return f"must be between {shown(minimum)} and {shown(maximum)}"


def number(value: Any, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite JSON number within bounds; raises ValueError with a message for people."""
    # bool is an int subclass in Python, and true/false are not coordinates.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number (not a string)" if isinstance(value, str) else "must be a number")
    try:
        value = float(value)
    except OverflowError:  # a JSON integer of hundreds of digits
        raise ValueError("must be a finite number") from None
    # json.loads turns NaN, Infinity and out-of-range literals such as 1e309 into non-finite floats.
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ValueError(_range(minimum, maximum))
    return value


def number_text(text: str, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite number written in a query string."""
    text = text.strip()
    if not _DECIMAL.match(text):
        raise ValueError("must be a decimal number")
    return number(float(text), minimum=minimum, maximum=maximum)


def integer(value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A JSON integer (2.0 is accepted, 2.5 and "2" are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be an integer (not a string)" if isinstance(value, str) else "must be an integer")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError("must be an integer")
        value = int(value)
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ValueError(_range(minimum, maximum))
    return value


def row_id(value: Any, name: str) -> int | None:
    """An optional database id (a positive bigint) from a JSON field; a bad one is a ValidationError on name."""
    if value is None:
        return None
    try:
        return integer(value, minimum=1, maximum=2**63 - 1)
    except ValueError as exc:
        raise ValidationError({name: str(exc)}) from None


def integer_text(text: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer written in a query string."""
    text = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", text):
        raise ValueError("must be an integer")
    return integer(int(text), minimum=minimum, maximum=maximum)


def id_text(text: str) -> int:
    """A database id written in a query string or a form (ASCII digits, 1 to the bigint maximum)."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]{1,19}", text) or not 1 <= int(text) <= ID_MAX:
        raise ValueError("must be an id (a whole number from 1)")
    return int(text)


def ids_text(text: str) -> list[int]:
    """Comma-separated ids (empty parts skipped); raises ValueError on the first that is not one."""
    return [id_text(part) for part in text.split(",") if part.strip()]


def text(value: Any, *, max_length: int, min_length: int = 1) -> str:
    """A string, stripped of surrounding white space, of bounded length (in characters)."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    value = value.strip()
    problem = unstorable(value)
    if problem:
        raise ValueError(problem)
    if len(value) < min_length:
        raise ValueError("must not be empty" if min_length == 1 else f"must be at least {min_length} characters")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters (got {len(value)})")
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A JSON string may escape half of a UTF-16 pair ("\ud800"); such a str cannot be written as UTF-8.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def has_control_characters(value: str) -> bool:
    """Whether the text holds NUL or another control character (tab, CR and LF are allowed)."""
    return _CONTROL.search(value) is not None


def has_lone_surrogates(value: str) -> bool:
    """Whether the text holds a surrogate code point, which UTF-8 (and so PostgreSQL) cannot carry."""
    return _SURROGATE.search(value) is not None


def unstorable(value: str) -> str | None:
    """Why this text may not be stored or sent to PostgreSQL, or None.

    PostgreSQL text cannot hold NUL (other control characters are kept out of what staff read), and UTF-8
    cannot carry half of a surrogate pair.
    """
    if has_control_characters(value):
        return "must not contain control characters"
    if has_lone_surrogates(value):
        return "must be valid Unicode (it has half of a surrogate pair)"
    return None


def timestamp_text(text: str) -> datetime:
    """An ISO 8601 date or date-time; a date means its midnight and a time without offset means UTC."""
    text = text.strip()
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            moment = datetime.combine(date.fromisoformat(text), time(0), tzinfo=timezone.utc)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an ISO 8601 date or date-time, e.g. 2024-05-01 or 2024-05-01T08:00:00+08:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return _within_years(moment)


YEARS = (1900, 2999)


def _within_years(moment: datetime) -> datetime:
    """Refuse moments near the ends of the calendar: year 1 with a +14:00 offset is 1 BC in UTC, which Python
    cannot hold, and week arithmetic near 9999 overflows. Nothing this service keeps is outside these years."""
    try:
        utc = moment.astimezone(timezone.utc)
    except OverflowError:
        utc = None
    if utc is None or not YEARS[0] <= utc.year <= YEARS[1] or not YEARS[0] <= moment.year <= YEARS[1]:
        raise ValueError(f"must be a date between {YEARS[0]} and {YEARS[1]}")
    return moment
