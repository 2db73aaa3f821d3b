"""How another system writes its reports: its column names, date formats, and category and status names.

Exports from hotlines and case systems rarely use our column names or ISO 8601. The import takes:

- ``--column KEY=HEADER``: which of the file's columns holds each of ours (KEY: id, latitude, longitude,
  category, status, created, resolved, closed, description, title, contact);
- ``--date-format FORMAT``: strftime-style formats (``%Y/%m/%d %H:%M``, ``%Y年%m月%d日``), tried in order
  before ISO 8601; each becomes an anchored regular expression that the database applies (set-based, no
  Python per row), and the parts it captures are checked by the same reader as an ISO date-time;
- ``--mapping FILE``: their category and status names to ours, as CSV (``field,theirs,ours``) or JSON
  (``{"category": {...}, "status": {...}}``).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

# The keys users name columns by (the words of the issue and of most exports), and our own column names.
COLUMN_KEYS = {
    "id": "external_id", "external_id": "external_id",
    "latitude": "lat", "lat": "lat",
    "longitude": "lon", "lon": "lon", "lng": "lon", "long": "lon",
    "category": "category",
    "status": "status",
    "created": "created_at", "created_at": "created_at",
    "resolved": "resolved_at", "resolved_at": "resolved_at",
    "closed": "closed_at", "closed_at": "closed_at",
    "description": "description",
    "title": "title",
    "contact": "contact",
}
KEYS = ("id", "latitude", "longitude", "category", "status", "created", "resolved", "closed", "description", "title",
        "contact")
# What a status may be mapped to; empty means "from the dates", as an empty status cell.
STATUS_TARGETS = ("reported", "confirmed", "resolved", "closed", "rejected", "open", "")
MAPPING_FIELDS = ("category", "status")

# strftime directive -> (capture group, part). Numbers allow one digit where exports drop the zero
# (2024/3/5 9:05); ranges (month 1-12, day of that month, hour 0-23, ...) are checked afterwards.
_DIRECTIVES = {
    "Y": (r"(\d{4})", "year"),
    "y": (r"(\d{2})", "year2"),
    "m": (r"(\d{1,2})", "month"),
    "d": (r"(\d{1,2})", "day"),
    "H": (r"(\d{1,2})", "hour"),
    "I": (r"(0?[1-9]|1[0-2])", "hour12"),
    "p": (r"([AaPp]\.?[Mm]\.?|上午|下午|中午|晚上)", "ampm"),
    "M": (r"(\d{1,2})", "minute"),
    "S": (r"(\d{1,2})", "second"),
    "f": (r"(\d{1,6})", "fraction"),
    "z": (r"([Zz]|[+-]\d\d(?::?\d\d)?)", "offset"),
}
# The order of the parts in the array the database's reader takes (etl/sql/reports_stage.sql).
PARTS = ("year", "year2", "month", "day", "hour", "hour12", "ampm", "minute", "second", "fraction", "offset")


class DialectError(ValueError):
    """The options describing the file are wrong (the message says which and why)."""


@dataclass(frozen=True)
class DateFormat:
    """One strftime-style format as the database applies it: an anchored pattern, and where each part is."""

    text: str
    pattern: str
    # 1-based capture group of each part in PARTS order, 0 where the format lacks it.
    groups: tuple[int, ...]


def columns(specs: dict[str, str] | list[str] | None) -> dict[str, str]:
    """``{"id": "工单编号"}`` or ``["id=工单编号"]`` -> {"external_id": "工单编号"}."""
    if not specs:
        return {}
    pairs = specs.items() if isinstance(specs, dict) else (_split_spec(s) for s in specs)
    out: dict[str, str] = {}
    for key, header in pairs:
        ours = COLUMN_KEYS.get(key.strip().lower())
        if ours is None:
            raise DialectError(f"--column {key}={header}: unknown column {key!r}; use one of {', '.join(KEYS)}")
        header = header.strip().lower()
        if not header:
            raise DialectError(f"--column {key}=: the header name is empty")
        if ours in out:
            raise DialectError(f"--column names {key!r} twice")
        if header in out.values():
            raise DialectError(f"--column names the header {header!r} for two columns")
        out[ours] = header
    return out


def _split_spec(spec: str) -> tuple[str, str]:
    key, sep, header = spec.partition("=")
    if not sep:
        raise DialectError(f"--column {spec}: write it as KEY=HEADER, e.g. id=工单编号")
    return key, header


def date_format(text: str) -> DateFormat:
    """A strftime-style format as an anchored pattern; refuses directives it cannot read back."""
    pattern = ["^"]
    groups = dict.fromkeys(PARTS, 0)
    group = 0
    chars = iter(range(len(text)))
    for i in chars:
        ch = text[i]
        if ch == "%":
            directive = text[i + 1] if i + 1 < len(text) else ""
            next(chars, None)
            if directive == "%":
                pattern.append("%")
                continue
            if directive not in _DIRECTIVES:
                raise DialectError(f"--date-format {text!r}: %{directive} is not supported; use "
                                   + " ".join(f"%{d}" for d in _DIRECTIVES) + " and %%")
            regex, part = _DIRECTIVES[directive]
            if groups[part]:
                raise DialectError(f"--date-format {text!r}: %{directive} appears twice")
            group += 1
            groups[part] = group
            pattern.append(regex)
        elif ch.isspace():
            # Exports pad with one space or several; a run of spaces in the format matches any run.
            if pattern[-1] != r"\s+":
                pattern.append(r"\s+")
        elif ch.isascii() and not ch.isalnum():
            pattern.append("\\" + ch)
        else:
            pattern.append(ch)
    pattern.append("$")
    if not (groups["year"] or groups["year2"]) or not groups["month"] or not groups["day"]:
        raise DialectError(f"--date-format {text!r}: a format needs a year (%Y or %y), %m and %d")
    if groups["year"] and groups["year2"]:
        raise DialectError(f"--date-format {text!r}: %Y and %y both give the year")
    if groups["hour"] and groups["hour12"]:
        raise DialectError(f"--date-format {text!r}: %H and %I both give the hour")
    if bool(groups["hour12"]) != bool(groups["ampm"]):
        raise DialectError(f"--date-format {text!r}: %I (12-hour clock) goes with %p (AM/PM), and %p with %I")
    if (groups["second"] and not groups["minute"]) or (groups["minute"] and not (groups["hour"] or groups["hour12"])):
        raise DialectError(f"--date-format {text!r}: seconds need minutes, and minutes an hour")
    if groups["fraction"] and not groups["second"]:
        raise DialectError(f"--date-format {text!r}: %f needs %S")
    return DateFormat(text, "".join(pattern), tuple(groups[p] for p in PARTS))


def read_mapping(path: Path) -> dict[str, dict[str, str]]:
    """Their category and status names to ours, from CSV (field,theirs,ours) or JSON; keys in lower case."""
    if not path.is_file():
        raise DialectError(f"--mapping {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DialectError(f"--mapping {path}: not UTF-8") from None
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DialectError(f"--mapping {path}: not JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
            raise DialectError(f'--mapping {path}: write it as {{"category": {{"theirs": "ours"}}, '
                               f'"status": {{"theirs": "ours"}}}}')
        rows = [(fld, theirs, ours, f"{fld}.{theirs}") for fld, names in doc.items() for theirs, ours in names.items()]
    else:
        reader = csv.reader(text.splitlines())
        header = [h.strip().lower() for h in next(reader, [])]
        if header != ["field", "theirs", "ours"]:
            raise DialectError(f"--mapping {path}: the header line must be field,theirs,ours "
                               f"(e.g. category,占道经营,street_vending)")
        rows = []
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != 3:
                raise DialectError(f"--mapping {path}: line {line} has {len(row)} fields, not 3")
            rows.append((row[0], row[1], row[2], f"line {line}"))
    mapping: dict[str, dict[str, str]] = {f: {} for f in MAPPING_FIELDS}
    for fld, theirs, ours, where in rows:
        fld = str(fld).strip().lower()
        if fld not in MAPPING_FIELDS:
            raise DialectError(f"--mapping {path}: {where}: field {fld!r} is neither category nor status")
        if not isinstance(theirs, str) or not isinstance(ours, str):
            raise DialectError(f"--mapping {path}: {where}: names are text")
        key, value = theirs.strip().lower(), ours.strip()
        if not key:
            raise DialectError(f"--mapping {path}: {where}: their name is empty")
        if fld == "status":
            value = value.lower()
            if value not in STATUS_TARGETS:
                raise DialectError(f"--mapping {path}: {where}: status {ours!r} cannot be imported; map to "
                                   f"{', '.join(s for s in STATUS_TARGETS if s)} or leave it empty (from the dates)")
        elif not value:
            raise DialectError(f"--mapping {path}: {where}: the category {theirs!r} is mapped to nothing")
        if mapping[fld].get(key, value) != value:
            raise DialectError(f"--mapping {path}: {where}: {fld} {theirs!r} is mapped twice, to "
                               f"{mapping[fld][key]!r} and {value!r}")
        mapping[fld][key] = value
    return mapping
