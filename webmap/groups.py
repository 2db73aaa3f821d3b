"""Volunteer group pages (/groups, /groups/<id>) and their JSON API (/api/groups..., work reports on issues).

Thin: geodata.groups decides; refusals reach the API through webmap.errors.DOMAIN_ERRORS and the pages as
messages next to the form.
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext
from werkzeug.exceptions import NotFound

from geodata import groups, issues, permissions, tiles
from geodata.validation import ValidationError, id_text, integer_text
from webmap import auth, db, i18n
from webmap.deliberations import _when, say
from webmap.issues_api import area_ids_arg, json_object
from webmap.report_pages import STATUS_LABELS

log = logging.getLogger(__name__)

bp = Blueprint("groups", __name__)

DONE = {
    "registered": lazy_gettext("The volunteer group is registered."),
    "member": lazy_gettext("Members updated."),
    "assigned": lazy_gettext("The issue is assigned to the group."),
    "work": lazy_gettext("Thank you! Your work report is saved."),
}
FIELD_LABELS = {
    "name": lazy_gettext("Name"), "name_en": lazy_gettext("Name in English"), "area_id": lazy_gettext("Community"),
    "capabilities": lazy_gettext("What the group can do"), "contact": lazy_gettext("Contact (private)"),
    "members": lazy_gettext("Members"), "user": lazy_gettext("Member"), "note": lazy_gettext("What was done"),
    "minutes": lazy_gettext("Minutes spent"), "people": lazy_gettext("People"), "to": lazy_gettext("Status"),
    "version": lazy_gettext("Status"), "issue_id": lazy_gettext("Issue"), "user_id": lazy_gettext("Member"),
}
REASONS = {
    "already_in_a_group": lazy_gettext("This person already belongs to a volunteer group; one person, one group."),
    "cannot_handle": lazy_gettext("This group has not said it can handle issues of this category."),
    "not_in_hand": lazy_gettext("Work can be reported on an assigned or in-progress issue only."),
}
_MESSAGES = (
    i18n.N_("only residents can be members of a volunteer group"),
    i18n.N_("must live in the group's community (their account names another area)"),
    i18n.N_("is required: what was done"), i18n.N_("must be in_progress or resolved"),
    i18n.N_("is not a member of this group"), i18n.N_("the group is not active"),
)




def _label(name, name_en) -> str:
    return i18n.category_name({"name": name, "name_en": name_en})


def _problems(exc: ValidationError) -> dict:
    return {name: say(message) for name, message in exc.fields.items()}


def _listed(problems: dict, shown_beside: tuple[str, ...] = ()) -> str | None:
    """The problems of fields that have no place for a message beside them, as one notice."""
    rest = [f"{FIELD_LABELS.get(name, name)}: {message}" for name, message in problems.items()
            if name not in shown_beside]
    return "; ".join(rest) or None


def _form_numbers(form, parsers: dict, required: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Whole numbers from form fields, and a problem for each that is missing (when required) or not one."""
    values, problems = {}, {}
    for name, parse in parsers.items():
        # The first value of a repeated field, as request.form.get reads it everywhere else.
        raw = (form.get(name) or "").strip()
        if not raw:
            if name in required:
                problems[name] = say("is required")
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            problems[name] = say(str(exc))
    return values, problems


# ---------------------------------------------------------------- pages


@bp.get("/groups")
def list_page():
    """Volunteer groups of the reader's communities, and the register form for social workers."""
    return _list_page({}, {})


def _list_page(form: dict, problems: dict, status: int = 200):
    actor = auth.current_actor()
    with db.get_conn() as conn:
        mine = list(actor.area_ids) if actor.area_ids and actor.role != "admin" else None
        items = groups.list_groups(conn, mine)
        may_register = permissions.may(actor, "party.manage")
        areas, categories = [], []
        if may_register:
            from webmap.deliberations import _areas_for

            areas = _areas_for(conn, actor)
            categories = [{"code": c["code"], "label": i18n.category_name(c)} for c in tiles.categories(conn)]
    names = {}
    for item in items:
        item["label"] = _label(item["name"], item["name_en"])
        item["area_label"] = _label(item["area_name"], item["area_name_en"]) if item["area_id"] else ""
    with db.get_conn() as conn:
        names = {c["code"]: i18n.category_name(c) for c in tiles.categories(conn)}
    return render_template("groups.html", items=items, names=names, may_register=may_register, areas=areas,
                           categories=categories, form=form, problems=problems, field_labels=FIELD_LABELS), status


@bp.post("/groups")
def register_form():
    actor = auth.current_actor()
    if actor.is_anonymous:
        return redirect(url_for("auth.login", next=url_for("groups.list_page")))
    f = request.form
    form = {k: f.get(k, "") for k in ("name", "name_en", "area_id", "contact", "members")}
    form["capabilities"] = f.getlist("capabilities")
    payload = {"name": form["name"], "name_en": form["name_en"] or None, "contact": form["contact"] or None,
               "capabilities": form["capabilities"],
               "members": [m.strip() for m in form["members"].replace(",", "\n").splitlines() if m.strip()]}
    numbers, bad_numbers = _form_numbers(f, {"area_id": id_text})
    payload.update(numbers)
    try:
        with db.get_conn() as conn:
            # Without an area_id register() refuses, so a bad one is listed with the other problems below.
            created = groups.register(conn, actor, payload)
    except ValidationError as exc:
        return _list_page(form, {**_problems(exc), **bad_numbers}, 400)
    except groups.AlreadyInAGroup as exc:
        return _list_page(form, {"members": str(REASONS[exc.reason]) + f" ({exc.args[0].split(' ')[0]})"}, 409)
    return redirect(url_for("groups.page", group_id=created["id"], done="registered"), 303)


def _detail(group_id: int, *, notice=None, bad: bool = False, problems: dict | None = None, status: int = 200):
    actor = auth.current_actor()
    with db.get_conn() as conn:
        try:
            g = groups.get(conn, group_id, actor)
        except groups.GroupNotFound:
            raise NotFound(_("There is no such volunteer group.")) from None
        names = {c["code"]: i18n.category_name(c) for c in tiles.categories(conn)}
        assignable = []
        if g["may_manage"] and g["active"]:
            rows = conn.execute(
                "SELECT id, title, category, status, version FROM issues WHERE area_id = %s AND status = 'confirmed'"
                " AND category = ANY(%s) ORDER BY created_at DESC, id DESC LIMIT 100",
                (g["area"]["id"], g["capabilities"])).fetchall()
            assignable = [{"id": r[0], "title": r[1], "category": names.get(r[2], r[2]), "version": r[4]} for r in rows]
    g["label"] = _label(g["name"], g["name_en"])
    g["area_label"] = _label(g["area"]["name"], g["area"]["name_en"]) if g["area"]["id"] else ""
    g["capability_labels"] = [names.get(c, c) for c in g["capabilities"]]
    for i in g["issues"]:
        i["status_label"] = STATUS_LABELS.get(i["status"], i["status"])
        i["category_label"] = names.get(i["category"], i["category"])
        i["may_report"] = g["is_member"] and i["status"] in ("assigned", "in_progress") or (
            actor.role == "admin" and i["status"] in ("assigned", "in_progress"))
    for r in g["work_reports"]:
        r["when"] = _when(r["at"])
    return render_template("group.html", g=g, assignable=assignable, notice=notice, bad=bad,
                           problems=problems or {}, field_labels=FIELD_LABELS), status


@bp.get("/groups/<int:group_id>")
def page(group_id: int):
    """One group: what it can do, members, assigned issues, work reports; forms for staff and members."""
    return _detail(group_id, notice=DONE.get(request.args.get("done", "")))


def _signed_in(group_id: int):
    actor = auth.current_actor()
    if actor.is_anonymous:
        return actor, redirect(url_for("auth.login", next=url_for("groups.page", group_id=group_id)))
    return actor, None


def _back(group_id: int, done: str, anchor: str):
    return redirect(url_for("groups.page", group_id=group_id, done=done, _anchor=anchor), 303)


@bp.post("/groups/<int:group_id>/members")
def member_form(group_id: int):
    actor, away = _signed_in(group_id)
    if away:
        return away
    try:
        with db.get_conn() as conn:
            groups.add_member(conn, actor, group_id, (request.form.get("user") or "").strip(),
                              request.form.get("role") or "member")
    except ValidationError as exc:
        return _detail(group_id, problems=_problems(exc), status=400)
    except groups.AlreadyInAGroup as exc:
        return _detail(group_id, notice=REASONS[exc.reason], bad=True, status=409)
    return _back(group_id, "member", "members")


@bp.post("/groups/<int:group_id>/members/<int:user_id>/remove")
def remove_member_form(group_id: int, user_id: int):
    actor, away = _signed_in(group_id)
    if away:
        return away
    with db.get_conn() as conn:
        groups.remove_member(conn, actor, group_id, user_id)
    return _back(group_id, "member", "members")


@bp.post("/groups/<int:group_id>/assign")
def assign_form(group_id: int):
    actor, away = _signed_in(group_id)
    if away:
        return away
    f = request.form
    numbers, problems = _form_numbers(f, {"issue_id": id_text, "version": integer_text},
                                      required=("issue_id", "version"))
    if problems:
        return _detail(group_id, notice=_listed(problems), bad=True, status=400)
    try:
        with db.get_conn() as conn:
            groups.assign_issue(conn, actor, group_id, numbers["issue_id"], numbers["version"],
                                f.get("note") or None)
    except ValidationError as exc:
        return _detail(group_id, notice=_listed(_problems(exc)), bad=True, status=400)
    except (issues.VersionConflict, issues.TransitionNotAllowed, issues.IssueNotFound) as exc:
        return _detail(group_id, notice=i18n.problem(str(exc)), bad=True, status=400)
    except groups.GroupCannotHandle as exc:
        return _detail(group_id, notice=REASONS[exc.reason], bad=True, status=422)
    return _back(group_id, "assigned", "issues")


@bp.post("/groups/<int:group_id>/work")
def work_form(group_id: int):
    """A member's work report on one of the group's issues, optionally moving it on."""
    actor, away = _signed_in(group_id)
    if away:
        return away
    f = request.form
    payload: dict = {"note": f.get("note", "")}
    parsers = {"issue_id": id_text, "minutes": integer_text, "people": integer_text}
    if f.get("to"):
        payload["to"] = f.get("to")
        parsers["version"] = integer_text
    numbers, problems = _form_numbers(f, parsers, required=("issue_id", "version"))
    issue_id = numbers.pop("issue_id", None)
    payload.update(numbers)
    if problems:
        return _detail(group_id, notice=_listed(problems, ("note",)), bad=True, problems=problems, status=400)
    try:
        with db.get_conn() as conn:
            groups.report_work(conn, actor, issue_id, payload)
    except ValidationError as exc:
        problems = _problems(exc)
        return _detail(group_id, notice=_listed(problems, ("note",)), bad=True, problems=problems, status=400)
    except (issues.VersionConflict, issues.TransitionNotAllowed) as exc:
        return _detail(group_id, notice=i18n.problem(str(exc)), bad=True, status=409)
    except groups.WorkNotExpected as exc:
        return _detail(group_id, notice=REASONS[exc.reason], bad=True, status=422)
    return _back(group_id, "work", "issues")


# ---------------------------------------------------------------- JSON API


@bp.get("/api/groups")
def api_list():
    """Volunteer groups; ?area=<id>[,<id>] narrows them."""
    area_ids = area_ids_arg()
    with db.get_conn() as conn:
        return {"groups": groups.list_groups(conn, area_ids or None)}


@bp.post("/api/groups")
def api_register():
    """Register a volunteer group (a social worker of the area): 201."""
    payload = json_object(allowed=groups.REGISTER_FIELDS)
    actor = auth.current_actor()
    with db.get_conn() as conn:
        created = groups.register(conn, actor, payload)
    resp = current_app.json.response(created)
    resp.status_code = 201
    resp.headers["Location"] = url_for("groups.api_get", group_id=created["id"])
    return resp


@bp.get("/api/groups/<int:group_id>")
def api_get(group_id: int):
    actor = auth.current_actor()
    with db.get_conn() as conn:
        return groups.get(conn, group_id, actor)


@bp.post("/api/groups/<int:group_id>/members")
def api_add_member(group_id: int):
    """Add a member {user: username or id, role?: member|leader}."""
    payload = json_object(allowed={"user", "role"})
    actor = auth.current_actor()
    with db.get_conn() as conn:
        return groups.add_member(conn, actor, group_id, payload.get("user"), payload.get("role") or "member"), 201


@bp.delete("/api/groups/<int:group_id>/members/<int:user_id>")
def api_remove_member(group_id: int, user_id: int):
    actor = auth.current_actor()
    with db.get_conn() as conn:
        groups.remove_member(conn, actor, group_id, user_id)
    return "", 204


@bp.post("/api/groups/<int:group_id>/issues")
def api_assign(group_id: int):
    """Assign an issue to the group {issue_id, version, note?} (staff of the issue's community)."""
    payload = json_object(allowed={"issue_id", "version", "note"})
    actor = auth.current_actor()
    with db.get_conn() as conn:
        issue = groups.assign_issue(conn, actor, group_id, payload.get("issue_id"), payload.get("version"),
                                    payload.get("note"))
        feature = issues.feature(conn, issue.id)
    resp = current_app.json.response(feature)
    resp.mimetype = "application/geo+json"
    return resp


@bp.post("/api/issues/<int:issue_id>/work-reports")
def api_work_report(issue_id: int):
    """A member of the assigned group reports work {note, minutes?, people?, to?, version?}: 201."""
    payload = json_object(allowed=groups.REPORT_FIELDS)
    actor = auth.current_actor()
    with db.get_conn() as conn:
        return groups.report_work(conn, actor, issue_id, payload), 201
