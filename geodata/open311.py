"""Open311 GeoReport v2: the issue map as services and service requests (http://wiki.open311.org/GeoReport_v2).

This module speaks the spec's vocabulary and returns plain dicts and lists in the spec's field order;
webmap.open311 renders them as JSON or XML. Service codes are category codes, a service request is an
issue (service_request_id = issue id), and reports come in through geodata.issues.report with
source='open311'. Nothing here reads or returns the reporter's contact details.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from geodata import issues, permissions, validation
from geodata.permissions import Actor
from geodata.validation import Errors, ValidationError

log = logging.getLogger(__name__)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
FORMATS = {"json": "application/json", "xml": "text/xml"}
# "Default query limit is a span of 90 days or first 1000 requests returned, whichever is smallest."
WINDOW = timedelta(days=90)
LIMIT = 1000
LANGUAGES = ("zh", "en")
DEFAULT_TIMEZONE = "Asia/Shanghai"
# Every service is answered at once with its id: no tokens, no attributes to fill in.
SERVICE_TYPE = "realtime"

_REQUESTS_SQL = (Path(__file__).with_name("open311.sql")).read_text(encoding="utf-8")
_BY_IDS = "WHERE i.id = ANY (%(ids)s::bigint[])"
# Written as plain range and equality predicates so the planner walks issues_created_idx backwards and
# stops after LIMIT rows.
_BY_WINDOW = """
WHERE i.created_at >= %(start)s AND i.created_at <= %(end)s
  AND (%(codes)s::text[] IS NULL OR i.category = ANY (%(codes)s::text[]))
  AND (%(final)s::boolean IS NULL OR (i.status IN ('closed', 'rejected', 'duplicate')) = %(final)s::boolean)
"""
_ORDER = "ORDER BY i.created_at DESC, i.id DESC LIMIT %(limit)s"

_SERVICES = """
SELECT code, name, name_en, sla_days FROM categories WHERE active ORDER BY sort_order, code
"""
_SERVICE = "SELECT code, name, name_en, sla_days FROM categories WHERE active AND code = %s"
# Categories are seeded and changed by migrations, so the last migration dates the service list.
_CHANGESET = "SELECT max(applied_at) FROM schema_migrations"

# What the service says in its own voice, in the two languages of the UI.
_TEXT = {
    "zh": {
        "notice": "服务承诺：{days} 天内处理。",
        "service": "{name}。服务承诺：{days} 天内处理。",
        "duplicate": "与第 {id} 号诉求重复，请关注该诉求。",
        "rejected": "未予受理。",
        "office": "{street}办事处",
        "address_note": "地址",
    },
    "en": {
        "notice": "Handled within {days} day(s) under the service level agreement.",
        "service": "{name}. Handled within {days} day(s) under the service level agreement.",
        "duplicate": "Duplicate of request {id}; follow that request instead.",
        "rejected": "Not accepted.",
        "office": "{street} office",
        "address_note": "Address",
    },
}


# ---------------------------------------------------------------- errors


class InvalidApiKey(permissions.PermissionDenied):
    """POST without an api_key, or with one that is unknown, revoked or expired (the spec's 403)."""

    def __init__(self, message: str):
        super().__init__("open311.post", message)


class UnknownService(LookupError):
    """No active category has this service_code (the spec's 404)."""

    def __init__(self, code: str):
        super().__init__(f"There is no service with service_code {code!r}; GET services for the list.")
        self.code = code


# ---------------------------------------------------------------- settings


def timezone_name() -> str:
    """The deployment's local time zone (TIMEZONE, default Asia/Shanghai, the first deployment's)."""
    return os.environ.get("TIMEZONE") or DEFAULT_TIMEZONE


def local_timezone() -> tzinfo:
    """The zone date-times are written in (TIMEZONE): the offset is always included."""
    name = timezone_name()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown TIMEZONE %r; writing date-times in UTC", name)
        return timezone.utc


def w3_datetime(moment: datetime | None, zone: tzinfo | None = None) -> str | None:
    """A W3C-profile ISO 8601 date-time with its offset, to the second: 2024-05-01T08:00:00+08:00."""
    if moment is None:
        return None
    return moment.astimezone(zone or local_timezone()).isoformat(timespec="seconds")


def language(accepted: str | None) -> str:
    """zh or en, whichever the client names first (default zh, the language of the deployment)."""
    return accepted if accepted in LANGUAGES else LANGUAGES[0]


# ---------------------------------------------------------------- discovery and services


def discovery(conn: psycopg.Connection, endpoint_url: str, *, contact: str, key_service: str,
              endpoint_type: str = "production") -> dict:
    """The Service Discovery document (http://wiki.open311.org/Service_Discovery), one endpoint."""
    changed = conn.execute(_CHANGESET).fetchone()[0]
    # UTC with Z: the changeset must sort as text, and one zone for every value guarantees that.
    changeset = changed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if changed else "1970-01-01T00:00:00Z"
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": endpoint_url,
            "changeset": changeset,
            "type": endpoint_type,
            "formats": [FORMATS["xml"], FORMATS["json"]],
        }],
    }


def _name(row: Mapping[str, Any], lang: str, key: str = "name") -> str | None:
    if lang == "en" and row.get(f"{key}_en"):
        return row[f"{key}_en"]
    return row.get(key)


def _service(row: Mapping[str, Any], lang: str) -> dict:
    name = _name(row, lang)
    return {
        "service_code": row["code"],
        "service_name": name,
        "description": _TEXT[lang]["service"].format(name=name, days=row["sla_days"]),
        # No service has extra fields to fill in, so no client needs to ask for a definition.
        "metadata": False,
        "type": SERVICE_TYPE,
        "keywords": ", ".join(dict.fromkeys(k for k in (row["name"], row["name_en"], row["code"]) if k)),
        "group": None,
    }


def services(conn: psycopg.Connection, lang: str = "zh") -> list[dict]:
    """GET Service List: every active category, in the order the report form shows them."""
    with conn.cursor(row_factory=dict_row) as cur:
        return [_service(row, lang) for row in cur.execute(_SERVICES)]


def _category(conn: psycopg.Connection, code: str) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SERVICE, (code,)).fetchone()
    if row is None:
        raise UnknownService(code)
    return row


def service(conn: psycopg.Connection, code: str, lang: str = "zh") -> dict:
    """One service of the list (UnknownService when there is none)."""
    return _service(_category(conn, code), lang)


def service_definition(conn: psycopg.Connection, code: str) -> dict:
    """GET Service Definition. Our services have no attributes, so the definition is the code and an
    empty attribute list (still valid for clients that ask although metadata is false)."""
    service(conn, code)
    return {"service_code": code, "attributes": []}


# ---------------------------------------------------------------- reading requests


@dataclass(frozen=True)
class RequestQuery:
    """The filters of GET Service Requests, already defaulted as the spec says."""

    ids: tuple[int, ...] | None = None
    codes: tuple[str, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None
    # None: both; True: closed only; False: open only.
    final: bool | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str], now: datetime | None = None) -> RequestQuery:
        """Parse service_request_id, service_code, start_date, end_date and status (lists comma-separated).

        service_request_id overrides every other argument. Without dates the window is the last 90 days;
        with one date it is the 90 days after start_date or before end_date; a window wider than 90 days
        is refused. Empty arguments count as absent ("Optional Arguments" in the spec).
        """
        now = now or datetime.now(timezone.utc)
        errors = Errors()

        def items(name: str) -> list[str]:
            return [part.strip() for part in (args.get(name) or "").split(",") if part.strip()]

        ids = items("service_request_id")
        if ids:
            values: list[int] = []
            for text in ids:
                # Our ids are positive integers; anything else cannot name a request of ours.
                if not re.fullmatch(r"\d{1,18}", text):
                    errors.add("service_request_id", f"{text!r} is not a service_request_id of this service")
                    break
                values.append(int(text))
            if len(values) > LIMIT:
                errors.add("service_request_id", f"at most {LIMIT} ids at once")
            errors.raise_if_any()
            return cls(ids=tuple(dict.fromkeys(values)))

        codes = tuple(dict.fromkeys(items("service_code"))) or None
        moments: dict[str, datetime] = {}
        for name in ("start_date", "end_date"):
            if (args.get(name) or "").strip():
                try:
                    moments[name] = validation.timestamp_text(args[name])
                except ValueError:
                    errors.add(name, "must be a W3C date-time such as 2010-01-01T00:00:00Z")
        statuses = items("status")
        bad = [s for s in statuses if s not in ("open", "closed")]
        if bad:
            errors.add("status", f"{bad[0]!r} is not a status; use open, closed or both (comma-separated)")
        errors.raise_if_any()

        start, end = moments.get("start_date"), moments.get("end_date")
        if start is None and end is None:
            start, end = now - WINDOW, now
        elif start is None:
            start = end - WINDOW
        elif end is None:
            end = start + WINDOW
        if start > end:
            raise ValidationError({"start_date": "must not be after end_date"})
        if end - start > WINDOW:
            raise ValidationError({"end_date": "start_date and end_date may not span more than 90 days"})
        wanted = set(statuses)
        final = None if wanted in (set(), {"open", "closed"}) else wanted == {"closed"}
        return cls(codes=codes, start=start, end=end, final=final)


def check_codes(conn: psycopg.Connection, codes: tuple[str, ...] | None) -> None:
    """Refuse unknown service codes in a filter (a typo would otherwise quietly match nothing)."""
    if not codes:
        return
    known = {r[0] for r in conn.execute("SELECT code FROM categories WHERE code = ANY (%s)", (list(codes),))}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ValidationError({"service_code": f"there is no service with service_code {unknown[0]!r}"})


def _record(row: Mapping[str, Any], lang: str, zone: tzinfo) -> dict:
    """One service request in the spec's field order. Absent values are None (JSON null, empty XML)."""
    text = _TEXT[lang]
    final = row["status"] in issues.FINAL
    notes = row["status_notes"]
    if notes is None and row["status"] == "duplicate":
        notes = text["duplicate"].format(id=row["duplicate_of"])
    elif notes is None and row["status"] == "rejected":
        notes = text["rejected"]
    street = _name(row, lang, "street_name")
    agency = _name(row, lang, "party_name")
    if agency is None and street:
        agency = street if street.endswith("办事处") else text["office"].format(street=street)
    place = [_name(row, lang, "community_name"), street]
    return {
        "service_request_id": row["id"],
        "status": "closed" if final else "open",
        "status_notes": notes,
        "service_name": _name(row, lang, "category_name"),
        "service_code": row["category"],
        "description": row["description"],
        "agency_responsible": agency,
        "service_notice": text["notice"].format(days=row["sla_days"]),
        "requested_datetime": w3_datetime(row["created_at"], zone),
        # "For requests with status=closed, this will be the date the request was closed."
        "updated_datetime": w3_datetime(row["closed_at"] if final and row["closed_at"] else row["updated_at"], zone),
        "expected_datetime": w3_datetime(row["due_at"], zone),
        # No street addresses are kept: the community and street name where the point lies.
        "address": ", ".join(p for p in place if p),
        "address_id": None,
        "zipcode": None,
        "lat": round(row["lat"], 7),
        "long": round(row["lon"], 7),
        # No media are hosted; see docs/open311.md.
        "media_url": None,
    }


def requests(conn: psycopg.Connection, query: RequestQuery, lang: str = "zh") -> list[dict]:
    """GET Service Requests: newest first, at most 1000."""
    if query.ids is not None:
        where, params = _BY_IDS, {"ids": list(query.ids)}
    else:
        check_codes(conn, query.codes)
        where = _BY_WINDOW
        params = {"start": query.start, "end": query.end, "final": query.final,
                  "codes": list(query.codes) if query.codes else None}
    params["limit"] = LIMIT
    statement = sql.SQL("\n").join([sql.SQL(_REQUESTS_SQL), sql.SQL(where), sql.SQL(_ORDER)])
    zone = local_timezone()
    with conn.cursor(row_factory=dict_row) as cur:
        return [_record(row, lang, zone) for row in cur.execute(statement, params)]


def request(conn: psycopg.Connection, service_request_id: str | int, lang: str = "zh") -> dict:
    """GET Service Request: one request (issues.IssueNotFound when there is none)."""
    text = str(service_request_id)
    if not re.fullmatch(r"\d{1,18}", text):
        raise issues.IssueNotFound(service_request_id)
    found = requests(conn, RequestQuery(ids=(int(text),)), lang)
    if not found:
        raise issues.IssueNotFound(service_request_id)
    return found[0]


# ---------------------------------------------------------------- creating requests

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")


def contact_text(form: Mapping[str, str]) -> str | None:
    """The submitter's name, email and phone as one private contact line: "Li Lei <li@example.org> 138..."."""
    name = " ".join(v for v in ((form.get("first_name") or "").strip(), (form.get("last_name") or "").strip()) if v)
    email = (form.get("email") or "").strip()
    phone = (form.get("phone") or "").strip()
    parts = [name, f"<{email}>" if email else "", phone]
    return " ".join(p for p in parts if p) or None


def _address_note(description: str, note: str) -> str:
    """The address note, shortened to what room the description leaves.

    The spec allows 4,000 characters of description; the address is kept beside it only as far as our
    limit allows, because the request is placed by its coordinates and the resident's words come first.
    """
    room = issues.DESCRIPTION_MAX - len(description)
    if len(note) <= room:
        return note
    return note[:room - 1] + "…" if room > 20 else ""


def create_request(conn: psycopg.Connection, actor: Actor, form: Mapping[str, str], lang: str = "zh") -> dict:
    """POST Service Request from the form's fields; returns the spec's answer for one request.

    lat & long are required: we route by the community the point lies in, so an address_string or
    address_id alone (we geocode nothing) is refused. The contact fields are stored as the issue's
    private contact; device_id, account_id, media_url and attribute[...] are accepted and not kept.
    An address_string sent with coordinates is appended to the description, so that staff see it.
    """
    errors = Errors()
    code = (form.get("service_code") or "").strip()
    if not code:
        errors.add("service_code", "is required; GET services for the list")
    coords: dict[str, float] = {}
    has_point = any((form.get(n) or "").strip() for n in ("lat", "long"))
    if has_point:
        for name, low, high in (("lat", -90, 90), ("long", -180, 180)):
            value = (form.get(name) or "").strip()
            if not value:
                errors.add(name, "lat and long must be sent together")
                continue
            try:
                coords[name] = validation.number_text(value, minimum=low, maximum=high)
            except ValueError as exc:
                errors.add(name, str(exc))
    elif (form.get("address_string") or "").strip() or (form.get("address_id") or "").strip():
        errors.add("lat", "lat and long are required: this service places requests by their coordinates "
                          "and cannot look up an address_string or address_id")
    else:
        errors.add("lat", "a location is required: send lat and long")
    errors.raise_if_any()
    cat = _category(conn, code)

    # The spec makes description optional; our issues need one, and the service's name is true.
    description = (form.get("description") or "").strip() or _name(cat, lang)
    address = (form.get("address_string") or "").strip()
    if address:
        description += _address_note(description, f"\n\n{_TEXT[lang]['address_note']}: {address}")
    contact = contact_text(form)
    if contact and len(contact) > issues.CONTACT_MAX:
        raise ValidationError({"email": f"name, email and phone together must be at most {issues.CONTACT_MAX} "
                                        "characters"})
    payload = {"lat": coords["lat"], "lon": coords["long"], "category": code, "description": description,
               "contact": contact}
    try:
        reported = issues.report(conn, actor, payload, source="open311")
    except ValidationError as exc:
        # The core names longitude "lon"; Open311 clients sent "long".
        raise ValidationError({("long" if k == "lon" else k): v for k, v in exc.fields.items()}) from None
    return {
        "service_request_id": reported.issue.id,
        "service_notice": _TEXT[lang]["notice"].format(days=cat["sla_days"]),
        "account_id": None,
    }

