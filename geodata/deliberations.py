"""Micro-deliberation: a social worker convenes the residents of a community about shared issues.

Opening one links issues of the community, lists options, places the meeting on the map and sets a voting
window; residents (and staff) of the community vote once each and comment; the social worker records the
meeting (attendance, minutes, decision, follow-up actions each given to a party with a deadline). The linked
issues' histories get a 'deliberation' event when it opens and when it is recorded. docs/deliberations.md.

Refusals are typed errors; each carries a stable `reason` code that the web layer translates.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from geodata import audit, chinacrs, permissions, validation
from geodata.issues import FINAL
from geodata.permissions import Actor
from geodata.validation import Errors, ValidationError

log = logging.getLogger(__name__)

TITLE_MAX = 200
DESCRIPTION_MAX = 4000
OPTION_MAX = 200
OPTIONS_MIN, OPTIONS_MAX = 2, 10
ISSUES_MAX = 50
ADDRESS_MAX = 300
COMMENT_MAX = 4000
MINUTES_MAX = 20000
DECISION_MAX = 4000
ACTION_MAX = 1000
ACTIONS_MAX = 20
# How far outside its community a meeting may be (the community hall can sit across the road).
NEAR_M = 500


def _load_queries() -> dict[str, str]:
    text = Path(__file__).with_name("deliberations.sql").read_text(encoding="utf-8")
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2])}


Q = _load_queries()


# ---------------------------------------------------------------- errors


class DeliberationError(Exception):
    """Base of this module's refusals; `reason` is a stable code for translation."""

    reason = "refused"
    fields: dict[str, str] = {}


class DeliberationNotFound(DeliberationError, LookupError):
    reason = "not_found"

    def __init__(self, deliberation_id: Any):
        super().__init__(f"There is no deliberation {deliberation_id}.")


class ActionNotFound(DeliberationError, LookupError):
    reason = "not_found"

    def __init__(self, action_id: Any):
        super().__init__(f"There is no follow-up action {action_id}.")


class VoteRefused(DeliberationError):
    """The vote cannot be taken in the deliberation's present state."""


class VotingNotOpenYet(VoteRefused):
    reason = "before_window"

    def __init__(self):
        super().__init__("Voting has not opened yet.")


class VotingClosed(VoteRefused):
    reason = "after_window"

    def __init__(self, recorded: bool = False):
        if recorded:
            self.reason = "closed"
        super().__init__("The meeting has been recorded; voting is over." if recorded else "Voting has closed.")


class AlreadyVoted(VoteRefused):
    reason = "already_voted"

    def __init__(self):
        super().__init__("You have already voted in this deliberation; each person votes once.")


class NotOfThisCommunity(permissions.PermissionDenied):
    """Signed in, but not a resident or staff member of the deliberation's community."""

    reason = "not_of_this_community"

    def __init__(self, action: str = "deliberation.vote"):
        super().__init__(action, "Only residents of this community can take part in its deliberation.")


class AlreadyRecorded(DeliberationError):
    reason = "already_recorded"

    def __init__(self, status: str):
        super().__init__(f"The meeting has already been recorded (the deliberation is {status}).")


# ---------------------------------------------------------------- helpers


def _id(value: Any, name: str = "deliberation_id", missing=DeliberationNotFound) -> int:
    try:
        value = validation.integer(value)
    except ValueError as exc:
        raise ValidationError({name: str(exc)}) from None
    if not 1 <= value < 2**63:
        raise missing(value)
    return value


def _moment(value: Any) -> datetime:
    """A timestamp from JSON text (ISO 8601; without offset it is UTC) or a datetime (naive means UTC)."""
    if isinstance(value, datetime):
        # Through the same bounded reader as text: a year-1 or year-9999 datetime from a form would be stored
        # and then break every page that shows it.
        return validation.timestamp_text(value.isoformat())
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is required: an ISO 8601 date-time")
    return validation.timestamp_text(value)


def _optional_text(errors: Errors, payload: Mapping, name: str, max_length: int) -> str | None:
    value = payload.get(name)
    if value in (None, ""):
        return None
    try:
        return validation.text(value, max_length=max_length, min_length=0) or None
    except ValueError as exc:
        errors.add(name, str(exc))
        return None


def _required_text(errors: Errors, payload: Mapping, name: str, max_length: int) -> str | None:
    try:
        if payload.get(name) is None:
            raise ValueError("is required")
        return validation.text(payload[name], max_length=max_length)
    except ValueError as exc:
        errors.add(name, str(exc))
        return None


def _label(actor: Actor) -> str:
    """Staff appear by name; residents as "resident" (as in issue histories)."""
    if actor.role in ("volunteer", "social_worker", "official", "admin"):
        return actor.label
    return "resident"


def _lock(conn, deliberation_id: int) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q["lock"], {"id": deliberation_id}).fetchone()
    if row is None:
        raise DeliberationNotFound(deliberation_id)
    return row


def _may_take_part(actor: Actor, area_id: int) -> None:
    """Signed in and of the community: AuthenticationRequired or NotOfThisCommunity otherwise."""
    if actor.is_anonymous:
        raise permissions.AuthenticationRequired("deliberation.vote")
    if not permissions.may(actor, "deliberation.vote", {"area_id": area_id}):
        raise NotOfThisCommunity()


# ---------------------------------------------------------------- opening

OPEN_FIELDS = {"area_id", "title", "description", "issue_ids", "options", "lat", "lon", "crs", "address",
               "meeting_at", "votes_open_at", "votes_close_at"}


def open_deliberation(conn: psycopg.Connection, actor: Actor, payload: Mapping[str, Any]) -> dict:
    """Open a deliberation; returns it as get() does.

    Refusals in this order: ValidationError for a malformed area_id, AuthenticationRequired /
    PermissionDenied (deliberation.manage on the area: a social worker of it), then ValidationError listing
    every problem (unknown area, no issue / an issue of another area / a finished one, fewer than two
    options, window closing before it opens or already over, a meeting place far from the area).
    """
    if not isinstance(payload, Mapping):
        raise ValidationError({"body": "must be a JSON object"})
    unknown = sorted(set(payload) - OPEN_FIELDS)
    if unknown:
        raise ValidationError({name: "is not a field of a deliberation" for name in unknown})
    area_id = validation.row_id(payload.get("area_id"), "area_id")
    permissions.require(actor, "deliberation.manage", {"area_id": area_id} if area_id is not None else None)

    errors = Errors()
    if area_id is None:
        errors.add("area_id", "is required")
    title = _required_text(errors, payload, "title", TITLE_MAX)
    description = _optional_text(errors, payload, "description", DESCRIPTION_MAX)
    address = _optional_text(errors, payload, "address", ADDRESS_MAX)

    options: list[str] = []
    raw = payload.get("options")
    if not isinstance(raw, list):
        errors.add("options", "must be a list of at least two choices")
    else:
        for item in raw:
            try:
                label = validation.text(item, max_length=OPTION_MAX, min_length=0)
            except ValueError as exc:
                errors.add("options", f"each choice {exc}")
                continue
            if label and label.casefold() not in {o.casefold() for o in options}:
                options.append(label)
        if "options" not in errors and len(options) < OPTIONS_MIN:
            errors.add("options", "needs at least two different choices")
        elif len(options) > OPTIONS_MAX:
            errors.add("options", f"at most {OPTIONS_MAX} choices")

    issue_ids: list[int] = []
    raw = payload.get("issue_ids")
    if not isinstance(raw, list) or not raw:
        errors.add("issue_ids", "must list at least one issue of the community")
    elif len(raw) > ISSUES_MAX:
        errors.add("issue_ids", f"at most {ISSUES_MAX} issues")
    else:
        for item in raw:
            try:
                issue_id = validation.integer(item, minimum=1, maximum=2**63 - 1)
            except ValueError as exc:
                errors.add("issue_ids", f"each id {exc}")
                continue
            if issue_id not in issue_ids:
                issue_ids.append(issue_id)

    point = None
    try:
        lat = validation.number(payload.get("lat"), minimum=-90, maximum=90)
        lon = validation.number(payload.get("lon"), minimum=-180, maximum=180)
        crs = payload.get("crs") or "wgs84"
        if crs not in chinacrs.SYSTEMS:
            raise ValueError(f"crs must be one of {', '.join(chinacrs.SYSTEMS)}")
        point = chinacrs.to_wgs84(crs, lon, lat)
    except ValueError as exc:
        errors.add("place", f"the meeting place: {exc}" if payload.get("lat") is not None else
                   "is required: tap the map where the meeting is")

    times: dict[str, datetime] = {}
    for name in ("meeting_at", "votes_open_at", "votes_close_at"):
        try:
            times[name] = _moment(payload.get(name))
        except ValueError as exc:
            errors.add(name, str(exc))
    if len(times) == 3:
        if times["votes_close_at"] <= times["votes_open_at"]:
            errors.add("votes_close_at", "must be after the voting opens")
        elif times["votes_close_at"] <= datetime.now(timezone.utc):
            errors.add("votes_close_at", "must be in the future")

    with conn.transaction():
        if area_id is not None:
            with conn.cursor(row_factory=dict_row) as cur:
                area = cur.execute(Q["area"], {"area_id": area_id, "lon": point[0] if point else 0,
                                               "lat": point[1] if point else 0, "near_m": NEAR_M}).fetchone()
            if area is None:
                errors.add("area_id", f"there is no area {area_id}")
            elif point and not area["near"]:
                errors.add("place", f"the meeting place must be in the community or within {NEAR_M} m of it")
            if area is not None and issue_ids:
                found = {r[0]: r for r in conn.execute(Q["issues_in_area"], {"area_id": area_id,
                                                                             "issue_ids": issue_ids})}
                for issue_id in issue_ids:
                    row = found.get(issue_id)
                    if row is None:
                        errors.add("issue_ids", f"there is no issue {issue_id}")
                    elif not row[2]:
                        errors.add("issue_ids", f"issue {issue_id} is not in this community")
                    elif row[1] in FINAL:
                        errors.add("issue_ids", f"issue {issue_id} is {row[1]}; only unfinished issues can be deliberated")
        errors.raise_if_any()

        deliberation_id = conn.execute(Q["insert"], {
            "area_id": area_id, "title": title, "description": description, "actor_id": actor.user_id,
            "actor_label": actor.label, "lon": point[0], "lat": point[1], "address": address, **times,
        }).fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO deliberation_options (deliberation_id, position, label) VALUES (%s, %s, %s)",
                            [(deliberation_id, i, label) for i, label in enumerate(options, 1)])
            cur.executemany("INSERT INTO deliberation_issues (deliberation_id, issue_id) VALUES (%s, %s)",
                            [(deliberation_id, i) for i in issue_ids])
        _issue_events(conn, actor, deliberation_id, title, "opened", note=None,
                      extra={"meeting_at": times["meeting_at"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
        audit.record(conn, actor, "deliberation.open", "deliberation", deliberation_id,
                     {"area_id": area_id, "issue_ids": issue_ids, "options": len(options)})
        result = get(conn, deliberation_id, actor)
    log.info("deliberation %s opened in area %s by %s (%d issues)", deliberation_id, area_id, actor.label,
             len(issue_ids))
    return result


def _issue_events(conn, actor: Actor, deliberation_id: int, title: str, stage: str, *, note: str | None,
                  extra: dict | None = None) -> None:
    data = {"deliberation_id": deliberation_id, "title": title, "stage": stage, **(extra or {})}
    conn.execute(Q["issue_event"], {"id": deliberation_id, "actor_id": actor.user_id, "actor_role": actor.role,
                                    "actor_label": _label(actor), "note": note, "data": Jsonb(data)})


# ---------------------------------------------------------------- reading


def get(conn: psycopg.Connection, deliberation_id: Any, actor: Actor = permissions.ANONYMOUS) -> dict:
    """The deliberation, public to all: issues, options, comments, meeting record, follow-up actions.

    Counts per option are included (options[].votes) once voting is over (the window has closed or the
    meeting was recorded), and at any time for staff who manage it; the total number of votes always is.
    your_vote is the actor's own choice; who voted for what is never part of the answer.
    """
    deliberation_id = _id(deliberation_id)
    with conn.cursor(row_factory=dict_row) as cur:
        d = cur.execute(Q["load"], {"id": deliberation_id}).fetchone()
        if d is None:
            raise DeliberationNotFound(deliberation_id)
        manager = permissions.may(actor, "deliberation.manage", d)
        results_visible = d["phase"] not in ("upcoming", "voting") or manager
        options = []
        for o in cur.execute(Q["options"], {"id": deliberation_id}):
            options.append({"id": o["id"], "position": o["position"], "label": o["label"],
                            **({"votes": o["votes"]} if results_visible else {})})
        issues = cur.execute(Q["linked_issues"], {"id": deliberation_id}).fetchall()
        comments = cur.execute(Q["comments"], {"id": deliberation_id}).fetchall()
        actions = cur.execute(Q["actions"], {"id": deliberation_id}).fetchall()
    your_vote = None
    if actor.user_id is not None:
        row = conn.execute("SELECT option_id FROM deliberation_votes WHERE deliberation_id = %s AND user_id = %s",
                           (deliberation_id, actor.user_id)).fetchone()
        your_vote = row[0] if row else None
    return {
        "id": d["id"],
        "area": {"id": d["area_id"], "code": d["area_code"], "name": d["area_name"], "name_en": d["area_name_en"]},
        "title": d["title"],
        "description": d["description"],
        "opened_by": d["opened_by_label"],
        "place": {"lat": d["lat"], "lon": d["lon"], "address": d["place_address"]},
        "meeting_at": d["meeting_at"],
        "votes_open_at": d["votes_open_at"],
        "votes_close_at": d["votes_close_at"],
        "status": d["status"],
        "phase": d["phase"],
        "created_at": d["created_at"],
        "issues": issues,
        "options": options,
        "votes_total": d["votes_total"],
        "results_visible": results_visible,
        "your_vote": your_vote,
        "vote_refusal": _vote_refusal(actor, d, your_vote),
        "may_manage": manager,
        "comments": comments,
        "meeting": {"attendance": d["attendance"], "minutes": d["minutes"], "decision": d["decision"],
                    "decided_at": d["decided_at"]} if d["status"] != "open" else None,
        "actions": actions,
    }


def _vote_refusal(actor: Actor, d: Mapping, your_vote: int | None) -> str | None:
    """Why a vote by this actor would be refused now (a reason code), or None when it would be taken."""
    if actor.is_anonymous:
        return "not_signed_in"
    if not permissions.may(actor, "deliberation.vote", d):
        return NotOfThisCommunity.reason
    if d["status"] != "open":
        return "closed"
    if d["phase"] == "upcoming":
        return VotingNotOpenYet.reason
    if d["phase"] != "voting":
        return "after_window"
    if your_vote is not None:
        return AlreadyVoted.reason
    return None


def list_deliberations(conn: psycopg.Connection, area_ids: list[int] | None = None, limit: int = 100) -> list[dict]:
    """Deliberations of these areas (all when None): open ones first, then by meeting time, newest first."""
    if area_ids is not None:
        try:
            area_ids = [validation.integer(i, minimum=1, maximum=validation.ID_MAX) for i in area_ids]
        except ValueError:
            raise ValidationError({"area": "must be area ids"}) from None
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(Q["list"], {"area_ids": None if area_ids is None else list(area_ids),
                                       "limit": max(1, min(int(limit), 500))}).fetchall()


# ---------------------------------------------------------------- taking part


def vote(conn: psycopg.Connection, actor: Actor, deliberation_id: Any, option_id: Any) -> dict:
    """Cast the actor's one vote: {deliberation_id, option_id, cast_at, votes_total}.

    Refusals, in this order: DeliberationNotFound; AuthenticationRequired (nobody signed in);
    NotOfThisCommunity (the deliberation's area is not among the actor's); VotingClosed (recorded, or the
    window is over); VotingNotOpenYet; ValidationError (not an option of this deliberation); AlreadyVoted
    (decided by the unique constraint, so two simultaneous votes of one account store exactly one).
    """
    deliberation_id = _id(deliberation_id)
    with conn.transaction():
        d = _lock(conn, deliberation_id)
        _may_take_part(actor, d["area_id"])
        if d["status"] != "open":
            raise VotingClosed(recorded=True)
        if d["after_window"]:
            raise VotingClosed()
        if d["before_window"]:
            raise VotingNotOpenYet()
        try:
            option_id = validation.integer(option_id, minimum=1, maximum=2**63 - 1)
        except ValueError as exc:
            raise ValidationError({"option_id": "is required" if option_id is None else str(exc)}) from None
        if conn.execute("SELECT 1 FROM deliberation_options WHERE id = %s AND deliberation_id = %s",
                        (option_id, deliberation_id)).fetchone() is None:
            raise ValidationError({"option_id": "is not a choice of this deliberation"})
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(Q["vote"], {"id": deliberation_id, "option_id": option_id, "user_id": actor.user_id,
                                          "role": actor.role}).fetchone()
        if row is None:
            raise AlreadyVoted()
        total = conn.execute("SELECT count(*) FROM deliberation_votes WHERE deliberation_id = %s",
                             (deliberation_id,)).fetchone()[0]
    log.info("deliberation %s: a vote by user %s", deliberation_id, actor.user_id)
    return {"deliberation_id": deliberation_id, "option_id": option_id, "cast_at": row["cast_at"],
            "votes_total": total}


def comment(conn: psycopg.Connection, actor: Actor, deliberation_id: Any, body: Any) -> dict:
    """Add a comment (residents and staff of the community, signed in); returns it."""
    deliberation_id = _id(deliberation_id)
    with conn.transaction():
        d = _lock(conn, deliberation_id)
        _may_take_part(actor, d["area_id"])
        try:
            if body is None:
                raise ValueError("is required")
            body = validation.text(body, max_length=COMMENT_MAX)
        except ValueError as exc:
            raise ValidationError({"body": str(exc)}) from None
        label = _label(actor)
        row = conn.execute(
            "INSERT INTO deliberation_comments (deliberation_id, author_id, author_role, author_label, body)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id, utc_iso(created_at)",
            (deliberation_id, actor.user_id, actor.role, label, body)).fetchone()
    return {"id": row[0], "deliberation_id": deliberation_id, "author_label": label, "author_role": actor.role,
            "body": body, "created_at": row[1]}


# ---------------------------------------------------------------- the meeting

RECORD_FIELDS = {"attendance", "minutes", "decision", "actions"}
ACTION_FIELDS = {"description", "party_id", "due_on"}


def record_meeting(conn: psycopg.Connection, actor: Actor, deliberation_id: Any, payload: Mapping[str, Any]) -> dict:
    """Record the meeting {attendance, minutes?, decision?, actions?: [{description, party_id, due_on}]}.

    With a decision the deliberation becomes "decided", without one "closed"; either ends the voting. Each
    linked issue gets a 'deliberation' history event carrying the decision. Recorded once (AlreadyRecorded).
    """
    deliberation_id = _id(deliberation_id)
    if not isinstance(payload, Mapping):
        raise ValidationError({"body": "must be a JSON object"})
    with conn.transaction():
        d = _lock(conn, deliberation_id)
        permissions.require(actor, "deliberation.manage", d)
        errors = Errors()
        for name in sorted(set(payload) - RECORD_FIELDS):
            errors.add(name, "is not a field of a meeting record")
        attendance = None
        try:
            if payload.get("attendance") is None:
                raise ValueError("is required: how many people came")
            attendance = validation.integer(payload["attendance"], minimum=0, maximum=100000)
        except ValueError as exc:
            errors.add("attendance", str(exc))
        minutes = _optional_text(errors, payload, "minutes", MINUTES_MAX)
        decision = _optional_text(errors, payload, "decision", DECISION_MAX)
        actions = _actions(conn, errors, payload.get("actions"))
        errors.raise_if_any()
        if d["status"] != "open":
            raise AlreadyRecorded(d["status"])
        status = "decided" if decision else "closed"
        conn.execute(
            "UPDATE deliberations SET status = %s, attendance = %s, minutes = %s, decision = %s,"
            " decided_at = CASE WHEN %s::text IS NOT NULL THEN now() END, recorded_by = %s, updated_at = now()"
            " WHERE id = %s",
            (status, attendance, minutes, decision, decision, actor.user_id, deliberation_id))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO deliberation_actions (deliberation_id, description, party_id, due_on)"
                " VALUES (%s, %s, %s, %s)",
                [(deliberation_id, a["description"], a["party_id"], a["due_on"]) for a in actions])
        _issue_events(conn, actor, deliberation_id, d["title"], status, note=decision,
                      extra={"decision": decision, "attendance": attendance, "actions": len(actions)})
        audit.record(conn, actor, "deliberation.record", "deliberation", deliberation_id,
                     {"status": status, "attendance": attendance, "actions": len(actions)})
        result = get(conn, deliberation_id, actor)
    log.info("deliberation %s recorded as %s by %s", deliberation_id, status, actor.label)
    return result


def _actions(conn, errors: Errors, raw: Any) -> list[dict]:
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        errors.add("actions", "must be a list")
        return []
    if len(raw) > ACTIONS_MAX:
        errors.add("actions", f"at most {ACTIONS_MAX} actions")
        return []
    actions = []
    for n, item in enumerate(raw, 1):
        name = f"actions[{n}]"
        if not isinstance(item, Mapping):
            errors.add(name, "must be an object {description, party_id, due_on}")
            continue
        extra = sorted(set(item) - ACTION_FIELDS)
        if extra:
            errors.add(name, f"{extra[0]!r} is not a field of an action")
            continue
        try:
            if item.get("description") is None:
                raise ValueError("description is required")
            description = validation.text(item["description"], max_length=ACTION_MAX)
            if item.get("party_id") is None:
                raise ValueError("party_id is required: who will do it")
            party_id = validation.integer(item["party_id"], minimum=1, maximum=2**63 - 1)
            row = conn.execute("SELECT active FROM parties WHERE id = %s", (party_id,)).fetchone()
            if row is None or not row[0]:
                raise ValueError(f"there is no active party {party_id}")
            due = item.get("due_on")
            if isinstance(due, date):
                due = date(due.year, due.month, due.day).isoformat()
            # ASCII digits: \d would also take "٢٠٣١"; the bounded reader keeps out years the pages cannot show.
            if isinstance(due, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", due.strip()):
                due_on = validation.timestamp_text(due).date()
            else:
                raise ValueError("due_on is required: a date YYYY-MM-DD")
        except ValueError as exc:
            errors.add(name, str(exc))
            continue
        actions.append({"description": description, "party_id": party_id, "due_on": due_on})
    return actions


def complete_action(conn: psycopg.Connection, actor: Actor, action_id: Any, note: Any = None) -> dict:
    """Mark a follow-up action done: the social worker of the area, or a member of the party it was given to."""
    action_id = _id(action_id, "action_id", ActionNotFound)
    if note not in (None, ""):
        try:
            note = validation.text(note, max_length=ACTION_MAX, min_length=0) or None
        except ValueError as exc:
            raise ValidationError({"note": str(exc)}) from None
    else:
        note = None
    with conn.transaction():
        row = conn.execute(
            "SELECT x.deliberation_id, x.party_id, d.area_id, x.done_at FROM deliberation_actions x"
            " JOIN deliberations d ON d.id = x.deliberation_id WHERE x.id = %s FOR UPDATE OF x",
            (action_id,)).fetchone()
        if row is None:
            raise ActionNotFound(action_id)
        deliberation_id, party_id, area_id, done_at = row
        if actor.is_anonymous:
            raise permissions.AuthenticationRequired("deliberation.manage")
        if party_id not in actor.party_ids and not permissions.may(actor, "deliberation.manage", {"area_id": area_id}):
            raise permissions.PermissionDenied("deliberation.manage")
        if done_at is None:
            conn.execute("UPDATE deliberation_actions SET done_at = now(), done_note = %s WHERE id = %s",
                         (note, action_id))
            if actor.is_staff:
                audit.record(conn, actor, "deliberation.action_done", "deliberation", deliberation_id,
                             {"action_id": action_id})
    return {"id": action_id, "deliberation_id": deliberation_id, "done": True}
