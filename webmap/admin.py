"""Administration pages: accounts, API tokens and the audit log (admins only)."""
from __future__ import annotations

import logging
import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from geodata import accounts, audit, permissions, tokens
from geodata.validation import ValidationError, id_text, integer_text
from webmap import db
from webmap.auth import current_actor, requires

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")

AUDIT_PAGE = 50
_CODES = re.compile(r"[\s,;，；]+")


def _choices(conn) -> dict:
    """What the account forms offer: streets and communities (codes) and parties."""
    areas = conn.execute("SELECT code, name, level FROM areas WHERE level IN ('district', 'street', 'community')"
                         " ORDER BY area_level_rank(level), code LIMIT 2000").fetchall()
    parties = conn.execute("SELECT id, name, kind FROM parties WHERE active ORDER BY name").fetchall()
    return {"areas": areas, "parties": parties, "roles": accounts.ROLES}


def _form() -> dict:
    form = {k: (request.form.get(k) or "").strip() for k in ("username", "email", "display_name", "role", "areas",
                                                              "party_id")}
    form["active"] = request.form.get("active") == "on"
    return form


def _party(form: dict, problems: dict) -> int | None:
    """The form's party id; whether that party exists is accounts.create_user's and update_user's to say."""
    if not form["party_id"]:
        return None
    try:
        return id_text(form["party_id"])
    except ValueError:
        problems["party_id"] = "is not a party"
        return None


@bp.get("/users")
@requires("users.manage")
def users():
    """Every account, with its role, areas and status."""
    actor = current_actor()
    with db.get_conn() as conn:
        rows = [accounts.redact_user(actor, row) for row in accounts.list_users(conn)]
    return render_template("admin/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@requires("users.manage")
def new_user():
    """Create a staff (or any) account with a first password."""
    actor = current_actor()
    with db.get_conn() as conn:
        choices = _choices(conn)
    if request.method == "GET":
        return render_template("admin/user_form.html", user=None, form={"active": True}, problems={}, **choices)
    form = _form()
    password = request.form.get("password") or ""
    problems: dict = {}
    party_id = _party(form, problems)
    try:
        with db.get_conn() as conn, conn.transaction():
            area_ids = accounts.area_ids_for_codes(conn, _CODES.split(form["areas"]))
            if problems:
                raise ValidationError(problems)
            user_id = accounts.create_user(conn, form["username"], password, form["role"], email=form["email"],
                                           display_name=form["display_name"], party_id=party_id, area_ids=area_ids)
            audit.record(conn, actor, "user.create", "user", user_id,
                         {"username": form["username"], "role": form["role"], "areas": area_ids,
                          "party_id": party_id})
    except ValidationError as exc:
        problems.update(exc.fields)
        return render_template("admin/user_form.html", user=None, form=form, problems=problems, **choices), 400
    flash("user_created")
    return redirect(url_for("admin.edit_user", user_id=user_id))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@requires("users.manage")
def edit_user(user_id: int):
    """Change an account's role, areas, party, e-mail and whether it may sign in."""
    actor = current_actor()
    with db.get_conn() as conn:
        row = accounts.user_row(conn, user_id)
        choices = _choices(conn)
    if row is None:
        abort(404)
    user = accounts.redact_user(actor, row)
    if request.method == "GET":
        form = {**user, "areas": " ".join(user["area_codes"]), "party_id": str(user["party_id"] or "")}
        return render_template("admin/user_form.html", user=user, form=form, problems={}, **choices)
    form = _form()
    problems: dict = {}
    party_id = _party(form, problems)
    if user_id == actor.user_id and (form["role"] != "admin" or not form["active"]):
        # The last way back in must not be closed by a slip of the mouse.
        problems["role"] = "you cannot take away your own admin role or deactivate yourself"
    try:
        with db.get_conn() as conn, conn.transaction():
            area_ids = accounts.area_ids_for_codes(conn, _CODES.split(form["areas"]))
            if problems:
                raise ValidationError(problems)
            changed = accounts.update_user(conn, user_id, role=form["role"], active=form["active"], area_ids=area_ids,
                                           email=form["email"], display_name=form["display_name"], party_id=party_id)
            if changed:
                audit.record(conn, actor, "user.update", "user", user_id, changed)
    except ValidationError as exc:
        problems.update(exc.fields)
        return render_template("admin/user_form.html", user=user, form=form, problems=problems, **choices), 400
    flash("user_saved" if changed else "nothing_changed")
    return redirect(url_for("admin.edit_user", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
@requires("users.manage")
def reset_password(user_id: int):
    """Give an account a new password; every session of the account ends."""
    actor = current_actor()
    password = request.form.get("password") or ""
    try:
        with db.get_conn() as conn, conn.transaction():
            if accounts.load_user(conn, user_id) is None:
                abort(404)
            accounts.set_password(conn, user_id, password)
            audit.record(conn, actor, "user.password_reset", "user", user_id)
    except ValidationError as exc:
        flash("password_refused:" + exc.fields.get("password", ""))
        return redirect(url_for("admin.edit_user", user_id=user_id))
    flash("password_reset")
    return redirect(url_for("admin.edit_user", user_id=user_id))


@bp.route("/tokens", methods=["GET", "POST"])
@requires("tokens.manage")
def api_tokens():
    """API tokens: list, and create one (shown once, on the page that answers the creation)."""
    actor = current_actor()
    created = None
    problems: dict = {}
    form = {k: (request.form.get(k) or "").strip() for k in ("username", "role", "name", "expires_days")}
    status = 200
    if request.method == "POST":
        with db.get_conn() as conn, conn.transaction():
            user = accounts.find_user(conn, form["username"])
            if user is None or not user.active:
                problems["username"] = "no active account has this username"
            if not form["name"]:
                problems["name"] = "is required"
            days = None
            if form["expires_days"]:
                try:
                    days = integer_text(form["expires_days"], minimum=1, maximum=3650)
                except ValueError:
                    problems["expires_days"] = "must be a number of days from 1 to 3650"
            role = form["role"] or (user.role if user else "")
            if user is not None and role not in permissions.roles_within(user.role):
                problems["role"] = f"a {user.role}'s token may act as: " + ", ".join(permissions.roles_within(user.role))
            if not problems:
                try:
                    created = tokens.create_api_token(conn, user.id, role, form["name"], created_by=actor.user_id,
                                                      expires_at=tokens.expiry_in(days))
                except ValidationError as exc:
                    problems.update(exc.fields)
            if created is not None:
                audit.record(conn, actor, "token.create", "api_token", created.id,
                             {"user_id": user.id, "role": role, "name": form["name"], "expires_days": days})
        status = 400 if problems else 201
    with db.get_conn() as conn:
        rows = tokens.list_tokens(conn)
        users = conn.execute("SELECT username FROM users WHERE active ORDER BY lower(username) LIMIT 2000").fetchall()
    resp = render_template("admin/tokens.html", tokens=rows, created=created, form=form, problems=problems,
                           users=[u[0] for u in users], roles=accounts.ROLES)
    # The page with a new token must not be kept by the browser or any cache.
    return resp, status, {"Cache-Control": "no-store"}


@bp.post("/tokens/<int:token_id>/revoke")
@requires("tokens.manage")
def revoke_token(token_id: int):
    """Revoke a token at once; clients using it get 401 from the next request on."""
    actor = current_actor()
    with db.get_conn() as conn, conn.transaction():
        if tokens.revoke(conn, token_id):
            audit.record(conn, actor, "token.revoke", "api_token", token_id)
            flash("token_revoked")
    return redirect(url_for("admin.api_tokens"))


@bp.get("/audit")
@requires("audit.read")
def audit_log():
    """The audit log, newest first, AUDIT_PAGE entries a page (?before=<id> for older ones)."""
    before = request.args.get("before") or None
    if before is not None:
        try:
            before = id_text(before)
        except ValueError:
            raise ValidationError({"before": "must be an entry id"}) from None
    with db.get_conn() as conn:
        rows = audit.entries(conn, limit=AUDIT_PAGE + 1, before_id=before)
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    older = url_for("admin.audit_log", before=rows[-1]["id"]) if more else None
    return render_template("admin/audit.html", entries=rows, older=older, first_page=before is None)
