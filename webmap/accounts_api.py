"""Accounts in the JSON API: who am I, and the audit log for admins."""
from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from geodata import accounts, audit
from geodata.validation import ValidationError
from webmap import db
from webmap.auth import current_actor, requires

bp = Blueprint("accounts_api", __name__, url_prefix="/api")

MAX_AUDIT_PAGE = 500


@bp.get("/me")
def me():
    """The caller: role, areas and party when signed in or holding a token; {"role": "anonymous"} otherwise."""
    actor = current_actor()
    if actor.is_anonymous:
        return jsonify(role="anonymous", user=None)
    with db.get_conn() as conn:
        user = accounts.user_row(conn, actor.user_id)
    user = accounts.redact_user(actor, user)
    return jsonify(role=actor.role, via_token=actor.via_token is not None, user=user,
                   area_ids=sorted(actor.area_ids))


@bp.get("/audit")
@requires("audit.read")
def audit_entries():
    """Audit entries newest first; ?limit= (1-500, default 50) and ?before=<id> for the next page."""
    limit = request.args.get("limit", "50")
    before = request.args.get("before")
    problems = {}
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_AUDIT_PAGE:
        problems["limit"] = f"must be a whole number from 1 to {MAX_AUDIT_PAGE}"
    if before is not None and not before.isdigit():
        problems["before"] = "must be an entry id"
    if problems:
        raise ValidationError(problems)
    limit = int(limit)
    with db.get_conn() as conn:
        rows = audit.entries(conn, limit=limit + 1, before_id=int(before) if before else None)
    more = len(rows) > limit
    rows = rows[:limit]
    for row in rows:
        row["at"] = row["at"].isoformat()
    body = {"entries": rows, "next": url_for("accounts_api.audit_entries", limit=limit, before=rows[-1]["id"])
            if more else None}
    return jsonify(body)
