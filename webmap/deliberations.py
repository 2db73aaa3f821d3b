"""Micro-deliberation pages (/deliberations, /deliberations/<id>) and their JSON API (/api/deliberations...).

Thin: forms and JSON bodies go to geodata.deliberations, which decides; refusals of a vote are shown on the
page with their reason (translated from the error's reason code) and answered by the API through
webmap.errors.DOMAIN_ERRORS (409 for the window / a second vote, 403 outside the community, 401 strangers).
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

import folium
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import format_date, format_time, get_timezone, gettext as _, lazy_gettext
from werkzeug.exceptions import NotFound

from geodata import deliberations as dl, permissions, validation
from geodata.validation import ValidationError
from webmap import auth, db, i18n
from webmap.issues_api import area_ids_arg, json_object
from webmap.report_pages import STATUS_LABELS, PageScripts, basemap_crs, map_parts, to_display

log = logging.getLogger(__name__)

bp = Blueprint("deliberations", __name__)

START = (39.94, 116.31)

# Why a vote is refused, by geodata's reason codes, in the reader's language.
REFUSALS = {
    "not_signed_in": lazy_gettext("Sign in to vote."),
    "not_of_this_community": lazy_gettext("Only residents of this community can take part in its deliberation."),
    "before_window": lazy_gettext("Voting has not opened yet."),
    "after_window": lazy_gettext("Voting has closed."),
    "closed": lazy_gettext("The meeting has been recorded; voting is over."),
    "already_voted": lazy_gettext("You have already voted in this deliberation; each person votes once."),
}
# What the page says after a form went through (?done=...: the page after the redirect).
DONE = {
    "opened": lazy_gettext("The deliberation is open."),
    "vote": lazy_gettext("Your vote has been counted. Thank you!"),
    "recorded": lazy_gettext("The meeting record is saved."),
}
PHASES = {
    "upcoming": lazy_gettext("Voting opens soon"), "voting": lazy_gettext("Voting now"),
    "counting": lazy_gettext("Voting closed, meeting to be recorded"), "decided": lazy_gettext("Decided"),
    "closed": lazy_gettext("Closed without a decision"),
}
FIELD_LABELS = {
    "area_id": lazy_gettext("Community"), "title": lazy_gettext("Title"), "description": lazy_gettext("Description"),
    "issue_ids": lazy_gettext("Issues"), "options": lazy_gettext("Choices"), "place": lazy_gettext("Meeting place"),
    "address": lazy_gettext("Address"), "meeting_at": lazy_gettext("Meeting time"),
    "votes_open_at": lazy_gettext("Voting opens"), "votes_close_at": lazy_gettext("Voting closes"),
    "attendance": lazy_gettext("Attendance"), "minutes": lazy_gettext("Minutes"),
    "decision": lazy_gettext("Decision"), "body": lazy_gettext("Comment"), "option_id": lazy_gettext("Choice"),
}
# Fixed messages of geodata.deliberations, marked here for the catalogue (i18n.problem translates them).
_MESSAGES = (
    i18n.N_("must be a list of at least two choices"), i18n.N_("needs at least two different choices"),
    i18n.N_("must list at least one issue of the community"), i18n.N_("must be after the voting opens"),
    i18n.N_("must be in the future"), i18n.N_("is required: tap the map where the meeting is"),
    i18n.N_("the meeting place must be in the community or within 500 m of it"),
    i18n.N_("is required: an ISO 8601 date-time"), i18n.N_("is required: how many people came"),
    i18n.N_("is not a choice of this deliberation"),
)




# ---------------------------------------------------------------- helpers


def _when(value) -> str:
    """An ISO UTC time for people: the date and the minute, in the app's zone and the reader's language."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        local = moment.astimezone(get_timezone())
    except (ValueError, OverflowError):
        # Older code stored years such as 10000, which Python cannot read: the page shows them as stored.
        return value
    return f"{format_date(local, 'medium')} {format_time(moment, 'short')}"


def _local_input(value) -> str:
    """An ISO UTC time as the value of an <input type=datetime-local> in the app's time zone."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(get_timezone())
    return moment.strftime("%Y-%m-%dT%H:%M")


def _from_local(text: str | None):
    """A datetime-local value typed in the app's time zone, as an aware datetime (or the text, to be refused)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            zone = get_timezone()
            # pytz zones must localize (replace() would pick the zone's first, local-mean-time offset).
            moment = zone.localize(moment) if hasattr(zone, "localize") else moment.replace(tzinfo=zone)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        # Unreadable, or in year 1 where the zone's offset leaves the calendar: geodata's reader says why.
        return text


def _areas_for(conn, actor) -> list[dict]:
    """The communities whose deliberations the actor sees first (their own; every one for those without)."""
    if actor.area_ids and actor.role != "admin":
        rows = conn.execute("SELECT id, code, name, name_en, level FROM areas WHERE id = ANY(%s)"
                            " AND level IN ('community', 'grid') ORDER BY name", (list(actor.area_ids),)).fetchall()
    else:
        rows = conn.execute("SELECT id, code, name, name_en, level FROM areas WHERE level = 'community'"
                            " ORDER BY name").fetchall()
    return [{"id": r[0], "code": r[1], "label": i18n.category_name({"name": r[2], "name_en": r[3], "code": r[1]})}
            for r in rows]


def _open_issues(conn, area_ids: list[int]) -> list[dict]:
    rows = conn.execute(
        "SELECT i.id, i.title, i.status, i.area_id FROM issues i WHERE i.area_id = ANY(%s)"
        " AND i.status NOT IN ('closed', 'rejected', 'duplicate') ORDER BY i.created_at DESC, i.id DESC LIMIT 200",
        (area_ids,)).fetchall()
    return [{"id": r[0], "title": r[1], "status": str(STATUS_LABELS.get(r[2], r[2])), "area_id": r[3]} for r in rows]


# Messages of geodata.deliberations / groups that carry values, and their catalogue entries.
_PATTERNS = (
    (re.compile(r"issue (?P<id>\d+) is not in this community"), i18n.N_("issue %(id)s is not in this community")),
    (re.compile(r"issue (?P<id>\d+) is (?P<status>\w+); only unfinished issues can be deliberated"),
     i18n.N_("issue %(id)s is finished; only unfinished issues can be deliberated")),
    (re.compile(r"there is no area (?P<id>\d+)"), i18n.N_("there is no area %(id)s")),
    (re.compile(r"at most (?P<n>\d+) (choices|issues|actions)"), i18n.N_("at most %(n)s")),
    (re.compile(r"each (choice|id) (?P<what>.+)"), i18n.N_("each one %(what)s")),
    (re.compile(r"there is no active account (?P<who>.+)"), i18n.N_("there is no active account %(who)s")),
    (re.compile(r"unknown category: (?P<codes>.+)"), i18n.N_("unknown category: %(codes)s")),
    (re.compile(r"description is required"), i18n.N_("what is to be done is required")),
    (re.compile(r"party_id is required: who will do it"), i18n.N_("who will do it is required")),
    (re.compile(r"due_on is required: a date YYYY-MM-DD"), i18n.N_("a due date is required")),
)


def say(message) -> str:
    """A refusal message of geodata in the reader's language (i18n.problem, then the patterns above)."""
    text = str(message or "")
    translated = i18n.problem(text)
    if translated != text or i18n.language() == "en":
        return translated
    for pattern, msgid in _PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            values = {k: v for k, v in m.groupdict().items() if v is not None}
            if "what" in values:
                values["what"] = i18n.problem(values["what"])
            return _(msgid, **values)
    return text


def _problems(exc: ValidationError) -> dict:
    return {name: say(message) for name, message in exc.fields.items()}


def _map(center, zoom: int, config: dict) -> dict:
    cfg = current_app.config
    m = folium.Map(location=center, zoom_start=zoom, tiles=None, max_zoom=19, control_scale=True)
    from webmap import assets

    assets.leaflet_for(m)
    folium.TileLayer(tiles=cfg["BASEMAP_URL"], attr=cfg["BASEMAP_ATTRIBUTION"], name="basemap",
                     max_zoom=19).add_to(m)
    PageScripts("DeliberationMap", "deliberations", config, "deliberationMap").add_to(m)
    return map_parts(m)


# ---------------------------------------------------------------- pages


@bp.get("/deliberations")
def list_page():
    """Deliberations of the reader's communities, and the form to open one for social workers."""
    return _list_page({}, {})


def _list_page(form: dict, problems: dict, status: int = 200):
    actor = auth.current_actor()
    crs = basemap_crs()
    with db.get_conn() as conn:
        mine = actor.area_ids if actor.area_ids and actor.role != "admin" else None
        items = dl.list_deliberations(conn, list(mine) if mine else None)
        may_open = permissions.may(actor, "deliberation.manage")
        areas = _areas_for(conn, actor) if may_open else []
        open_issues = _open_issues(conn, [a["id"] for a in areas]) if may_open else []
    for item in items:
        item["phase_label"] = PHASES.get(item["phase"], item["phase"])
        item["meeting"] = _when(item["meeting_at"])
        item["closes"] = _when(item["votes_close_at"])
        item["area_label"] = i18n.category_name({"name": item["area_name"], "name_en": item["area_name_en"]})
    parts = {}
    if may_open:
        picked = None
        try:
            if form.get("lat"):
                picked = {"lat": validation.number_text(form["lat"], minimum=-90, maximum=90),
                          "lon": validation.number_text(form["lon"], minimum=-180, maximum=180)}
        except ValueError:
            picked = None
        parts = _map(START, 15, {
            "crs": crs, "mode": "pick", "picked": picked,
            "areas": url_for("api.list_areas", level="community", **({"crs": crs} if crs != "wgs84" else {})),
            "labels": {"picked": _("Meeting place set. Tap again to move it.")},
        })
    return render_template("deliberations.html", items=items, may_open=may_open, areas=areas,
                           open_issues=open_issues, form=form, problems=problems, field_labels=FIELD_LABELS,
                           **parts), status


@bp.post("/deliberations")
def open_form():
    """The open-a-deliberation form: the same rules as POST /api/deliberations."""
    actor = auth.current_actor()
    if actor.is_anonymous:
        return redirect(url_for("auth.login", next=url_for("deliberations.list_page")))
    f = request.form
    form = {k: f.get(k, "") for k in ("area_id", "title", "description", "options", "lat", "lon", "address",
                                      "meeting_at", "votes_open_at", "votes_close_at")}
    form["issue_ids"] = f.getlist("issue_ids")
    payload = {
        "title": form["title"], "description": form["description"] or None, "address": form["address"] or None,
        "options": [line for line in form["options"].splitlines() if line.strip()],
        "issue_ids": [],
        "meeting_at": _from_local(form["meeting_at"]), "votes_open_at": _from_local(form["votes_open_at"]),
        "votes_close_at": _from_local(form["votes_close_at"]),
    }
    # The page only offers ids; anything else was typed by hand, and is refused before geodata sees it.
    problems = {}
    try:
        payload["issue_ids"] = [validation.id_text(i) for i in form["issue_ids"]]
    except ValueError as exc:
        problems["issue_ids"] = str(exc)
    if form["area_id"].strip():
        try:
            payload["area_id"] = validation.id_text(form["area_id"])
        except ValueError as exc:
            problems["area_id"] = str(exc)
    if problems:
        return _list_page(form, _problems(ValidationError(problems)), 400)
    for name in ("lat", "lon"):
        try:
            payload[name] = validation.number_text(form[name])
        except ValueError:
            pass
    for name in ("meeting_at", "votes_open_at", "votes_close_at"):
        if payload[name] is None:
            payload.pop(name)
    try:
        with db.get_conn() as conn:
            created = dl.open_deliberation(conn, actor, payload)
    except ValidationError as exc:
        return _list_page(form, _problems(exc), 400)
    return redirect(url_for("deliberations.page", deliberation_id=created["id"], done="opened"), 303)


def _detail(deliberation_id: int, *, notice: str | None = None, bad: bool = False, problems: dict | None = None,
            status: int = 200, vote_notice: str | None = None):
    actor = auth.current_actor()
    crs = basemap_crs()
    with db.get_conn() as conn:
        try:
            d = dl.get(conn, deliberation_id, actor)
        except dl.DeliberationNotFound:
            raise NotFound(_("There is no such deliberation.")) from None
        parties = conn.execute(
            "SELECT id, kind, name, name_en FROM parties WHERE active AND (area_id IS NULL OR area_id = %s"
            " OR area_id IN (SELECT parent_id FROM areas WHERE id = %s)) ORDER BY kind, name",
            (d["area"]["id"], d["area"]["id"])).fetchall() if d["may_manage"] else []
    for issue in d["issues"]:
        issue["status_label"] = STATUS_LABELS.get(issue["status"], issue["status"])
    d["phase_label"] = PHASES.get(d["phase"], d["phase"])
    d["area_label"] = i18n.category_name(d["area"])
    d["refusal_text"] = REFUSALS.get(d["vote_refusal"]) if d["vote_refusal"] else None
    lat, lon = to_display(crs, d["place"]["lon"], d["place"]["lat"])
    parts = _map((lat, lon), 17, {"crs": crs, "mode": "show", "place": {"lat": d["place"]["lat"],
                                                                       "lon": d["place"]["lon"]},
                                  "labels": {"place": _("Meeting place")}})
    times = {k: _when(d[k]) for k in ("meeting_at", "votes_open_at", "votes_close_at", "created_at")}
    if d["meeting"]:
        times["decided_at"] = _when(d["meeting"]["decided_at"])
    for action in d["actions"]:
        action["due"] = format_date(datetime.fromisoformat(action["due_on"]).date(), "medium")
        action["party_label"] = i18n.category_name({"name": action["party_name"], "name_en": action["party_name_en"]})
        action["done"] = _when(action["done_at"])
        action["may_complete"] = not action["done_at"] and (d["may_manage"] or action["party_id"] in actor.party_ids)
    for c in d["comments"]:
        c["when"] = _when(c["created_at"])
        c["role_label"] = i18n.role_label(c["author_role"])
    parties = [{"id": p[0], "label": i18n.category_name({"name": p[2], "name_en": p[3]}), "kind": p[1]}
               for p in parties]
    return render_template("deliberation.html", d=d, times=times, parties=parties, notice=notice, bad=bad,
                           vote_notice=vote_notice,
                           problems=problems or {}, field_labels=FIELD_LABELS, signed_in_actor=actor,
                           **parts), status


@bp.get("/deliberations/<int:deliberation_id>")
def page(deliberation_id: int):
    """One deliberation: issues, choices and voting, comments, results, the meeting record and actions."""
    done = request.args.get("done", "")
    if done == "vote":
        return _detail(deliberation_id, vote_notice=DONE["vote"])
    return _detail(deliberation_id, notice=DONE.get(done))


def _signed_in_or_login(deliberation_id: int):
    actor = auth.current_actor()
    if actor.is_anonymous:
        return actor, redirect(url_for("auth.login", next=url_for("deliberations.page",
                                                                  deliberation_id=deliberation_id)))
    return actor, None


@bp.post("/deliberations/<int:deliberation_id>/vote")
def vote_form(deliberation_id: int):
    """A vote button: counted, or refused with the reason on the page (409/403)."""
    actor, away = _signed_in_or_login(deliberation_id)
    if away:
        return away
    option = request.form.get("option_id", "")
    try:
        option = validation.id_text(option)
    except ValueError:
        pass  # geodata refuses the text, after its checks of the window and the community
    try:
        with db.get_conn() as conn:
            dl.vote(conn, actor, deliberation_id, option)
    except (dl.VoteRefused, dl.NotOfThisCommunity) as exc:
        return _detail(deliberation_id, vote_notice=str(REFUSALS.get(exc.reason, exc)), bad=True,
                       status=403 if isinstance(exc, permissions.PermissionDenied) else 409)
    except ValidationError:
        return _detail(deliberation_id, vote_notice=_("That is not one of the choices."), bad=True, status=400)
    return redirect(url_for("deliberations.page", deliberation_id=deliberation_id, done="vote", _anchor="vote"), 303)


@bp.post("/deliberations/<int:deliberation_id>/comment")
def comment_form(deliberation_id: int):
    actor, away = _signed_in_or_login(deliberation_id)
    if away:
        return away
    try:
        with db.get_conn() as conn:
            dl.comment(conn, actor, deliberation_id, request.form.get("body", ""))
    except dl.NotOfThisCommunity as exc:
        return _detail(deliberation_id, notice=str(REFUSALS[exc.reason]), bad=True, status=403)
    except ValidationError as exc:
        return _detail(deliberation_id, problems=_problems(exc), status=400)
    return redirect(url_for("deliberations.page", deliberation_id=deliberation_id, _anchor="comments"), 303)


@bp.post("/deliberations/<int:deliberation_id>/record")
def record_form(deliberation_id: int):
    """The social worker's meeting record form (up to five follow-up actions)."""
    actor, away = _signed_in_or_login(deliberation_id)
    if away:
        return away
    f = request.form
    payload: dict = {"minutes": f.get("minutes") or None, "decision": f.get("decision") or None}
    problems = {}
    attendance = (f.get("attendance") or "").strip()
    payload["attendance"] = None
    if attendance:
        try:
            payload["attendance"] = validation.integer_text(attendance)
        except ValueError as exc:
            problems["attendance"] = str(exc)
    actions = []
    for n in range(1, 6):
        text = (f.get(f"action{n}_description") or "").strip()
        if not text:
            continue
        party = (f.get(f"action{n}_party") or "").strip()
        try:
            party_id = validation.id_text(party) if party else None
        except ValueError as exc:
            problems[f"actions[{n}]"] = str(exc)
            continue
        actions.append({"description": text, "party_id": party_id, "due_on": f.get(f"action{n}_due") or None})
    payload["actions"] = actions
    if problems:
        return _detail(deliberation_id, problems=_problems(ValidationError(problems)), status=400)
    try:
        with db.get_conn() as conn:
            dl.record_meeting(conn, actor, deliberation_id, payload)
    except ValidationError as exc:
        return _detail(deliberation_id, problems=_problems(exc), status=400)
    except dl.AlreadyRecorded:
        return _detail(deliberation_id, notice=_("The meeting has already been recorded."), bad=True, status=409)
    return redirect(url_for("deliberations.page", deliberation_id=deliberation_id, done="recorded",
                            _anchor="meeting"), 303)


@bp.post("/deliberations/actions/<int:action_id>/done")
def action_done_form(action_id: int):
    actor = auth.current_actor()
    if actor.is_anonymous:
        return redirect(url_for("auth.login", next=url_for("deliberations.list_page")))
    with db.get_conn() as conn:
        done = dl.complete_action(conn, actor, action_id, request.form.get("note"))
    return redirect(url_for("deliberations.page", deliberation_id=done["deliberation_id"], _anchor="actions"), 303)


# ---------------------------------------------------------------- JSON API


@bp.get("/api/deliberations")
def api_list():
    """Deliberations, open ones first; ?area=<id> (repeatable or comma-separated) narrows them."""
    area_ids = area_ids_arg()
    with db.get_conn() as conn:
        items = dl.list_deliberations(conn, area_ids or None)
    return {"deliberations": items}


@bp.post("/api/deliberations")
def api_open():
    """Open a deliberation (a social worker of the area): 201 with it and its Location."""
    payload = json_object(allowed=dl.OPEN_FIELDS)
    actor = auth.current_actor()
    with db.get_conn() as conn:
        created = dl.open_deliberation(conn, actor, payload)
    resp = current_app.json.response(created)
    resp.status_code = 201
    resp.headers["Location"] = url_for("deliberations.api_get", deliberation_id=created["id"])
    return resp


@bp.get("/api/deliberations/<int:deliberation_id>")
def api_get(deliberation_id: int):
    """One deliberation; counts per option once voting is over (or for its managing staff)."""
    actor = auth.current_actor()
    with db.get_conn() as conn:
        return dl.get(conn, deliberation_id, actor)


@bp.post("/api/deliberations/<int:deliberation_id>/votes")
def api_vote(deliberation_id: int):
    """Cast one's vote {option_id}: 201, or refused with the reason (401, 403, 409, 400)."""
    payload = json_object(allowed={"option_id"})
    actor = auth.current_actor()
    with db.get_conn() as conn:
        result = dl.vote(conn, actor, deliberation_id, payload.get("option_id"))
    return result, 201


@bp.post("/api/deliberations/<int:deliberation_id>/comments")
@auth.limit_comments
def api_comment(deliberation_id: int):
    """Comment {body} (signed-in residents and staff of the community)."""
    payload = json_object(allowed={"body"})
    actor = auth.current_actor()
    with db.get_conn() as conn:
        return dl.comment(conn, actor, deliberation_id, payload.get("body")), 201


@bp.post("/api/deliberations/<int:deliberation_id>/record")
def api_record(deliberation_id: int):
    """Record the meeting {attendance, minutes?, decision?, actions?} (the social worker; once)."""
    payload = json_object(allowed=dl.RECORD_FIELDS)
    actor = auth.current_actor()
    with db.get_conn() as conn:
        return dl.record_meeting(conn, actor, deliberation_id, payload)


@bp.post("/api/deliberations/actions/<int:action_id>/done")
def api_action_done(action_id: int):
    """Mark a follow-up action done {note?} (the social worker, or a member of the party it was given to)."""
    payload = json_object(allowed={"note"}, required=False)
    actor = auth.current_actor()
    with db.get_conn() as conn:
        return dl.complete_action(conn, actor, action_id, payload.get("note"))
