"""Issues: reporting, the lifecycle, history, supports, comments, duplicates nearby and the SLA.

Every function takes a psycopg connection and an Actor and returns plain data; refusals are the typed
errors below (webmap.errors maps them to HTTP statuses). Each changing function runs in one
transaction of its own (a savepoint when the caller already has one open), or is one statement (report()),
so a change and its history row are written together or not at all.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields as dataclass_fields
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader

from geodata import audit, chinacrs, permissions, ratelimit, tokens, validation
from geodata.permissions import Actor
from geodata.validation import Errors, ValidationError

log = logging.getLogger(__name__)

STATUSES = ("reported", "confirmed", "rejected", "assigned", "duplicate", "in_progress", "resolved", "closed",
            "reopened")
# Final states: nothing leaves them. Open311 reports these as "closed" and everything else as "open".
FINAL = frozenset({"closed", "rejected", "duplicate"})
OPEN = frozenset(STATUSES) - FINAL
# Waiting for somebody to act on it: what the SLA clock and the overdue list look at ("resolved" waits
# for the reporter, not for the service).
PENDING = OPEN - {"resolved"}

# THE lifecycle: exactly the edges drawn in DESIGN.md, and the permission each one needs.
#
#   reported -> confirmed -> assigned -> in_progress -> resolved -> closed
#      |            |           |            |              |
#      +-> rejected +-> duplicate            +--------------+-> reopened -> (confirmed ...)
#
# The bar under "assigned" runs down into "duplicate" (an assigned issue can still turn out to be a
# duplicate), and the bars under "in_progress" and "resolved" join before the arrow to "reopened" (the
# party working on an issue can hand it back). Everything not listed here is refused.
LIFECYCLE: dict[tuple[str, str], str] = {
    ("reported", "confirmed"): "issue.transition",
    ("reported", "rejected"): "issue.transition",
    ("confirmed", "assigned"): "issue.assign",
    ("confirmed", "duplicate"): "issue.transition",
    ("assigned", "in_progress"): "issue.transition",
    ("assigned", "duplicate"): "issue.transition",
    ("in_progress", "resolved"): "issue.transition",
    ("in_progress", "reopened"): "issue.transition",
    ("resolved", "closed"): "issue.confirm",
    ("resolved", "reopened"): "issue.confirm",
    ("reopened", "confirmed"): "issue.transition",
}

SOURCES = ("web", "api", "open311", "import")
CRS = chinacrs.SYSTEMS
TITLE_MAX = 120
DESCRIPTION_MAX = 4000
CONTACT_MAX = 200
NOTE_MAX = 4000
COMMENT_MAX = 4000
LIST_LIMIT_DEFAULT = 100
LIST_LIMIT_MAX = 1000
NEARBY_MAX = 5
# Roles whose actions count as the service answering (acknowledged_at, the "response" time).
HANDLER_ROLES = frozenset({"volunteer", "social_worker", "official", "admin"})


# ---------------------------------------------------------------- errors


class IssueError(Exception):
    """Base of the refusals of this module."""

    fields: dict[str, str] = {}


class IssueNotFound(IssueError, LookupError):
    def __init__(self, issue_id: Any):
        super().__init__(f"There is no issue {issue_id}.")
        self.issue_id = issue_id


class CommentNotFound(IssueError, LookupError):
    def __init__(self, comment_id: Any):
        super().__init__(f"There is no comment {comment_id}.")
        self.comment_id = comment_id


class TransitionNotAllowed(IssueError):
    """The lifecycle has no such edge (or the change does not apply in the issue's state)."""

    def __init__(self, from_status: str, to_status: str, message: str | None = None):
        allowed = sorted(to for (frm, to) in LIFECYCLE if frm == from_status)
        if message is None:
            message = f"An issue that is {from_status!r} cannot become {to_status!r}; " + (
                f"from {from_status!r} it can become: {', '.join(allowed)}." if allowed
                else f"{from_status!r} is final."
            )
        super().__init__(message)
        self.from_status, self.to_status, self.allowed = from_status, to_status, allowed
        self.fields = {"to": message}


class VersionConflict(IssueError):
    """Someone changed the issue after the client read it."""

    def __init__(self, issue_id: int, given: int, current: int, status: str):
        message = (f"Issue {issue_id} changed since you loaded it (you sent version {given}; it is now version "
                   f"{current}, {status!r}). Reload it and try again.")
        super().__init__(message)
        self.issue_id, self.given, self.current, self.status = issue_id, given, current, status
        self.fields = {"version": message}


class OutsideEveryArea(IssueError):
    """The point is in none of the communities this service covers."""

    def __init__(self, lon: float, lat: float):
        message = ("This place is not inside any community this service covers, so nobody could take care of "
                   "it. Check that the pin is where the problem is; if it is, please contact your street office.")
        super().__init__(message)
        self.lon, self.lat = lon, lat
        self.fields = {"lat": message, "lon": message}


class IssueClosed(IssueError):
    """The issue is final (closed, rejected or a duplicate) and takes no more supports."""

    def __init__(self, issue_id: int, status: str):
        super().__init__(f"Issue {issue_id} is {status}; it takes no more support.")
        self.issue_id, self.status = issue_id, status


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Issue:
    """One issue as stored. reporter_contact is private: public answers never include it."""

    id: int
    category: str
    title: str
    description: str
    lon: float
    lat: float
    area_id: int
    status: str
    version: int
    reporter_id: int | None
    reporter_contact: str | None
    assigned_party_id: int | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    duplicate_of: int | None
    supports_count: int
    satisfaction: int | None
    source: str
    external_id: str | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


@dataclass(frozen=True)
class Reported:
    """What report() created. private_token is the anonymous reporter's private link key, known only now."""

    issue: Issue
    feature: dict
    private_token: str | None


@dataclass(frozen=True)
class Supported:
    issue_id: int
    supports_count: int
    # False when this account or client had already supported the issue (nothing changed).
    created: bool


@dataclass(frozen=True)
class IssueFilter:
    """Filters of the issue list; from_query() reads them from query-string arguments."""

    bbox: tuple[float, float, float, float] | None = None
    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Area ids or codes; an area includes everything below it (a street its communities).
    areas: tuple[int | str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int = LIST_LIMIT_DEFAULT
    cursor: str | None = None

    QUERY_KEYS = ("bbox", "status", "category", "area", "since", "until", "limit", "cursor")

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> IssueFilter:
        """Parse ?bbox=&status=&category=&area=&since=&until=&limit=&cursor= (lists comma-separated)."""
        errors = Errors()
        values: dict[str, Any] = {}

        def items(name: str) -> list[str]:
            return [part.strip() for part in (args.get(name) or "").split(",") if part.strip()]

        if args.get("bbox"):
            parts = args["bbox"].split(",")
            try:
                if len(parts) != 4:
                    raise ValueError("must be four numbers: min lon, min lat, max lon, max lat")
                minx, maxx = (validation.number_text(parts[i], minimum=-180, maximum=180) for i in (0, 2))
                miny, maxy = (validation.number_text(parts[i], minimum=-90, maximum=90) for i in (1, 3))
                if miny > maxy:
                    raise ValueError("min lat must not be greater than max lat")
                values["bbox"] = (minx, miny, maxx, maxy)
            except ValueError as exc:
                errors.add("bbox", str(exc))
        statuses = items("status")
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            errors.add("status", f"unknown status {bad[0]!r}; expected some of {', '.join(STATUSES)}")
        values["statuses"] = tuple(statuses)
        for name in ("category", "area"):
            # A NUL cannot be sent to PostgreSQL, and no code or name has control characters.
            if any(validation.has_control_characters(part) for part in items(name)):
                errors.add(name, "must not contain control characters")
        values["categories"] = tuple(items("category"))
        # isdigit() alone takes "²" and other Unicode digits that int() refuses; those are codes (none match).
        values["areas"] = tuple(int(a) if a.isascii() and a.isdigit() else a for a in items("area"))
        for name in ("since", "until"):
            if args.get(name):
                try:
                    values[name] = validation.timestamp_text(args[name])
                except ValueError as exc:
                    errors.add(name, str(exc))
        if args.get("limit"):
            try:
                values["limit"] = validation.integer_text(args["limit"], minimum=1, maximum=LIST_LIMIT_MAX)
            except ValueError as exc:
                errors.add("limit", str(exc))
        if args.get("cursor"):
            values["cursor"] = args["cursor"]
            try:
                _decode_cursor(args["cursor"])
            except ValueError as exc:
                errors.add("cursor", str(exc))
        errors.raise_if_any()
        return cls(**values)


# ---------------------------------------------------------------- SQL

_ISSUE_COLUMNS = """
    i.id, i.category, i.title, i.description, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, i.area_id, i.status,
    i.version, i.reporter_id, i.reporter_contact, i.assigned_party_id, i.created_at, i.updated_at, i.due_at,
    i.acknowledged_at, i.resolved_at, i.closed_at, i.duplicate_of, i.supports_count, i.satisfaction, i.source,
    i.external_id
"""

# The public face of an issue, built in the database so that a page of 1000 costs one round trip.
# Nothing private (contact, token hash, reporter id) is named here.
_FEATURE = """
json_build_object(
    'type', 'Feature',
    'id', i.id,
    'geometry', ST_AsGeoJSON(i.geom, 7)::json,
    'properties', json_build_object(
        'id', i.id,
        'category', i.category,
        'title', i.title,
        'description', i.description,
        'status', i.status,
        'open', i.status NOT IN ('closed', 'rejected', 'duplicate'),
        'version', i.version,
        'area_id', i.area_id,
        'area_code', a.code,
        'area_name', a.name,
        'assigned_party_id', i.assigned_party_id,
        'duplicate_of', i.duplicate_of,
        'supports_count', i.supports_count,
        'satisfaction', i.satisfaction,
        'source', i.source,
        'created_at', utc_iso(i.created_at),
        'updated_at', utc_iso(i.updated_at),
        'due_at', utc_iso(i.due_at),
        'acknowledged_at', utc_iso(i.acknowledged_at),
        'resolved_at', utc_iso(i.resolved_at),
        'closed_at', utc_iso(i.closed_at),
        'overdue', i.status IN ('reported', 'confirmed', 'assigned', 'in_progress', 'reopened') AND i.due_at < now()
    )
)
"""

_SELECT_ISSUE = f"SELECT {_ISSUE_COLUMNS} FROM issues i WHERE i.id = %(id)s"
_SELECT_FEATURE = f"SELECT {_FEATURE} FROM issues i JOIN areas a ON a.id = i.area_id WHERE i.id = %(id)s"

_CATEGORY = "SELECT code, name, name_en, sla_days, duplicate_radius_m FROM categories WHERE code = %s AND active"

# One statement for a whole report (one round trip, atomic without a transaction of its own): the
# community is chosen in the INSERT itself, the smallest one holding the point (boundaries overlap), so no
# boundary reload can slip in between a lookup and the write; the category is checked and its SLA and name
# read in it; the "created" event is written beside it; the answer is the stored issue and its public
# Feature. No community or no such category, no row (report() then asks which).
_INSERT_TEMPLATE = """
WITH {hit}point AS (
    SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g
), area AS (
    SELECT a.id FROM areas a, point
    WHERE a.level = 'community' AND ST_Intersects(a.geom, point.g)
    ORDER BY ST_Area(a.geom::geography), a.id
    LIMIT 1
), category AS (
    SELECT code, name, sla_days FROM categories WHERE code = %(category)s AND active
), inserted AS (
    INSERT INTO issues AS i (category, title, description, geom, area_id, reporter_id, reporter_contact,
                             reporter_token_hash, created_at, updated_at, due_at, source, external_id)
    SELECT category.code,
           COALESCE(%(title)s::text, left(category.name || ': ' || %(snippet)s::text, {title_max})),
           %(description)s, point.g, area.id, %(reporter_id)s, %(contact)s,
           %(token_hash)s, t.at, t.at, t.at + make_interval(days => category.sla_days), %(source)s, %(external_id)s
    FROM point, area, category, (SELECT COALESCE(%(created_at)s::timestamptz, now()) AS at) t{hit_from}
    RETURNING i.*
), event AS (
    INSERT INTO issue_events (issue_id, at, actor_id, actor_role, actor_label, kind, to_status, data)
    SELECT id, created_at, %(actor_id)s, %(actor_role)s, %(actor_label)s, 'created', status,
           jsonb_build_object('source', source)
    FROM inserted
)
{answer}
"""
_ANSWER = f"SELECT {_ISSUE_COLUMNS}, {_FEATURE} AS feature FROM inserted i JOIN areas a ON a.id = i.area_id"
_INSERT = _INSERT_TEMPLATE.format(hit="", hit_from="", title_max=TITLE_MAX, answer=_ANSWER)
# The same with a rate-limit hit counted in it (ratelimit.Hit): the issue is written only within the limit,
# and the one row answers the hit's count whether or not it was.
_INSERT_COUNTED = _INSERT_TEMPLATE.format(
    hit=f"hit AS ({ratelimit.HIT_SQL}), ", hit_from=" , hit WHERE hit.hits <= %(rl_allowed)s",
    title_max=TITLE_MAX, answer=f"SELECT hit.hits AS rl_hits, hit.ends AS rl_ends, x.* FROM hit LEFT JOIN ({_ANSWER}) x ON true")

_UPDATE_STATUS = """
UPDATE issues SET
    status = %(to)s,
    version = version + 1,
    updated_at = now(),
    acknowledged_at = CASE WHEN %(handler)s THEN COALESCE(acknowledged_at, now()) ELSE acknowledged_at END,
    resolved_at = CASE %(to)s WHEN 'resolved' THEN now() WHEN 'reopened' THEN NULL ELSE resolved_at END,
    closed_at = CASE WHEN %(to)s IN ('closed', 'rejected', 'duplicate') THEN now() ELSE closed_at END,
    duplicate_of = %(duplicate_of)s,
    -- Reopening hands the issue back: whoever takes it next is assigned afresh.
    assigned_party_id = CASE %(to)s WHEN 'assigned' THEN %(party_id)s WHEN 'reopened' THEN NULL
                        ELSE assigned_party_id END,
    satisfaction = CASE %(to)s WHEN 'closed' THEN %(satisfaction)s WHEN 'reopened' THEN NULL ELSE satisfaction END
WHERE id = %(id)s AND version = %(version)s
"""

_UPDATE_PARTY = """
UPDATE issues SET
    assigned_party_id = %(party_id)s,
    version = version + 1,
    updated_at = now(),
    acknowledged_at = COALESCE(acknowledged_at, now())
WHERE id = %(id)s AND version = %(version)s
"""

_INSERT_EVENT = """
INSERT INTO issue_events (issue_id, actor_id, actor_role, actor_label, kind, from_status, to_status, note, data)
VALUES (%(issue_id)s, %(actor_id)s, %(actor_role)s, %(actor_label)s, %(kind)s, %(from_status)s, %(to_status)s,
        %(note)s, %(data)s)
RETURNING id
"""

_HISTORY = """
SELECT json_build_object(
    'id', e.id, 'at', utc_iso(e.at), 'kind', e.kind, 'actor', e.actor_label, 'actor_role', e.actor_role,
    'from_status', e.from_status, 'to_status', e.to_status, 'note', e.note, 'data', e.data)
FROM issue_events e WHERE e.issue_id = %(id)s ORDER BY e.id
"""

_COMMENTS = """
SELECT c.id, c.body, c.author_label, c.author_role, c.created_at, c.hidden_at, c.hidden_reason
FROM comments c WHERE c.issue_id = %(id)s ORDER BY c.id
"""

# KNN on the GiST index: the index hands out issues nearest first (in degrees) inside a box that surely
# holds every point within the radius; the few candidates are then measured on the spheroid and re-sorted,
# because degree order is not metre order away from the equator.
_NEARBY = f"""
WITH candidates AS (
    SELECT i.*, ST_Distance(i.geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography) AS d
    FROM issues i
    WHERE i.category = %(category)s
      AND i.status <> ALL (%(final)s)
      AND ST_DWithin(i.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(box_deg)s)
    ORDER BY i.geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)
    LIMIT 200
)
SELECT i.d, {_FEATURE}
FROM candidates i JOIN areas a ON a.id = i.area_id
WHERE i.d <= %(radius)s
ORDER BY i.d, i.id
LIMIT %(limit)s
"""

_OVERDUE = f"""
SELECT extract(epoch FROM now() - i.due_at)::bigint AS overdue_s, {_FEATURE}
FROM issues i JOIN areas a ON a.id = i.area_id
-- Written exactly as the partial index's predicate, so the planner can use issues_overdue_idx.
WHERE i.status NOT IN ('resolved', 'closed', 'rejected', 'duplicate')
  AND i.due_at < COALESCE(%(now)s::timestamptz, now())
  AND (%(area_ids)s::bigint[] IS NULL OR i.area_id = ANY (%(area_ids)s))
  AND (%(category)s::text IS NULL OR i.category = %(category)s)
-- due_at alone, the partial index's order: due times carry microseconds, so ties are rare and harmless.
ORDER BY i.due_at
LIMIT %(limit)s
"""

_AREA_TREE = """
i.area_id IN (
    WITH RECURSIVE tree AS (
        SELECT id FROM areas WHERE id = ANY (%(area_ids)s) OR code = ANY (%(area_codes)s)
        UNION
        SELECT a.id FROM areas a JOIN tree ON a.parent_id = tree.id
    )
    SELECT id FROM tree
)
"""


# ---------------------------------------------------------------- helpers


def _row_to_issue(row: Mapping[str, Any]) -> Issue:
    return Issue(**{f.name: row[f.name] for f in dataclass_fields(Issue)})


def _load(conn: psycopg.Connection, issue_id: int, *, for_update: bool = False) -> Issue:
    query = _SELECT_ISSUE + (" FOR UPDATE" if for_update else "")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, {"id": issue_id}).fetchone()
    if row is None:
        raise IssueNotFound(issue_id)
    return _row_to_issue(row)


def _issue_id(value: Any, name: str = "issue_id") -> int:
    try:
        value = validation.integer(value)
    except ValueError as exc:
        raise ValidationError({name: str(exc)}) from None
    # Ids are bigint identities from 1: anything else simply does not exist.
    if not 1 <= value < 2**63:
        raise (CommentNotFound if name == "comment_id" else IssueNotFound)(value)
    return value


def _is_reporter(actor: Actor, issue: Issue) -> bool:
    return (actor.user_id is not None and actor.user_id == issue.reporter_id) or issue.id in actor.reporter_of


def _actor_label(actor: Actor, issue: Issue | None = None) -> str:
    """How the actor is shown in the public history: staff and volunteers by name, residents by their part."""
    if actor.role in HANDLER_ROLES:
        return actor.label
    if issue is None or _is_reporter(actor, issue):
        return "reporter"
    return "resident" if actor.user_id is not None else "anonymous"


def _event(conn, actor: Actor, issue: Issue, kind: str, *, from_status=None, to_status=None, note=None,
           data: dict | None = None, label: str | None = None) -> int:
    return conn.execute(_INSERT_EVENT, {
        "issue_id": issue.id, "actor_id": actor.user_id, "actor_role": actor.role,
        "actor_label": label or _actor_label(actor, issue), "kind": kind, "from_status": from_status,
        "to_status": to_status, "note": note, "data": psycopg.types.json.Jsonb(data or {}),
    }).fetchone()[0]


# What is stored of a reporter's private token: its SHA-256, hex (the same as API tokens).
hash_token = tokens.hash_token


def _default_title(category_name: str, description: str) -> str:
    return f"{category_name}: {_title_snippet(description)}"[:TITLE_MAX]


def _title_snippet(description: str) -> str:
    """The start of the description that follows the category's name in a default title."""
    first_line = description.splitlines()[0].strip() if description.strip() else ""
    words = first_line.split()
    # Chinese has no spaces between words: a character budget suits both.
    snippet = ""
    for word in words:
        if len(snippet) + len(word) + 1 > 40:
            break
        snippet = f"{snippet} {word}".strip()
    if not snippet:
        snippet = first_line[:40]
    if len(snippet) < len(first_line):
        snippet += "…"
    return snippet


def _may_be_category(value: Any) -> bool:
    """Whether the value can be looked up as a category code (a NUL would make PostgreSQL refuse the query)."""
    return isinstance(value, str) and validation.unstorable(value) is None


def _crs(value: Any) -> str:
    name = value.strip().lower() if isinstance(value, str) else None
    if name not in CRS:
        raise ValueError(f"must be one of {', '.join(CRS)}")
    return name


def _encode_cursor(created_at: datetime, issue_id: int) -> str:
    raw = json.dumps([created_at.isoformat(), issue_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, issue_id = json.loads(raw)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(issue_id, int) or isinstance(issue_id, bool):
            raise ValueError
        return moment, issue_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise ValueError("is not a cursor this service handed out") from None


# ---------------------------------------------------------------- reading


def load(conn: psycopg.Connection, issue_id: int) -> Issue:
    """The stored issue (with its private contact: for code that decides itself what to show)."""
    return _load(conn, _issue_id(issue_id))


def feature(conn: psycopg.Connection, issue_id: int) -> dict:
    """The issue's public GeoJSON Feature, without history."""
    row = conn.execute(_SELECT_FEATURE, {"id": _issue_id(issue_id)}).fetchone()
    if row is None:
        raise IssueNotFound(issue_id)
    return row[0]


def get(conn: psycopg.Connection, issue_id: int, actor: Actor = permissions.ANONYMOUS) -> dict:
    """The issue as a GeoJSON Feature with its public history and comments.

    The reporter's contact is added (properties.reporter_contact) only for actors allowed to see it;
    hidden comments keep their place but lose their body, except for those who may hide comments.
    """
    issue_id = _issue_id(issue_id)
    with conn.transaction():
        issue = _load(conn, issue_id)
        permissions.require(actor, "issue.view", issue)
        result = feature(conn, issue_id)
        props = result["properties"]
        props["history"] = [row[0] for row in conn.execute(_HISTORY, {"id": issue_id})]
        moderator = permissions.may(actor, "comment.hide", issue)
        comments = []
        with conn.cursor(row_factory=dict_row) as cur:
            for c in cur.execute(_COMMENTS, {"id": issue_id}):
                hidden = c["hidden_at"] is not None
                comments.append({
                    "id": c["id"], "author": c["author_label"], "author_role": c["author_role"],
                    "created_at": _iso(c["created_at"]), "hidden": hidden,
                    "body": c["body"] if not hidden or moderator else None,
                    **({"hidden_reason": c["hidden_reason"]} if hidden and moderator else {}),
                })
        props["comments"] = comments
        props["you_reported"] = _is_reporter(actor, issue)
        if permissions.may(actor, "issue.view_contact", issue):
            props["reporter_contact"] = issue.reporter_contact
    return result


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# A bbox-filtered list whose box the planner expects to hold fewer issues than this is read through the
# spatial index and sorted. Left to itself, the planner walks issues_created_idx newest first and filters
# each issue by the box: it prices that walk as a share of a whole scan (LIMIT over an ordered index), and
# for a community of a few thousand issues in a million it takes 20-30 times longer (70 ms against 3 ms;
# docs/benchmarks-issues.md). For a box holding a good share of all issues the walk is the right plan
# and is kept. Near the threshold the two cost about the same.
BOX_FEW = 15_000


def _list_where(filters: IssueFilter) -> tuple[sql.Composable, dict[str, Any]]:
    """The WHERE clause of a list page (over issues i) and its parameters."""
    where: list[sql.Composable] = []
    params: dict[str, Any] = {"limit": filters.limit + 1}
    if filters.bbox:
        minx, miny, maxx, maxy = filters.bbox
        params.update(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
        if minx <= maxx:
            where.append(sql.SQL("i.geom && ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 4326)"))
        else:
            # RFC 7946 5.2: a box whose west edge is east of its east edge crosses the antimeridian.
            where.append(sql.SQL(
                "(i.geom && ST_MakeEnvelope(%(minx)s, %(miny)s, 180, %(maxy)s, 4326)"
                " OR i.geom && ST_MakeEnvelope(-180, %(miny)s, %(maxx)s, %(maxy)s, 4326))"))
    if filters.statuses:
        params["statuses"] = list(filters.statuses)
        where.append(sql.SQL("i.status = ANY (%(statuses)s)"))
    if filters.categories:
        params["categories"] = list(filters.categories)
        where.append(sql.SQL("i.category = ANY (%(categories)s)"))
    if filters.areas:
        params["area_ids"] = [a for a in filters.areas if isinstance(a, int)]
        params["area_codes"] = [a for a in filters.areas if isinstance(a, str)]
        where.append(sql.SQL(_AREA_TREE))
    if filters.since:
        params["since"] = filters.since
        where.append(sql.SQL("i.created_at >= %(since)s"))
    if filters.until:
        params["until"] = filters.until
        where.append(sql.SQL("i.created_at < %(until)s"))
    if filters.cursor:
        try:
            params["c_at"], params["c_id"] = _decode_cursor(filters.cursor)
        except ValueError as exc:
            raise ValidationError({"cursor": str(exc)}) from None
        where.append(sql.SQL("(i.created_at, i.id) < (%(c_at)s, %(c_id)s)"))
    return (sql.SQL(" AND ").join(where) if where else sql.SQL("true")), params


def _filters(filters: IssueFilter | Mapping[str, str] | None) -> IssueFilter:
    if filters is None:
        filters = IssueFilter()
    elif not isinstance(filters, IssueFilter):
        filters = IssueFilter.from_query(filters)
    if not 1 <= filters.limit <= LIST_LIMIT_MAX:
        raise ValidationError({"limit": f"must be between 1 and {LIST_LIMIT_MAX}"})
    return filters


def list_query(filters: IssueFilter | Mapping[str, str] | None = None, *, box_rows: float | None = None
               ) -> tuple[sql.Composed, dict, int]:
    """The SQL of a list page (created_at, id, Feature json; one row more than the page), its parameters, the limit.

    box_rows: for a bbox filter, the planner's estimate of the issues it matches (box_estimate).
    """
    filters = _filters(filters)
    where, params = _list_where(filters)
    return _list_sql(filters, where, params, box_rows)


def _list_sql(filters: IssueFilter, where: sql.Composable, params: dict, box_rows: float | None
              ) -> tuple[sql.Composed, dict, int]:
    if filters.bbox and box_rows is not None and box_rows < BOX_FEW:
        # The box's issues through the spatial index, then sorted; the fence (OFFSET 0) keeps the planner
        # from walking issues_created_idx instead.
        source = sql.SQL("(SELECT * FROM issues i WHERE {} OFFSET 0) i").format(where)
        where = sql.SQL("true")
    else:
        source = sql.SQL("issues i")
    query = sql.SQL(
        "SELECT i.created_at, i.id, {feature} FROM {source} JOIN areas a ON a.id = i.area_id"
        " WHERE {where} ORDER BY i.created_at DESC, i.id DESC LIMIT %(limit)s"
    ).format(feature=sql.SQL(_FEATURE), source=source, where=where)
    return query, params, filters.limit


def box_estimate(conn: psycopg.Connection, filters: IssueFilter | Mapping[str, str] | None) -> float | None:
    """For a bbox-filtered list, the planner's estimate of the issues it matches; None without a bbox."""
    filters = _filters(filters)
    if not filters.bbox:
        return None
    return _estimate(conn, *_list_where(filters))


def _estimate(conn: psycopg.Connection, where: sql.Composable, params: dict) -> float:
    plan = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM issues i WHERE {}").format(where),
                        params).fetchone()[0]
    if isinstance(plan, str):  # a connection that loads json as text (list_features_text's callers)
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])


def list_statement(conn: psycopg.Connection, filters: IssueFilter | Mapping[str, str] | None = None
                   ) -> tuple[sql.Composed, dict, int]:
    """list_query with the box's estimate: what list_features runs."""
    filters = _filters(filters)
    where, params = _list_where(filters)
    return _list_sql(filters, where, params, _estimate(conn, where, params) if filters.bbox else None)


def list_features(conn: psycopg.Connection, filters: IssueFilter | Mapping[str, str] | None = None) -> dict:
    """A page of issues, newest first, as a GeoJSON FeatureCollection (RFC 7946).

    The answer carries `next_cursor` (a foreign member; None on the last page): pass it back as the
    filter's cursor to get the next page. Keyset pagination: pages stay consistent and cheap however deep.
    """
    query, params, limit = list_statement(conn, filters)
    rows = conn.execute(query, params).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1][0], rows[-1][1]) if more else None
    return {"type": "FeatureCollection", "features": [r[2] for r in rows], "next_cursor": next_cursor}


def list_features_text(conn: psycopg.Connection, filters: IssueFilter | Mapping[str, str] | None = None
                       ) -> tuple[str, str | None]:
    """The same page as list_features, as (the JSON text of its features array, next_cursor).

    The Features that PostgreSQL built are passed on as the text it sent: parsing them into dicts only to
    serialise them again was half the time of a list request.
    """
    query, params, limit = list_statement(conn, filters)
    with conn.cursor() as cur:
        cur.adapters.register_loader("json", TextLoader)
        rows = cur.execute(query, params).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1][0], rows[-1][1]) if more else None
    return "[" + ",".join(r[2] for r in rows) + "]", next_cursor


def nearby(conn: psycopg.Connection, lon: float, lat: float, category: str, *, crs: str = "wgs84",
           limit: int = NEARBY_MAX) -> dict:
    """Open issues of the category within its duplicate radius, nearest first (at most 5).

    Each feature has properties.distance_m. Shown to a resident before submitting, to say "me too" instead.
    """
    errors = Errors()
    try:
        lon = validation.number(lon, minimum=-180, maximum=180)
    except ValueError as exc:
        errors.add("lon", str(exc))
    try:
        lat = validation.number(lat, minimum=-90, maximum=90)
    except ValueError as exc:
        errors.add("lat", str(exc))
    try:
        crs = _crs(crs)
    except ValueError as exc:
        errors.add("crs", str(exc))
    cat = conn.execute(_CATEGORY, (category,)).fetchone() if _may_be_category(category) else None
    if cat is None:
        errors.add("category", f"unknown category {category!r}")
    errors.raise_if_any()
    lon, lat = chinacrs.to_wgs84(crs, lon, lat)
    radius = cat[4]
    # Degrees that surely cover `radius` metres here: a degree of longitude shrinks with cos(lat);
    # 1 % slack covers the spheroid's departure from these round figures.
    metres_per_degree = min(111_320.0 * max(math.cos(math.radians(lat)), 0.01), 110_574.0)
    box_deg = radius / metres_per_degree * 1.01
    rows = conn.execute(_NEARBY, {
        "lon": lon, "lat": lat, "category": cat[0], "final": list(FINAL), "box_deg": box_deg,
        "radius": radius, "limit": min(max(int(limit), 1), NEARBY_MAX),
    }).fetchall()
    features = []
    for distance, feat in rows:
        feat["properties"]["distance_m"] = round(distance, 1)
        features.append(feat)
    return {"type": "FeatureCollection", "features": features, "radius_m": radius}


def overdue(conn: psycopg.Connection, *, area_ids: list[int] | None = None, category: str | None = None,
            now: datetime | None = None, limit: int = 100) -> dict:
    """Issues still waiting on the service past their SLA due time, most overdue first.

    Each feature has properties.overdue_seconds. "resolved" issues wait on the reporter and are not listed.
    """
    rows = conn.execute(_OVERDUE, {
        "area_ids": list(area_ids) if area_ids is not None else None, "category": category, "now": now,
        "limit": limit,
    }).fetchall()
    features = []
    for seconds, feat in rows:
        feat["properties"]["overdue_seconds"] = seconds
        features.append(feat)
    return {"type": "FeatureCollection", "features": features}


def issues_for_token(conn: psycopg.Connection, token: str | None) -> frozenset[int]:
    """The issues whose anonymous reporter holds this private token (none for an unknown token)."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return frozenset()
    rows = conn.execute("SELECT id FROM issues WHERE reporter_token_hash = %s", (hash_token(token),)).fetchall()
    return frozenset(r[0] for r in rows)


# ---------------------------------------------------------------- reporting

_REPORT_KEYS = {"lat", "lon", "category", "description", "title", "contact", "crs"}


def _check_category(conn: psycopg.Connection, category: str, errors: Errors) -> None:
    if "category" in errors:
        return
    if not _may_be_category(category) or conn.execute(_CATEGORY, (category,)).fetchone() is None:
        errors.add("category", f"unknown category {category!r}")


def report(conn: psycopg.Connection, actor: Actor, payload: Mapping[str, Any], *, source: str = "web",
           external_id: str | None = None, created_at: datetime | None = None,
           counted: ratelimit.Hit | None = None) -> Reported:
    """Record a new issue from {lat, lon, category, description, title?, contact?, crs?}.

    Validation is strict (finite numbers only, no strings for numbers, known category, lengths) and lists
    every problem at once. crs may be wgs84 (default), gcj02 or bd09; points are stored in WGS84. An
    anonymous reporter gets a private token (returned once, only its hash is kept) that later proves they
    reported it. created_at is for imports of historical reports. counted: a rate-limit hit taken in the
    report's own statement (filled in when the statement ran); over the limit, ratelimit.LimitReached and
    nothing written but the hit.
    """
    permissions.require(actor, "issue.report")
    if not isinstance(payload, Mapping):
        raise ValidationError({"body": "must be a JSON object"}, "The report must be a JSON object.")
    errors = Errors()
    for key in sorted(set(payload) - _REPORT_KEYS):
        errors.add(key, "is not a field of a report")
    for name, low, high in (("lat", -90, 90), ("lon", -180, 180)):
        if payload.get(name) is None:
            errors.add(name, "is required")
            continue
        try:
            validation.number(payload[name], minimum=low, maximum=high)
        except ValueError as exc:
            errors.add(name, str(exc))
    crs = payload.get("crs")
    # Absent or null: WGS84. Anything else must name a system (false, 0 and "" are mistakes, not WGS84).
    crs = "wgs84" if crs is None else crs
    try:
        crs = _crs(crs)
    except ValueError as exc:
        errors.add("crs", str(exc))
    category = payload.get("category")
    if category is None:
        errors.add("category", "is required")
    elif not isinstance(category, str):
        errors.add("category", "must be a string")
    elif not _may_be_category(category):
        errors.add("category", f"unknown category {category!r}")
    description = title = contact = None
    try:
        if payload.get("description") is None:
            raise ValueError("is required")
        description = validation.text(payload["description"], max_length=DESCRIPTION_MAX)
    except ValueError as exc:
        errors.add("description", str(exc))
    if payload.get("title") not in (None, ""):
        try:
            title = validation.text(payload["title"], max_length=TITLE_MAX)
        except ValueError as exc:
            errors.add("title", str(exc))
    if payload.get("contact") not in (None, ""):
        try:
            contact = validation.text(payload["contact"], max_length=CONTACT_MAX)
        except ValueError as exc:
            errors.add("contact", str(exc))
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if errors.fields and isinstance(category, str):
        # Every problem at once: the category is otherwise checked by the INSERT itself.
        _check_category(conn, category, errors)
    errors.raise_if_any()

    lon, lat = chinacrs.to_wgs84(crs, float(payload["lon"]), float(payload["lat"]))
    token, token_hash = tokens.new_token() if actor.user_id is None else (None, None)
    params = {
        "lon": lon, "lat": lat, "category": category, "title": title,
        "snippet": None if title else _title_snippet(description),
        "description": description, "reporter_id": actor.user_id, "contact": contact,
        "token_hash": token_hash, "created_at": created_at, "source": source,
        "external_id": external_id, "actor_id": actor.user_id, "actor_role": actor.role,
        "actor_label": "reporter",
    }
    # One statement: atomic by itself, so no transaction or savepoint of its own (each is a round trip).
    with conn.cursor(row_factory=dict_row) as cur:
        if counted is None:
            row = cur.execute(_INSERT, params).fetchone()
        else:
            row = cur.execute(_INSERT_COUNTED, {**params, **counted.params(), "rl_allowed": counted.allowed}).fetchone()
            counted.hits, counted.ends = int(row.pop("rl_hits")), float(row.pop("rl_ends"))
            if not counted.within:
                raise ratelimit.LimitReached(counted)
            if row["id"] is None:
                row = None
    if row is None:
        errors = Errors()
        _check_category(conn, category, errors)
        errors.raise_if_any()
        raise OutsideEveryArea(lon, lat)
    issue = _row_to_issue(row)
    feat = row["feature"]
    log.info("issue %s reported (%s, area %s, source %s)", issue.id, issue.category, issue.area_id, source)
    return Reported(issue=issue, feature=feat, private_token=token)


# ---------------------------------------------------------------- the lifecycle


def _check_version(issue: Issue, version: int) -> None:
    if issue.version != version:
        raise VersionConflict(issue.id, version, issue.version, issue.status)


def _audit(conn, actor: Actor, action: str, issue: Issue, details: dict) -> None:
    """Staff actions also go to the audit log, in the same transaction as the change."""
    if actor.is_staff:
        audit.record(conn, actor, action, "issue", issue.id, details)


def transition(conn: psycopg.Connection, actor: Actor, issue_id: int, to: str, version: int,
               note: str | None = None, *, duplicate_of: int | None = None, satisfaction: int | None = None,
               party_id: int | None = None) -> Issue:
    """Move the issue along one edge of LIFECYCLE, writing one history event in the same transaction.

    Refusals, in this order: ValidationError (malformed arguments), IssueNotFound, VersionConflict (the
    client's version is stale), TransitionNotAllowed (no such edge), AuthenticationRequired /
    PermissionDenied (the edge's permission), ValidationError (what the edge needs: duplicate_of for
    "duplicate", party_id for "assigned", satisfaction 1-5 when the reporter closes).
    """
    issue_id = _issue_id(issue_id)
    errors = Errors()
    if not isinstance(to, str) or to not in STATUSES:
        errors.add("to", f"must be one of {', '.join(STATUSES)}")
    try:
        version = validation.integer(version, minimum=1)
    except ValueError as exc:
        errors.add("version", "is required" if version is None else str(exc))
    if note is not None:
        try:
            note = validation.text(note, max_length=NOTE_MAX, min_length=0) or None
        except ValueError as exc:
            errors.add("note", str(exc))
    for name, value, wanted, kwargs in (("duplicate_of", duplicate_of, "duplicate", {"minimum": 1}),
                                        ("party_id", party_id, "assigned", {"minimum": 1}),
                                        ("satisfaction", satisfaction, "closed", {"minimum": 1, "maximum": 5})):
        if value is None:
            continue
        if to != wanted:
            errors.add(name, f"only goes with to={wanted!r}")
            continue
        try:
            validation.integer(value, **kwargs)
        except ValueError as exc:
            errors.add(name, str(exc))
    errors.raise_if_any()

    with conn.transaction():
        issue = _load(conn, issue_id, for_update=True)
        _check_version(issue, version)
        action = LIFECYCLE.get((issue.status, to))
        if action is None:
            raise TransitionNotAllowed(issue.status, to)
        permissions.require(actor, action, issue)
        data: dict[str, Any] = {}
        if to == "duplicate":
            duplicate_of = _canonical(conn, issue, duplicate_of)
            data["duplicate_of"] = duplicate_of
        if to == "assigned":
            _check_party(conn, party_id)
            data["party_id"] = party_id
        if to == "closed":
            if satisfaction is None and _is_reporter(actor, issue):
                raise ValidationError({"satisfaction": "is required: how satisfied are you, from 1 to 5?"})
            if satisfaction is not None:
                data["satisfaction"] = satisfaction
        if to == "reopened" and issue.assigned_party_id is not None:
            data["previous_party_id"] = issue.assigned_party_id
        updated = conn.execute(_UPDATE_STATUS, {
            "id": issue.id, "version": version, "to": to, "handler": actor.role in HANDLER_ROLES,
            "duplicate_of": duplicate_of if to == "duplicate" else None,
            "party_id": party_id, "satisfaction": satisfaction,
        }).rowcount
        # The row is locked and its version checked, so this can only fail if the lock was bypassed.
        assert updated == 1, "locked issue row changed underneath"
        _event(conn, actor, issue, "transition", from_status=issue.status, to_status=to, note=note, data=data)
        _audit(conn, actor, f"issue.{to}", issue, {"from": issue.status, "to": to, **data})
        result = _load(conn, issue.id)
    log.info("issue %s: %s -> %s by %s", issue.id, issue.status, to, actor.label)
    return result


def _canonical(conn, issue: Issue, duplicate_of: int | None) -> int:
    """The issue a duplicate points to: an existing other issue, followed to its own original if needed."""
    if duplicate_of is None:
        raise ValidationError({"duplicate_of": "is required: the id of the issue this one repeats"})
    seen = {issue.id}
    target = duplicate_of
    while True:
        if target in seen:
            raise ValidationError({"duplicate_of": "must be another issue, not this one"})
        seen.add(target)
        row = conn.execute("SELECT status, duplicate_of FROM issues WHERE id = %s", (target,)).fetchone()
        if row is None:
            raise ValidationError({"duplicate_of": f"there is no issue {duplicate_of}"})
        if row[0] != "duplicate":
            return target
        target = row[1]


def _check_party(conn, party_id: int | None) -> None:
    if party_id is None:
        raise ValidationError({"party_id": "is required: who is to handle the issue"})
    row = conn.execute("SELECT active FROM parties WHERE id = %s", (party_id,)).fetchone()
    if row is None or not row[0]:
        raise ValidationError({"party_id": f"there is no active party {party_id}"})


def assign(conn: psycopg.Connection, actor: Actor, issue_id: int, party_id: int, version: int,
           note: str | None = None) -> Issue:
    """Give the issue to a party: from "confirmed" this is the transition to "assigned"; an issue that is
    already "assigned" (not yet started) changes hands without changing status. One history event."""
    issue_id = _issue_id(issue_id)
    try:
        version = validation.integer(version, minimum=1)
    except ValueError as exc:
        raise ValidationError({"version": str(exc)}) from None
    with conn.transaction():
        issue = _load(conn, issue_id, for_update=True)
        _check_version(issue, version)
        if issue.status != "assigned":
            # Either the drawn edge (confirmed -> assigned) or TransitionNotAllowed, from transition().
            return transition(conn, actor, issue_id, "assigned", version, note, party_id=party_id)
        permissions.require(actor, "issue.assign", issue)
        try:
            party_id = validation.integer(party_id, minimum=1)
        except ValueError as exc:
            raise ValidationError({"party_id": str(exc)}) from None
        _check_party(conn, party_id)
        if note is not None:
            try:
                note = validation.text(note, max_length=NOTE_MAX, min_length=0) or None
            except ValueError as exc:
                raise ValidationError({"note": str(exc)}) from None
        conn.execute(_UPDATE_PARTY, {"id": issue.id, "version": version, "party_id": party_id})
        data = {"party_id": party_id, "previous_party_id": issue.assigned_party_id}
        _event(conn, actor, issue, "assigned", from_status=issue.status, to_status=issue.status, note=note,
               data=data)
        _audit(conn, actor, "issue.assign", issue, data)
        return _load(conn, issue.id)


# ---------------------------------------------------------------- residents' voices


def support(conn: psycopg.Connection, actor: Actor, issue_id: int) -> Supported:
    """"Me too": one per account, or per anonymous client key. Supporting twice changes nothing."""
    issue_id = _issue_id(issue_id)
    if actor.user_id is None and not actor.client_key:
        # Without an account or a client key a second "me too" could not be told from the first.
        raise permissions.AuthenticationRequired("issue.support")
    with conn.transaction():
        issue = _load(conn, issue_id, for_update=True)
        permissions.require(actor, "issue.support", issue)
        if issue.status in FINAL:
            raise IssueClosed(issue.id, issue.status)
        if actor.user_id is not None:
            row = conn.execute(
                "INSERT INTO supports (issue_id, user_id) VALUES (%s, %s)"
                " ON CONFLICT (issue_id, user_id) WHERE user_id IS NOT NULL DO NOTHING RETURNING id",
                (issue.id, actor.user_id)).fetchone()
        else:
            row = conn.execute(
                "INSERT INTO supports (issue_id, client_key) VALUES (%s, %s)"
                " ON CONFLICT (issue_id, client_key) WHERE user_id IS NULL DO NOTHING RETURNING id",
                (issue.id, actor.client_key)).fetchone()
        if row is None:
            return Supported(issue.id, issue.supports_count, created=False)
        count = conn.execute(
            # Supports do not bump the version: a "me too" must not make a caseworker's next step a 409.
            "UPDATE issues SET supports_count = supports_count + 1, updated_at = now() WHERE id = %s"
            " RETURNING supports_count", (issue.id,)).fetchone()[0]
        _event(conn, actor, issue, "support", data={"supports_count": count})
    return Supported(issue.id, count, created=True)


def comment(conn: psycopg.Connection, actor: Actor, issue_id: int, body: Any) -> dict:
    """Add a comment (1-4000 characters) and its history event; returns the public comment."""
    issue_id = _issue_id(issue_id)
    try:
        body = validation.text(body, max_length=COMMENT_MAX) if body is not None else None
        if body is None:
            raise ValueError("is required")
    except ValueError as exc:
        raise ValidationError({"body": str(exc)}) from None
    with conn.transaction():
        issue = _load(conn, issue_id)
        permissions.require(actor, "issue.comment", issue)
        label = _actor_label(actor, issue)
        comment_id, created_at = conn.execute(
            "INSERT INTO comments (issue_id, author_id, author_role, author_label, body)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id, created_at",
            (issue.id, actor.user_id, actor.role, label, body)).fetchone()
        if actor.role in HANDLER_ROLES:
            conn.execute("UPDATE issues SET acknowledged_at = COALESCE(acknowledged_at, now()), updated_at = now()"
                         " WHERE id = %s", (issue.id,))
        else:
            conn.execute("UPDATE issues SET updated_at = now() WHERE id = %s", (issue.id,))
        _event(conn, actor, issue, "comment", data={"comment_id": comment_id}, label=label)
    return {"id": comment_id, "issue_id": issue.id, "author": label, "author_role": actor.role,
            "created_at": _iso(created_at), "hidden": False, "body": body}


def record_visit(conn: psycopg.Connection, actor: Actor, issue_id: int, note: str | None = None,
                 data: Mapping[str, Any] | None = None) -> int:
    """A social worker saw the issue on a walkabout: one "visited" history event (no status change).

    data is public (it appears in the history), e.g. {"walkabout_id": 3}. Returns the event id.
    """
    issue_id = _issue_id(issue_id)
    if note is not None:
        try:
            note = validation.text(note, max_length=NOTE_MAX, min_length=0) or None
        except ValueError as exc:
            raise ValidationError({"note": str(exc)}) from None
    with conn.transaction():
        issue = _load(conn, issue_id)
        permissions.require(actor, "walkabout.record_visit", issue)
        conn.execute("UPDATE issues SET acknowledged_at = COALESCE(acknowledged_at, now()) WHERE id = %s",
                     (issue.id,))
        event_id = _event(conn, actor, issue, "visited", note=note, data=dict(data or {}))
        _audit(conn, actor, "walkabout.record_visit", issue, dict(data or {}))
    return event_id


def hide_comment(conn: psycopg.Connection, actor: Actor, comment_id: int, reason: str | None = None) -> dict:
    """Hide a comment (staff of the issue's community). It keeps its place in the history; only the
    body stops being shown. Hiding a hidden comment changes nothing."""
    comment_id = _issue_id(comment_id, "comment_id")
    if reason is not None:
        try:
            reason = validation.text(reason, max_length=500, min_length=0) or None
        except ValueError as exc:
            raise ValidationError({"reason": str(exc)}) from None
    with conn.transaction():
        row = conn.execute("SELECT issue_id, hidden_at FROM comments WHERE id = %s FOR UPDATE",
                           (comment_id,)).fetchone()
        if row is None:
            raise CommentNotFound(comment_id)
        issue = _load(conn, row[0])
        permissions.require(actor, "comment.hide", issue)
        if row[1] is None:
            conn.execute("UPDATE comments SET hidden_at = now(), hidden_by = %s, hidden_reason = %s WHERE id = %s",
                         (actor.user_id, reason, comment_id))
            _event(conn, actor, issue, "comment_hidden", note=reason, data={"comment_id": comment_id})
            _audit(conn, actor, "comment.hide", issue, {"comment_id": comment_id, "reason": reason})
        hidden_at = conn.execute("SELECT hidden_at FROM comments WHERE id = %s", (comment_id,)).fetchone()[0]
    return {"id": comment_id, "issue_id": issue.id, "hidden": True, "hidden_at": _iso(hidden_at)}
