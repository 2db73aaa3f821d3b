"""Resident volunteer groups (parties of kind volunteer_group): registration, members, assignment, work reports.

A group is registered by a social worker of its community (or an admin); members are residents of that
community. Membership sets users.party_id (what authorises an account to act for its group) and a
party_members row (leader or member), in one transaction; a member's account becomes a volunteer account
while in the group. Staff assign issues to a group through geodata.issues (issues.assigned_party_id, which
the dashboard's "resolved by kind of party" count reads); members report work as 'work_report' history
events and may move the issue on (assigned -> in_progress -> resolved) through issues.transition.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from geodata import accounts, audit, issues, permissions, validation
from geodata.permissions import Actor
from geodata.validation import Errors, ValidationError

log = logging.getLogger(__name__)

NAME_MAX = 100
CONTACT_MAX = 200
NOTE_MAX = 4000
MEMBER_ROLES = ("member", "leader")
# Work reports may move the issue on, along these edges of the lifecycle only.
REPORT_MOVES = {"in_progress", "resolved"}


class GroupError(Exception):
    """Base of this module's refusals; `reason` is a stable code for translation."""

    reason = "refused"
    fields: dict[str, str] = {}


class GroupNotFound(GroupError, LookupError):
    reason = "not_found"

    def __init__(self, group_id: Any):
        super().__init__(f"There is no volunteer group {group_id}.")


class AlreadyInAGroup(GroupError):
    reason = "already_in_a_group"

    def __init__(self, username: str):
        super().__init__(f"{username} already belongs to a volunteer group; one person, one group.")
        self.fields = {"user": str(self)}


class GroupCannotHandle(GroupError):
    reason = "cannot_handle"

    def __init__(self, category: str):
        super().__init__(f"This group has not said it can handle {category!r} issues.")
        self.fields = {"issue_id": str(self)}


class WorkNotExpected(GroupError):
    reason = "not_in_hand"

    def __init__(self, status: str):
        super().__init__(f"Work can be reported on an assigned or in-progress issue, not on a {status!r} one.")


# ---------------------------------------------------------------- reading

_GROUP = """
SELECT p.id, p.kind, p.name, p.name_en, p.contact, p.area_id, p.capabilities, p.active, utc_iso(p.created_at) AS created_at,
       a.code AS area_code, a.name AS area_name, a.name_en AS area_name_en
FROM parties p LEFT JOIN areas a ON a.id = p.area_id
WHERE p.id = %s AND p.kind = 'volunteer_group'
"""

# Members: the roster row counts only while the account still acts for the group (users.party_id), so an
# admin moving a person elsewhere on the users page cannot leave a stale member behind.
_MEMBERS = """
SELECT u.id AS user_id, u.username, COALESCE(u.display_name, u.username) AS name, m.role, utc_iso(m.added_at) AS added_at
FROM party_members m JOIN users u ON u.id = m.user_id AND u.party_id = m.party_id
WHERE m.party_id = %s AND u.active
ORDER BY m.role = 'leader' DESC, lower(COALESCE(u.display_name, u.username))
"""

_ISSUES = """
SELECT i.id, i.title, i.category, i.status, i.version, utc_iso(i.due_at) AS due_at, utc_iso(i.resolved_at) AS resolved_at
FROM issues i WHERE i.assigned_party_id = %s
ORDER BY i.status IN ('resolved', 'closed', 'rejected', 'duplicate'), i.due_at, i.id
LIMIT 200
"""

_REPORTS = """
SELECT e.id, e.issue_id, i.title AS issue_title, e.actor_label, e.note, e.data, utc_iso(e.at) AS at
FROM issues i JOIN issue_events e ON e.issue_id = i.id
WHERE i.assigned_party_id = %(id)s AND e.kind = 'work_report' AND e.data ->> 'party_id' = %(id)s::text
ORDER BY e.id DESC LIMIT 50
"""

_LIST = """
SELECT p.id, p.name, p.name_en, p.area_id, a.code AS area_code, a.name AS area_name, a.name_en AS area_name_en,
       p.capabilities, p.active,
       (SELECT count(*) FROM party_members m JOIN users u ON u.id = m.user_id AND u.party_id = m.party_id
        WHERE m.party_id = p.id AND u.active) AS members_count,
       (SELECT count(*) FROM issues i WHERE i.assigned_party_id = p.id
        AND i.status IN ('assigned', 'in_progress')) AS open_issues
FROM parties p LEFT JOIN areas a ON a.id = p.area_id
WHERE p.kind = 'volunteer_group' AND (%(area_ids)s::bigint[] IS NULL OR p.area_id = ANY (%(area_ids)s))
ORDER BY p.active DESC, p.name, p.id
LIMIT 500
"""

# Issues resolved (still resolved, or closed after it) by each kind of party: the party assigned when the
# issue was resolved is the one still in issues.assigned_party_id (only reopening clears it).
RESOLVED_BY_KIND = """
SELECT p.kind, count(*) AS resolved
FROM issues i JOIN parties p ON p.id = i.assigned_party_id
WHERE i.resolved_at IS NOT NULL AND i.status IN ('resolved', 'closed')
GROUP BY p.kind ORDER BY p.kind
"""


def _load(conn, group_id: Any, *, for_update: bool = False) -> dict:
    try:
        group_id = validation.integer(group_id)
    except ValueError as exc:
        raise ValidationError({"group_id": str(exc)}) from None
    if not 1 <= group_id < 2**63:
        raise GroupNotFound(group_id)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_GROUP + (" FOR UPDATE OF p" if for_update else ""), (group_id,)).fetchone()
    if row is None:
        raise GroupNotFound(group_id)
    return row


def get(conn: psycopg.Connection, group_id: Any, actor: Actor = permissions.ANONYMOUS) -> dict:
    """The group: public name, area, capabilities, assigned issues, work reports and member count.

    Member names go to staff who manage the group's area and to its own members; the contact to staff only.
    """
    g = _load(conn, group_id)
    manager = permissions.may(actor, "party.manage", g)
    member = g["id"] in actor.party_ids
    with conn.cursor(row_factory=dict_row) as cur:
        members = cur.execute(_MEMBERS, (g["id"],)).fetchall()
        assigned = cur.execute(_ISSUES, (g["id"],)).fetchall()
        reports = cur.execute(_REPORTS, {"id": g["id"]}).fetchall()
    result = {
        "id": g["id"], "kind": g["kind"], "name": g["name"], "name_en": g["name_en"], "active": g["active"],
        "area": {"id": g["area_id"], "code": g["area_code"], "name": g["area_name"], "name_en": g["area_name_en"]},
        "capabilities": list(g["capabilities"]), "created_at": g["created_at"],
        "members_count": len(members),
        "issues": assigned,
        "work_reports": [{**r, "minutes": r["data"].get("minutes"), "people": r["data"].get("people")}
                         for r in reports],
        "resolved_count": sum(1 for i in assigned if i["status"] in ("resolved", "closed")),
        "may_manage": manager,
        "is_member": member,
    }
    for r in result["work_reports"]:
        r.pop("data")
    if manager or member:
        result["members"] = [{k: m[k] for k in ("user_id", "name", "role", "added_at")} for m in members]
    if manager:
        result["contact"] = g["contact"]
    return result


def list_groups(conn: psycopg.Connection, area_ids: list[int] | None = None) -> list[dict]:
    """Volunteer groups of these areas (all when None), active first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_LIST, {"area_ids": None if area_ids is None else list(area_ids)}).fetchall()


def resolved_by_kind(conn: psycopg.Connection) -> dict[str, int]:
    """How many issues each kind of party resolved (government / social_work / volunteer_group)."""
    return dict(conn.execute(RESOLVED_BY_KIND).fetchall())


# ---------------------------------------------------------------- registering and members

REGISTER_FIELDS = {"name", "name_en", "area_id", "capabilities", "contact", "members"}


def register(conn: psycopg.Connection, actor: Actor, payload: Mapping[str, Any]) -> dict:
    """Register a volunteer group {name, area_id, capabilities: [category codes], name_en?, contact?, members?}.

    party.manage on the area (a social worker of it, or an admin). members: usernames or ids of residents
    of the area, added as members (the first as leader). Returns get() of the new group.
    """
    if not isinstance(payload, Mapping):
        raise ValidationError({"body": "must be a JSON object"})
    unknown = sorted(set(payload) - REGISTER_FIELDS)
    if unknown:
        raise ValidationError({name: "is not a field of a volunteer group" for name in unknown})
    area_id = validation.row_id(payload.get("area_id"), "area_id")
    permissions.require(actor, "party.manage", {"area_id": area_id} if area_id is not None else None)
    errors = Errors()
    if area_id is None:
        errors.add("area_id", "is required")
    name = name_en = contact = None
    try:
        name = validation.text(payload.get("name") if payload.get("name") is not None else "", max_length=NAME_MAX)
    except ValueError as exc:
        errors.add("name", str(exc))
    for field, limit in (("name_en", NAME_MAX), ("contact", CONTACT_MAX)):
        if payload.get(field) not in (None, ""):
            try:
                value = validation.text(payload[field], max_length=limit, min_length=0) or None
            except ValueError as exc:
                errors.add(field, str(exc))
                continue
            if field == "name_en":
                name_en = value
            else:
                contact = value
    capabilities = _capabilities(conn, errors, payload.get("capabilities"))
    members = payload.get("members") or []
    if not isinstance(members, list):
        errors.add("members", "must be a list of usernames")
        members = []
    with conn.transaction():
        if area_id is not None and conn.execute("SELECT 1 FROM areas WHERE id = %s", (area_id,)).fetchone() is None:
            errors.add("area_id", f"there is no area {area_id}")
        errors.raise_if_any()
        group_id = conn.execute(
            "INSERT INTO parties (kind, name, name_en, contact, area_id, capabilities)"
            " VALUES ('volunteer_group', %s, %s, %s, %s, %s) RETURNING id",
            (name, name_en, contact, area_id, capabilities)).fetchone()[0]
        audit.record(conn, actor, "group.register", "party", group_id,
                     {"area_id": area_id, "capabilities": capabilities})
        for n, ref in enumerate(members):
            _add(conn, actor, _load(conn, group_id, for_update=True), ref, "leader" if n == 0 else "member")
        result = get(conn, group_id, actor)
    log.info("volunteer group %s registered in area %s by %s", group_id, area_id, actor.label)
    return result


def _capabilities(conn, errors: Errors, raw: Any) -> list[str]:
    if raw in (None, []):
        return []
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        errors.add("capabilities", "must be a list of category codes")
        return []
    # Refused before the query, which PostgreSQL would fail.
    problem = next(filter(None, map(validation.unstorable, raw)), None)
    if problem:
        errors.add("capabilities", problem)
        return []
    wanted = list(dict.fromkeys(c.strip() for c in raw if c.strip()))
    known = {r[0] for r in conn.execute("SELECT code FROM categories WHERE code = ANY(%s)", (wanted,))}
    missing = [c for c in wanted if c not in known]
    if missing:
        errors.add("capabilities", "unknown category: " + ", ".join(missing))
    return wanted


def _user(conn, ref: Any) -> accounts.Account:
    account = None
    if isinstance(ref, str) and ref.strip():
        account = accounts.find_user(conn, ref.strip())
    elif isinstance(ref, int) and not isinstance(ref, bool) and 1 <= ref < 2**63:
        account = accounts.load_user(conn, ref)
    if account is None or not account.active:
        raise ValidationError({"user": f"there is no active account {ref!r}"})
    return account


def _add(conn, actor: Actor, group: dict, ref: Any, role: str) -> dict:
    account = _user(conn, ref)
    if account.role not in ("resident", "volunteer"):
        raise ValidationError({"user": "only residents can be members of a volunteer group"})
    if group["area_id"] not in accounts.areas_with_descendants(conn, account.area_ids):
        raise ValidationError({"user": "must live in the group's community (their account names another area)"})
    if account.party_id is not None and account.party_id != group["id"]:
        raise AlreadyInAGroup(account.username)
    conn.execute("UPDATE users SET party_id = %s, role = 'volunteer', updated_at = now() WHERE id = %s",
                 (group["id"], account.id))
    conn.execute(
        "INSERT INTO party_members (user_id, party_id, role, added_by) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (user_id) DO UPDATE SET party_id = excluded.party_id, role = excluded.role,"
        " added_by = excluded.added_by, added_at = CASE WHEN party_members.party_id = excluded.party_id"
        " THEN party_members.added_at ELSE now() END",
        (account.id, group["id"], role, actor.user_id))
    audit.record(conn, actor, "group.add_member", "party", group["id"], {"user_id": account.id, "role": role})
    return {"user_id": account.id, "name": account.display_name or account.username, "role": role}


def add_member(conn: psycopg.Connection, actor: Actor, group_id: Any, user: Any, role: str = "member") -> dict:
    """Add (or change the part of) a member: a resident of the group's community, by username or id.

    party.manage on the group's area. The account becomes a volunteer acting for the group; someone already
    in another group is refused (AlreadyInAGroup).
    """
    if role not in MEMBER_ROLES:
        raise ValidationError({"role": f"must be one of {', '.join(MEMBER_ROLES)}"})
    with conn.transaction():
        group = _load(conn, group_id, for_update=True)
        permissions.require(actor, "party.manage", group)
        if not group["active"]:
            raise ValidationError({"group_id": "the group is not active"})
        return _add(conn, actor, group, user, role)


def remove_member(conn: psycopg.Connection, actor: Actor, group_id: Any, user_id: Any) -> None:
    """Take a member out of the group: the account goes back to being a resident without a party."""
    with conn.transaction():
        group = _load(conn, group_id, for_update=True)
        permissions.require(actor, "party.manage", group)
        user_id = validation.row_id(user_id, "user_id")
        removed = conn.execute("DELETE FROM party_members WHERE user_id = %s AND party_id = %s RETURNING user_id",
                               (user_id, group["id"])).fetchone()
        conn.execute("UPDATE users SET party_id = NULL, updated_at = now(),"
                     " role = CASE role WHEN 'volunteer' THEN 'resident' ELSE role END"
                     " WHERE id = %s AND party_id = %s", (user_id, group["id"]))
        if removed is None:
            raise ValidationError({"user_id": "is not a member of this group"})
        audit.record(conn, actor, "group.remove_member", "party", group["id"], {"user_id": user_id})


# ---------------------------------------------------------------- issues and work


def assign_issue(conn: psycopg.Connection, actor: Actor, group_id: Any, issue_id: Any, version: Any,
                 note: str | None = None) -> issues.Issue:
    """Give an issue to the group (issues.assign: confirmed -> assigned, or a change of hands while assigned).

    The group must be active and have said it can handle the issue's category (GroupCannotHandle).
    """
    with conn.transaction():
        group = _load(conn, group_id)
        issue = issues.load(conn, issue_id)
        permissions.require(actor, "issue.assign", issue)
        if not group["active"]:
            raise ValidationError({"group_id": "the group is not active"})
        if issue.category not in group["capabilities"]:
            raise GroupCannotHandle(issue.category)
        return issues.assign(conn, actor, issue.id, group["id"], version, note)


REPORT_FIELDS = {"note", "minutes", "people", "to", "version"}


def report_work(conn: psycopg.Connection, actor: Actor, issue_id: Any, payload: Mapping[str, Any]) -> dict:
    """A member reports work on an issue assigned to their group {note, minutes?, people?, to?, version?}.

    Writes one 'work_report' history event (note; data: party_id, minutes, people); with `to`
    (in_progress or resolved) and the issue's `version` it also moves the issue through issues.transition,
    in the same transaction. party.report_work: a volunteer of the group the issue is assigned to.
    Returns {event_id, issue: the issue's public feature}.
    """
    if not isinstance(payload, Mapping):
        raise ValidationError({"body": "must be a JSON object"})
    with conn.transaction():
        issue = issues.load(conn, issue_id)
        permissions.require(actor, "party.report_work", issue)
        return _report_work(conn, actor, issue, payload)


def _report_work(conn, actor: Actor, issue: issues.Issue, payload: Mapping[str, Any]) -> dict:
    errors = Errors()
    for name in sorted(set(payload) - REPORT_FIELDS):
        errors.add(name, "is not a field of a work report")
    note = None
    try:
        note = validation.text(payload.get("note") if payload.get("note") is not None else "", max_length=NOTE_MAX)
    except ValueError as exc:
        errors.add("note", "is required: what was done" if payload.get("note") in (None, "") else str(exc))
    numbers = {}
    for name, top in (("minutes", 10000), ("people", 1000)):
        if payload.get(name) is not None:
            try:
                numbers[name] = validation.integer(payload[name], minimum=0 if name == "minutes" else 1, maximum=top)
            except ValueError as exc:
                errors.add(name, str(exc))
    to = payload.get("to")
    # A list or an object in `to` cannot be looked up in a set (unhashable).
    if to not in (None, "") and (not isinstance(to, str) or to not in REPORT_MOVES):
        errors.add("to", "must be in_progress or resolved")
    if to and payload.get("version") is None:
        errors.add("version", "is required to move the issue")
    errors.raise_if_any()
    with conn.transaction():
        issue = issues.load(conn, issue.id)
        if issue.status not in ("assigned", "in_progress"):
            raise WorkNotExpected(issue.status)
        data = {"party_id": issue.assigned_party_id, **numbers}
        event_id = conn.execute(
            "INSERT INTO issue_events (issue_id, actor_id, actor_role, actor_label, kind, from_status, to_status, note, data)"
            " VALUES (%s, %s, %s, %s, 'work_report', %s, %s, %s, %s) RETURNING id",
            (issue.id, actor.user_id, actor.role, actor.label, issue.status, issue.status, note, Jsonb(data))).fetchone()[0]
        conn.execute("UPDATE issues SET updated_at = now(), acknowledged_at = COALESCE(acknowledged_at, now())"
                     " WHERE id = %s", (issue.id,))
        if to:
            version = payload["version"]
            if to == "resolved" and issue.status == "assigned":
                # Done in one visit: the lifecycle still passes through in_progress, as two recorded steps.
                issue = issues.transition(conn, actor, issue.id, "in_progress", version)
                version = issue.version
            issues.transition(conn, actor, issue.id, to, version)
        if actor.is_staff:
            audit.record(conn, actor, "group.report_work", "issue", issue.id, data)
        feature = issues.feature(conn, issue.id)
    log.info("work reported on issue %s by %s (party %s)", issue.id, actor.label, data["party_id"])
    return {"event_id": event_id, "issue": feature}
