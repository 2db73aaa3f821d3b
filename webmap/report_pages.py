"""The resident's pages: /report (phone-first, works without scripts) and /issues/<id> (details, timeline, actions).

Forms post to this blueprint and are checked by geodata.issues, the same rules as the JSON API; the page
scripts (static/js/report.js, issuepage.js) only add the map, the nearby list and conveniences.
"""
from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timezone

import folium
from branca.element import MacroElement
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, format_timedelta, gettext as _, lazy_gettext
from folium.elements import JSCSSMixin
from folium.template import Template

from geodata import chinacrs, display, idempotency, issues, permissions, validation
from geodata.validation import ValidationError
from webmap import assets, auth, db, i18n
from webmap.i18n import language
from webmap.issues_api import with_reporter_token

log = logging.getLogger(__name__)

bp = Blueprint("report_pages", __name__)

# Where the report map starts without a preselected point (ZZY Street, Haidian), as the live map does.
START = (39.94, 116.31)
FORM_FIELDS = ("lat", "lon", "category", "description", "title", "contact")

STATUS_LABELS = {
    "reported": lazy_gettext("Reported"), "confirmed": lazy_gettext("Confirmed"),
    "assigned": lazy_gettext("Assigned"), "in_progress": lazy_gettext("In progress"),
    "resolved": lazy_gettext("Resolved"), "closed": lazy_gettext("Closed"),
    "rejected": lazy_gettext("Rejected"), "duplicate": lazy_gettext("Duplicate"),
    "reopened": lazy_gettext("Reopened"),
}
# What the button that moves an issue to a status says.
ACTION_LABELS = {
    "confirmed": lazy_gettext("Confirm the report"), "rejected": lazy_gettext("Reject"),
    "assigned": lazy_gettext("Assign"), "in_progress": lazy_gettext("Start work"),
    "resolved": lazy_gettext("Mark as resolved"), "closed": lazy_gettext("Close (fixed)"),
    "reopened": lazy_gettext("Reopen"), "duplicate": lazy_gettext("Mark as duplicate"),
}
ACTOR_LABELS = {"reporter": lazy_gettext("the reporter"), "anonymous": lazy_gettext("a resident"),
                "resident": lazy_gettext("a resident")}

# Category icons: one 24x24 SVG path each, drawn inline (no image requests, nothing external).
ICONS = {
    "litter": "M9 2h6v2h5v2H4V4h5zM6 8h12l-1.2 14H7.2z",
    "blocked_passage": "M4 11l2.2-5.5h11.6L20 11v7h-2.5v-2h-11v2H4zm3.5 1a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"
                       "m9 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zM7.5 7L6.3 10h11.4l-1.2-3z",
    "street_light": "M6 4h2v18H6zM6 3h11v2H6zM14 5h5l-1 3h-3z",
    "fire_lane": "M12 1c1 4 6 6.5 6 13a6 6 0 0 1-12 0c0-3.2 1.6-5.4 3-7 .2 2.6 1 4 2.2 4.4C11 8 10.6 4.6 12 1z",
    "greenery": "M12 1l6.5 9H15l4.5 7H13v6h-2v-6H4.5L9 10H5.5z",
    "noise": "M3 9h4l5-4v14l-5-4H3zm12-1a5 5 0 0 1 0 8v-2.2a3 3 0 0 0 0-3.6zm2-4a9 9 0 0 1 0 16v-2.1a7 7 0 0 0 0-11.8z",
    "manhole": "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zm0 2.5a6.5 6.5 0 1 1 0 13 6.5 6.5 0 0 1 0-13zM8 11h8v2H8z",
    "stairwell_clutter": "M3 21v-4h4v-4h4V9h4V5h6v2.5h-3.5v4h-4v4h-4v4H5.5V21z",
    "illegal_construction": "M12 2l10 9h-3v10H5V11H2zm-1 7v6h2V9zm0 7.5v2h2v-2z",
    "drain": "M12 2c3.5 5 7 9 7 13a7 7 0 0 1-14 0c0-4 3.5-8 7-13z",
    "other": "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zM6.5 10.5h3v3h-3zm4 0h3v3h-3zm4 0h3v3h-3z",
}


# ---------------------------------------------------------------- messages for people

# geodata says what is wrong in fixed English phrases (it stays free of Flask); webmap.i18n translates them.
say = i18n.problem


def outside_message() -> str:
    return _("This place is not inside any community this service covers, so nobody could take care of it. "
             "Check that the pin is where the problem is; if it is, please contact your street office.")


# ---------------------------------------------------------------- maps


class PageScripts(JSCSSMixin, MacroElement):
    """The page's own script and styles after Leaflet, and one call that hands it the map and its settings."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
window.{{ this.global_name }} = {{ this.module }}.init({{ this._parent.get_name() }}, {{ this.config|tojson }});
{% endmacro %}
"""
    )

    def __init__(self, module: str, script: str, config: dict, global_name: str):
        super().__init__()
        self._name = "PageScripts"
        static = lambda name: url_for("static", filename=name)  # noqa: E731
        self.default_js = [("chinacrs", static("js/chinacrs.js")), (script, static(f"js/{script}.js"))]
        self.default_css = [("report_css", static("css/report.css"))]
        self.module, self.config, self.global_name = module, config, global_name


# Pieces of folium's page header that belong to a whole-page map, not to a map inside our page.
_HEADER_DROP = [
    re.compile(r"<meta[^>]*(viewport|http-equiv)[^>]*/?>", re.S),
    re.compile(r"<style>\s*html, body \{.*?</style>", re.S),
    re.compile(r"<style>\s*#map \{.*?</style>", re.S),
]


def map_parts(m: folium.Map) -> dict:
    """folium's rendering of a map split for a template that extends base.html."""
    root = m.get_root()
    root.render()
    header = root.header.render()
    for pattern in _HEADER_DROP:
        header = pattern.sub("", header)
    return {"map_header": header, "map_html": root.html.render(), "map_script": root.script.render()}


def basemap_crs() -> str:
    crs = str(current_app.config.get("BASEMAP_CRS") or "wgs84").strip().lower()
    if crs not in display.DISPLAY_CRS:
        raise ValueError(f"BASEMAP_CRS must be one of {', '.join(display.DISPLAY_CRS)}, not {crs!r}")
    return crs


def to_display(crs: str, lon: float, lat: float) -> tuple[float, float]:
    """(lat, lon) where the basemap draws a stored WGS84 point."""
    if crs == "gcj02":
        lon, lat = chinacrs.wgs84_to_gcj02(lon, lat)
    return float(lat), float(lon)


def _base_map(location, zoom: int, **options) -> folium.Map:
    cfg = current_app.config
    m = folium.Map(location=location, zoom_start=zoom, tiles=None, max_zoom=19, **options)
    assets.leaflet_for(m)
    folium.TileLayer(tiles=cfg["BASEMAP_URL"], attr=cfg["BASEMAP_ATTRIBUTION"], name="basemap",
                     max_zoom=19).add_to(m)
    return m


# ---------------------------------------------------------------- shared bits


def categories(conn) -> list[dict]:
    """Active categories in their configured order, with the name in the reader's language and an icon."""
    rows = conn.execute("SELECT code, name, name_en FROM categories WHERE active ORDER BY sort_order, code")
    return [{"code": code, "label": i18n.category_name({"code": code, "name": name, "name_en": name_en}),
             "icon": ICONS.get(code, ICONS["other"])} for code, name, name_en in rows]


def _moment(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _when(value) -> str:
    moment = _moment(value)
    return format_datetime(moment, "medium") if moment else ""


# ---------------------------------------------------------------- /report


def _number(text: str | None, low: float, high: float) -> tuple[float | str | None, str | None]:
    """A coordinate typed into the form: (value, problem)."""
    text = (text or "").strip()
    if not text:
        return None, None
    try:
        return validation.number_text(text, minimum=low, maximum=high), None
    except ValueError as exc:
        return text, say(str(exc))


def _report_page(form: dict, problems: dict):
    crs = basemap_crs()
    preselected = None
    lat, lat_problem = _number(form.get("lat"), -90, 90)
    lon, lon_problem = _number(form.get("lon"), -180, 180)
    if isinstance(lat, float) and isinstance(lon, float) and not (lat_problem or lon_problem):
        preselected = {"lat": lat, "lon": lon}
    location = to_display(crs, preselected["lon"], preselected["lat"]) if preselected else START
    m = _base_map(location, 17 if preselected else 15, control_scale=True)
    root = request.script_root
    with db.get_conn() as conn:
        cats = categories(conn)
    config = {
        "crs": crs,
        "formId": "report-form",
        "areas": url_for("api.list_areas", level="community", **({"crs": crs} if crs != "wgs84" else {})),
        "nearby": root + "/api/issues/nearby",
        "support": root + "/api/issues/{id}/supports",
        "issuePage": root + "/issues/{id}",
        "preselected": preselected,
        "statusLabels": {k: str(v) for k, v in STATUS_LABELS.items()},
        "labels": {
            "pinPlaced": _("Pin placed. Drag it, or tap the map again, to move it."),
            "locating": _("Finding your position…"),
            "located": _("The pin is where you are. Drag it if the problem is elsewhere."),
            "locateDenied": _("Location permission was not given. Tap the map where the problem is instead."),
            "locateFailed": _("Your position could not be found just now. Tap the map where the problem is instead."),
            "locateUnsupported": _("This browser cannot share a location. Tap the map where the problem is instead."),
            "nearbyTitle": _("Already reported nearby"),
            "nearbyHint": _("If one of these is your problem, say “me too” instead of reporting it again."),
            "meToo": _("Me too"),
            "meTooDone": _("Counted, thank you"),
            "meTooFailed": _("That did not work. Please try again."),
            "supports": _("Supports"),
            "metres": _("%(m)s m away", m="{m}"),
            "sending": _("Sending…"),
        },
    }
    PageScripts("ReportMap", "report", config, "reportMap").add_to(m)
    return render_template("report.html", form=form, problems=problems, categories=cats,
                           idempotency_key=form.get("idempotency_key") or secrets.token_urlsafe(18),
                           limits={"title": issues.TITLE_MAX, "description": issues.DESCRIPTION_MAX,
                                   "contact": issues.CONTACT_MAX},
                           **map_parts(m))


@bp.get("/report")
def report_form():
    """The report form; ?lat=&lon= (WGS84) preselect the place, e.g. from the live map's "report here"."""
    form = {name: request.args.get(name, "") for name in ("lat", "lon", "category")}
    return _report_page(form, {})


@bp.post("/report")
@auth.limit_reports
def submit_report():
    """Store a report from the form, or show the form again with a message next to each problem."""
    form = {name: request.form.get(name, "") for name in FORM_FIELDS}
    form["idempotency_key"] = request.form.get("idempotency_key", "")
    problems: dict[str, str] = {}
    payload: dict = {name: (form[name] or None) for name in ("category", "description", "title", "contact")}
    for name, low, high in (("lat", -90, 90), ("lon", -180, 180)):
        payload[name], problem = _number(form[name], low, high)
        if problem:
            problems[name] = problem
    actor = auth.current_actor()
    key = form["idempotency_key"] or None
    try:
        with db.get_conn() as conn, conn.transaction():
            stored = None
            if key:
                who = f"user:{actor.user_id}" if actor.user_id is not None else f"client:{actor.client_key or '-'}"
                scope = f"POST /report {who}"
                stored = idempotency.claim(conn, scope, key, idempotency.fingerprint(payload))
            if stored is not None:
                target = stored.body["location"]
            else:
                reported = issues.report(conn, actor, payload, source="web")
                target = url_for("report_pages.issue_page", issue_id=reported.issue.id,
                                 token=reported.private_token, reported=1)
                if key:
                    idempotency.complete(conn, scope, key, 303, {"location": target})
    except ValidationError as exc:
        for name, message in exc.fields.items():
            problems.setdefault(name, say(message))
    except issues.OutsideEveryArea:
        problems["location"] = outside_message()
    except idempotency.IdempotencyKeyReused:
        # The same form sent again after an edit: a new key makes it a new report on the next try.
        form["idempotency_key"] = ""
        problems["form"] = _("This form was already sent with other content. Please check it and send it again.")
    if problems:
        return _report_page(form, problems)
    return redirect(target, 303)


# ---------------------------------------------------------------- /issues/<id>


def _page_url(issue_id: int, **extra) -> str:
    token = request.args.get("token")
    return url_for("report_pages.issue_page", issue_id=issue_id, **({"token": token} if token else {}), **extra)


def _issue_page(issue_id: int, *, problems: dict | None = None, notice: str | None = None, bad: bool = False,
                status: int = 200, form: dict | None = None):
    actor = auth.current_actor()
    try:
        with db.get_conn() as conn:
            actor = with_reporter_token(conn, actor)
            feature = issues.get(conn, issue_id, actor)
            issue = issues.load(conn, issue_id)
            area = conn.execute("SELECT name, name_en FROM areas WHERE id = %s", (issue.area_id,)).fetchone()
            parties = conn.execute(
                "SELECT id, name, name_en FROM parties WHERE active OR id = %s"
                " ORDER BY (area_id IS NOT DISTINCT FROM %s) DESC, name",
                (issue.assigned_party_id, issue.area_id)).fetchall()
            cats = {c["code"]: c for c in categories(conn)}
    except issues.IssueNotFound:
        return render_template("issue.html", not_found=True, issue_id=issue_id), 404
    english = language() == "en"
    party_names = {p[0]: (p[2] if english and p[2] else p[1]) for p in parties}
    props = feature["properties"]

    # The workflow comes from the one LIFECYCLE table: what may follow this status, and may this actor do it.
    allowed = [to for (frm, to), action in issues.LIFECYCLE.items()
               if frm == issue.status and permissions.may(actor, action, issue)]
    handler = actor.role in issues.HANDLER_ROLES
    workflow = [{"to": to, "label": ACTION_LABELS.get(to, to), "status": STATUS_LABELS[to]}
                for to in allowed if to != "assigned"] if handler else []
    can_assign = issue.status in ("confirmed", "assigned") and permissions.may(actor, "issue.assign", issue)
    confirm = issue.status == "resolved" and props["you_reported"] and "closed" in allowed
    moderator = permissions.may(actor, "comment.hide", issue)
    has_token = bool(request.args.get("token")) and issue.id in actor.reporter_of

    comments = {c["id"]: c for c in props["comments"]}
    timeline = []
    for event in props["history"]:
        kind = event["kind"]
        if kind == "support":
            continue  # counted in the supports figure, not one line per "me too"
        data = event.get("data") or {}
        if kind == "created":
            what = _("Report made")
        elif kind == "transition":
            what = _("%(from)s → %(to)s", **{"from": STATUS_LABELS.get(event["from_status"], event["from_status"]),
                                             "to": STATUS_LABELS.get(event["to_status"], event["to_status"])})
        elif kind == "assigned":
            what = _("Assigned to %(party)s", party=party_names.get(data.get("party_id"), "?"))
        elif kind == "comment":
            what = _("Comment")
        elif kind == "visited":
            what = _("Visited on a walkabout")
        elif kind == "comment_hidden":
            what = _("A comment was hidden")
        elif kind == "deliberation":
            title = data.get("title") or ""
            what = (_("Deliberation opened: %(title)s", title=title) if data.get("stage") == "opened"
                    else _("Deliberation decided: %(title)s", title=title))
        elif kind == "work_report":
            what = _("Work reported by %(party)s", party=party_names.get(data.get("party_id"), _("the volunteer group")))
        else:
            what = kind
        if kind == "transition" and event["to_status"] == "assigned" and data.get("party_id"):
            what = _("%(change)s (to %(party)s)", change=what, party=party_names.get(data["party_id"], "?"))
        actor_label = event.get("actor") or "anonymous"
        timeline.append({
            "id": event["id"], "kind": kind, "what": what, "when": _when(event["at"]), "at": event["at"],
            "who": str(ACTOR_LABELS.get(actor_label, actor_label)), "note": event.get("note"),
            "comment": comments.get(data.get("comment_id")) if kind == "comment" else None,
            "link": (url_for("deliberations.page", deliberation_id=data["deliberation_id"])
                     if kind == "deliberation" and data.get("deliberation_id") else None),
        })

    now = datetime.now(timezone.utc)
    category = cats.get(issue.category, {"code": issue.category, "label": issue.category, "icon": ICONS["other"]})
    details = {
        "id": issue.id, "title": issue.title, "description": issue.description, "status": issue.status,
        "status_label": STATUS_LABELS.get(issue.status, issue.status), "category": category,
        "area": (area[1] if english and area[1] else area[0]) if area else "",
        "created": _when(issue.created_at),
        "age": format_timedelta(issue.created_at - now, add_direction=True, threshold=0.9),
        "due": _when(issue.due_at), "overdue": bool(props["overdue"]),
        "resolved": _when(issue.resolved_at), "closed": _when(issue.closed_at),
        "party": party_names.get(issue.assigned_party_id) if issue.assigned_party_id else None,
        "duplicate_of": issue.duplicate_of, "satisfaction": issue.satisfaction,
        "supports": issue.supports_count, "version": issue.version, "open": issue.is_open,
        "contact": props.get("reporter_contact"),
    }
    crs = basemap_crs()
    point = to_display(crs, issue.lon, issue.lat)
    m = _base_map(point, 17, zoom_control=True, scrollWheelZoom=False)
    folium.CircleMarker(point, radius=10, color="#8e2c22", weight=3, fill=True, fill_color="#d7301f",
                        fill_opacity=0.8).add_to(m)
    PageScripts("IssuePage", "issuepage", {"crs": crs}, "issuePage").add_to(m)
    private_link = None
    if has_token:
        private_link = request.url_root.rstrip("/") + url_for("report_pages.issue_page", issue_id=issue.id,
                                                               token=request.args["token"])
    resp = current_app.make_response((render_template(
        "issue.html", not_found=False, issue=details, timeline=timeline, workflow=workflow, can_assign=can_assign,
        parties=[{"id": p[0], "name": party_names[p[0]]} for p in parties], confirm=confirm,
        moderator=moderator, hidden_count=sum(1 for c in props["comments"] if c["hidden"]),
        private_link=private_link, just_reported=has_token and request.args.get("reported") == "1",
        action_url=lambda name, **kw: _action_url(name, issue.id, **kw),
        problems=problems or {}, notice=notice, notice_bad=bad, form=form or {},
        **map_parts(m)), status))
    if has_token:
        # The address holds the reporter's private key: keep it out of Referer headers and shared caches.
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _action_url(name: str, issue_id: int, **kw) -> str:
    token = request.args.get("token")
    return url_for(f"report_pages.{name}", issue_id=issue_id, **kw, **({"token": token} if token else {}))


@bp.get("/issues/<int:issue_id>")
def issue_page(issue_id: int):
    """One issue: details, a small map, the timeline, supports, comments and the actions this visitor may take."""
    return _issue_page(issue_id)


def _optional_int(text: str | None):
    text = (text or "").strip()
    if not text:
        return None
    try:
        return validation.integer_text(text)
    except ValueError:
        return text  # geodata refuses it with its own message, next to the field


def _act(issue_id: int, work, form: dict, anchor: str = "timeline"):
    """Run work(conn, actor) -> message in one transaction; then back to the page, or the page again with the problem."""
    actor = auth.current_actor()
    try:
        with db.get_conn() as conn, conn.transaction():
            actor = with_reporter_token(conn, actor)
            done = work(conn, actor)
    except issues.VersionConflict:
        return _issue_page(issue_id, status=409, bad=True, notice=_(
            "Someone changed this issue after you opened the page. It is shown below as it is now: "
            "please check it and try again."))
    except issues.TransitionNotAllowed:
        return _issue_page(issue_id, status=409, bad=True, notice=_(
            "That step is not possible from the issue's current status. It is shown below as it is now."))
    except permissions.AuthenticationRequired:
        # A stranger trying a staff or reporter action: sign in first, then come back to the issue.
        return redirect(url_for("auth.login", next=_page_url(issue_id)))
    except issues.IssueClosed:
        return _issue_page(issue_id, status=422, bad=True,
                           notice=_("This issue is finished and takes no more support."))
    except ValidationError as exc:
        return _issue_page(issue_id, status=400, form=form,
                           problems={name: say(message) for name, message in exc.fields.items()})
    flash(done)
    return redirect(_page_url(issue_id) + "#" + anchor, 303)


@bp.post("/issues/<int:issue_id>/transition")
def transition(issue_id: int):
    """Move the issue along the lifecycle (staff), or close/reopen it with a rating (its reporter)."""
    form = {k: request.form.get(k, "") for k in ("to", "version", "note", "duplicate_of", "satisfaction")}
    to = form["to"]

    def work(conn, actor):
        issues.transition(conn, actor, issue_id, to, _optional_int(form["version"]), form["note"] or None,
                          duplicate_of=_optional_int(form["duplicate_of"]) if to == "duplicate" else None,
                          satisfaction=_optional_int(form["satisfaction"]) if to == "closed" else None)
        return _("Done: the issue is now “%(status)s”.", status=STATUS_LABELS.get(to, to))

    return _act(issue_id, work, form)


@bp.post("/issues/<int:issue_id>/assign")
def assign(issue_id: int):
    """Give the issue to a party (staff)."""
    form = {k: request.form.get(k, "") for k in ("party_id", "version", "assign_note")}

    def work(conn, actor):
        issues.assign(conn, actor, issue_id, _optional_int(form["party_id"]), _optional_int(form["version"]),
                      form["assign_note"] or None)
        return _("Assigned.")

    return _act(issue_id, work, form)


@bp.post("/issues/<int:issue_id>/support")
def support(issue_id: int):
    """"Me too"."""

    def work(conn, actor):
        if issues.support(conn, actor, issue_id).created:
            return _("Thank you: your “me too” is counted.")
        return _("You had already said “me too” for this issue.")

    return _act(issue_id, work, {}, "supports")


@bp.post("/issues/<int:issue_id>/comment")
@auth.limit_comments
def comment(issue_id: int):
    """Add a comment."""
    form = {"body": request.form.get("body", "")}

    def work(conn, actor):
        issues.comment(conn, actor, issue_id, form["body"])
        return _("Your comment was added.")

    return _act(issue_id, work, form, "comments")


@bp.post("/issues/<int:issue_id>/comments/<int:comment_id>/hide")
def hide_comment(issue_id: int, comment_id: int):
    """Hide a comment (staff); it keeps its place in the timeline."""
    reason = request.form.get("reason", "")

    def work(conn, actor):
        if issues.hide_comment(conn, actor, comment_id, reason or None)["issue_id"] != issue_id:
            raise issues.CommentNotFound(comment_id)
        return _("The comment is hidden.")

    return _act(issue_id, work, {"hide": comment_id})
