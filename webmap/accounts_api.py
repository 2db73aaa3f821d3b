"""Accounts in the JSON API: who am I, and the audit log for admins."""
from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from geodata import accounts, audit
from geodata.validation import ValidationError, id_text, integer_text
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
    problems = {}
    try:
        limit = integer_text(request.args.get("limit", "50"), minimum=1, maximum=MAX_AUDIT_PAGE)
    except ValueError:
        problems["limit"] = f"must be a whole number from 1 to {MAX_AUDIT_PAGE}"
    before = request.args.get("before")
    if before:
        try:
            before = id_text(before)
        except ValueError:
            problems["before"] = "must be an entry id"
    else:
        before = None
    if problems:
        raise ValidationError(problems)
    with db.get_conn() as conn:
        rows = audit.entries(conn, limit=limit + 1, before_id=before)
    more = len(rows) > limit
    rows = rows[:limit]
    for row in rows:
        row["at"] = row["at"].isoformat()
    body = {"entries": rows, "next": url_for("accounts_api.audit_entries", limit=limit, before=rows[-1]["id"])
            if more else None}
    return jsonify(body)
