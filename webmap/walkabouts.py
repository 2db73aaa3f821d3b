"""Walkabouts on the web: the planner page, the API, the walk page behind the share link, and GPX.

Thin: parse, find the actor, call geodata.walkabouts, shape the answer. Refusals are geodata's typed
errors, turned into statuses by webmap.errors.DOMAIN_ERRORS.
"""
from __future__ import annotations

import logging
from datetime import datetime

import folium
import gpxpy.gpx
from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import format_datetime, gettext as _
from folium.elements import JSCSSMixin
from folium.template import Template

from geodata import permissions, tiles, walkabouts
from geodata.validation import ValidationError
from webmap import assets, auth, db, i18n
from webmap.issues_api import json_object

log = logging.getLogger(__name__)

bp = Blueprint("walkabouts", __name__)

GPX = "application/gpx+xml"
VISIT_FIELDS = {"outcome", "note", "version"}




def _settings() -> walkabouts.Settings:
    """WALKABOUT_* from the environment, then the app's WALKABOUT_SETTINGS (tests)."""
    return walkabouts.Settings.from_env(current_app.config.get("WALKABOUT_SETTINGS"))


def _with_links(found: dict) -> dict:
    """The API answer: the walkabout plus where to see it, share it and download it."""
    token = found["share_token"]
    return {**found,
            "page_url": url_for("walkabouts.walk_page", token=token),
            "share_url": url_for("walkabouts.walk_page", token=token, _external=True),
            "gpx_url": url_for("walkabouts.gpx_by_id", walkabout_id=found["id"])}


def _json(body, status: int = 200, headers: dict | None = None):
    resp = current_app.json.response(body)
    resp.status_code = status
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


# ---------------------------------------------------------------- API


@bp.post("/api/walkabouts")
def create_walkabout():
    """Plan and store a walkabout: {area | polygon, filters?, start?, max_stops?, max_minutes?, return_to_start?}."""
    payload = json_object(allowed=walkabouts.REQUEST_FIELDS)
    actor = auth.current_actor()
    with db.get_conn() as conn:
        found = walkabouts.plan(conn, actor, payload, _settings())
    return _json(_with_links(found), 201,
                 {"Location": url_for("walkabouts.get_walkabout", walkabout_id=found["id"])})


@bp.get("/api/walkabouts/<int:walkabout_id>")
def get_walkabout(walkabout_id: int):
    """One walkabout with its stops and what was found at each (staff of its community)."""
    actor = auth.current_actor()
    with db.get_conn() as conn:
        found = walkabouts.get(conn, actor, walkabout_id)
    return _json(_with_links(found))


@bp.post("/api/walkabouts/<int:walkabout_id>/stops/<int:seq>/visit")
def visit_stop(walkabout_id: int, seq: int):
    """Mark a stop {outcome: visited|confirmed|fixed|not_found, note?, version?}."""
    body = json_object(allowed=VISIT_FIELDS)
    if "outcome" not in body:
        raise ValidationError({"outcome": "is required"})
    actor = auth.current_actor()
    with db.get_conn() as conn:
        stop = walkabouts.visit(conn, actor, walkabout_id, seq, body["outcome"], body.get("note"),
                                body.get("version"))
    return _json(stop)


# ---------------------------------------------------------------- GPX


def gpx_document(found: dict) -> str:
    """GPX 1.1: a waypoint per stop (numbered name, category and leg in desc) and the route in walking order."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "Community issue map (webmap)"
    where = (found.get("area") or {}).get("name") or _("Drawn area")
    gpx.name = _("Walkabout %(id)s: %(where)s", id=found["id"], where=where)
    gpx.time = None
    start = found["start"]
    route = gpxpy.gpx.GPXRoute(name=gpx.name)
    route.points.append(gpxpy.gpx.GPXRoutePoint(start["lat"], start["lon"], name=_("Start")))
    for stop in found["stops"]:
        name = f"{stop['seq']}. {stop['title']}"
        desc = _("Issue #%(id)s · %(category)s · %(metres)s m, %(minutes)s min walk from the previous point",
                 id=stop["issue_id"], category=stop["category"], metres=round(stop["leg_distance_m"]),
                 minutes=round(stop["leg_walk_minutes"], 1))
        gpx.waypoints.append(gpxpy.gpx.GPXWaypoint(stop["lat"], stop["lon"], name=name, description=desc,
                                                   symbol="Flag"))
        route.points.append(gpxpy.gpx.GPXRoutePoint(stop["lat"], stop["lon"], name=name))
    if found["return_leg"] is not None:
        route.points.append(gpxpy.gpx.GPXRoutePoint(start["lat"], start["lon"], name=_("Back to the start")))
    gpx.routes.append(route)
    return gpx.to_xml(version="1.1")


def _gpx_response(found: dict) -> Response:
    resp = Response(gpx_document(found), mimetype=GPX)
    resp.headers["Content-Disposition"] = f'attachment; filename="walkabout-{found["id"]}.gpx"'
    return resp


@bp.get("/walkabouts/<int:walkabout_id>.gpx")
def gpx_by_id(walkabout_id: int):
    """The walkabout as GPX, for staff of its community."""
    actor = auth.current_actor()
    with db.get_conn() as conn:
        found = walkabouts.get(conn, actor, walkabout_id)
    return _gpx_response(found)


@bp.get("/walkabouts/<token>.gpx")
def gpx_by_token(token: str):
    """The walkabout as GPX, for anyone with its share link."""
    with db.get_conn() as conn:
        found = walkabouts.shared(conn, token)
    return _gpx_response(found)


# ---------------------------------------------------------------- pages


class WalkaboutScripts(JSCSSMixin):
    """Leaflet-draw from npm, the coordinate shift for GCJ-02 basemaps and the walkabout page script."""

    def __init__(self, draw: bool):
        super().__init__()
        self._name = "WalkaboutScripts"
        # Content-hashed URLs: browsers keep them until the file changes.
        static = assets.static_url
        js = [("chinacrs", static("js/chinacrs.js"))]
        css = []
        if draw:
            js.insert(0, ("leaflet_draw", assets.url("leaflet-draw", "leaflet.draw.js")))
            css.append(("leaflet_draw_css", assets.url("leaflet-draw", "leaflet.draw.css")))
        js.append(("walkabouts", static("js/walkabouts.js")))
        css.append(("walkabouts_css", static("css/walkabouts.css")))
        self.default_js = js
        self.default_css = css


class WalkaboutMap(WalkaboutScripts):
    """Starts the planner or the walk view of webmap/static/js/walkabouts.js on the folium map."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
window.walkabouts = Walkabouts.{{ this.mode }}({{ this._parent.get_name() }}, {{ this.config|tojson }});
{% endmacro %}
"""
    )

    def __init__(self, mode: str, config: dict):
        super().__init__(draw=(mode == "planner"))
        self._name = "WalkaboutMap"
        self.mode = mode
        self.config = config


def _map(mode: str, config: dict, areas_url: str | None) -> dict:
    from webmap.pages import START, START_ZOOM, GeoJsonFromApi, basemap_crs

    cfg = current_app.config
    crs = basemap_crs()
    m = folium.Map(location=START, zoom_start=START_ZOOM, tiles=None, control_scale=True, max_zoom=19,
                   height="100%", width="100%")
    assets.leaflet_for(m)
    folium.TileLayer(tiles=cfg["BASEMAP_URL"], attr=cfg["BASEMAP_ATTRIBUTION"], name="basemap", max_zoom=19).add_to(m)
    if areas_url:
        GeoJsonFromApi(areas_url + ("&crs=" + crs if crs != "wgs84" else ""),
                       style={"color": "#8e2c22", "weight": 1.5, "fillOpacity": 0.03}).add_to(m)
    WalkaboutMap(mode, {**config, "crs": crs}).add_to(m)
    root = m.get_root()
    root.render()
    return {"map_header": root.header.render(), "map_html": root.html.render(), "map_script": root.script.render()}


def _labels() -> dict:
    """Every word the page script shows, translated for this request."""
    return {
        "planning": _("Planning the walk…"),
        "planned": _("Walk planned: %(stops)s stops."),
        "noOpenIssues": _("No open issues here: nothing matches this area and these filters, so no route was planned."),
        "noStopFits": _("Not even the first stop fits into this time; allow more minutes."),
        "polygonInvalid": _("The drawn area is not a valid polygon; draw it again without crossing lines."),
        "polygonTooLarge": _("The drawn area is too large for one walk; draw a smaller one."),
        "forbidden": _("You may not do this here."),
        "conflict": _("This issue changed since the page was loaded; reload the page and try again."),
        "notAllowed": _("This step is not possible for the issue in its current state."),
        "failed": _("That did not work; check the connection and try again."),
        "chooseArea": _("Choose a community or draw an area first."),
        "tapStart": _("Tap the map where the walk starts."),
        "startSet": _("Start point set."),
        "locating": _("Finding your position…"),
        "located": _("Your position is the start."),
        "locateFailed": _("Your position could not be found; tap the map instead."),
        "drawHint": _("Click the map to add corners; click the first corner to finish."),
        "polygonDrawn": _("Area drawn."),
        "start": _("Start"),
        "stop": _("Stop"),
        "m": _("m"),
        "min": _("min"),
        "saved": _("Saved."),
        "saving": _("Saving…"),
        "outcomes": {"visited": _("Visited"), "confirmed": _("Confirmed"), "fixed": _("Fixed"),
                     "not_found": _("Not found")},
        "statuses": {"reported": _("Reported"), "confirmed": _("Confirmed"), "assigned": _("Assigned"),
                     "in_progress": _("In progress"), "resolved": _("Resolved"), "closed": _("Closed"),
                     "rejected": _("Rejected"), "duplicate": _("Duplicate"), "reopened": _("Reopened")},
        "backToStart": _("Back to the start"),
        "total": _("Total"),
    }


STATUS_CHOICES = ("reported", "confirmed", "assigned", "in_progress", "reopened", "resolved")


@bp.get("/walkabouts")
@auth.requires("walkabout.plan")
def planner_page():
    """Plan a walkabout: community or drawn area, filters, start point and limit; the route on the map."""
    actor = auth.current_actor()
    with db.get_conn() as conn:
        communities = walkabouts.communities(conn, actor)
        categories = tiles.categories(conn)
    settings = _settings()
    config = {
        "api": url_for("walkabouts.create_walkabout"),
        "areasApi": url_for("api.list_areas", level="community"),
        "communities": communities,
        "labels": _labels(),
        "maxAreaKm2": settings.max_area_km2,
    }
    page_map = _map("planner", config, url_for("api.list_areas", level="community"))
    return render_template("walkabouts.html", communities=communities, categories=categories,
                           statuses=STATUS_CHOICES, labels=_labels(), settings=settings, **page_map)


@bp.get("/walkabouts/<token>")
def walk_page(token: str):
    """A planned walk behind its share link: staff of the community mark stops; anyone else only reads."""
    actor = auth.current_actor()
    with db.get_conn() as conn:
        found = walkabouts.by_token(conn, token)
    staff = walkabouts.may_view(actor, found) and permissions.may(actor, "walkabout.record_visit",
                                                                  {"area_id": (found["area"] or {}).get("id")})
    shown = found if walkabouts.may_view(actor, found) else walkabouts.public_view(found)
    config = {
        "walkabout": {k: shown[k] for k in ("id", "start", "route", "stops", "return_leg", "polygon")},
        "visitApi": url_for("walkabouts.visit_stop", walkabout_id=found["id"], seq=0).replace("/0/visit", "/{seq}/visit"),
        "canVisit": staff,
        "labels": _labels(),
    }
    page_map = _map("walk", config, None)
    with db.get_conn() as conn:
        categories = tiles.categories(conn)
    english = i18n.language() == "en"
    category_names = {c["code"]: (c["name_en"] if english and c["name_en"] else c["name"]) for c in categories}
    planned_at = format_datetime(datetime.fromisoformat(found["created_at"]), "short")
    gpx_url = url_for("walkabouts.gpx_by_token", token=token)
    return render_template("walkabouts_walk.html", w=shown, staff=staff, labels=_labels(), gpx_url=gpx_url,
                           share_url=url_for("walkabouts.walk_page", token=token, _external=True),
                           print_now=request.args.get("print") == "1", category_names=category_names,
                           planned_at=planned_at, **page_map)
