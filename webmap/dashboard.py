"""The officials' dashboard: /dashboard, and the API it reads (hot spots, heatmap, choropleth, exports).

Thin: parse the request, find the actor, call geodata.dashboard / geodata.exports, shape the answer.
Every part takes the same filters (?area=&category=&status=&since=&until=), scoped to the actor's areas.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from pathlib import Path

import folium
import psycopg
from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _
from folium.elements import JSCSSMixin
from folium.template import Template

from geodata import audit, exports, hotspots, issues, tiles
from geodata import dashboard as dash
from geodata.validation import ValidationError
from webmap import assets, auth, db, i18n

log = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__)

GEOJSON = "application/geo+json"


def _json(body, mimetype: str | None = None, headers: dict | None = None):
    resp = current_app.json.response(body)
    if mimetype:
        resp.mimetype = mimetype
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _filters(conn, action: str) -> dash.Filters:
    return dash.parse_filters(conn, request.args, auth.current_actor(), action)


def _flag(name: str) -> bool:
    return (request.args.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


# ---------------------------------------------------------------- API


@bp.get("/api/hotspots")
def hotspots_api():
    """Gi* hot spots of the filtered issues on H3 cells (?resolution=5..11, default 9), with a legend."""
    auth.current_actor()  # resolved before the view takes its connection
    with db.get_conn() as conn:
        filters = _filters(conn, "hotspots.view")
        layer = dash.hotspot_layer(conn, filters, request.args.get("resolution") or hotspots.DEFAULT_RESOLUTION,
                                   k=request.args.get("k") or hotspots.DEFAULT_K,
                                   only_significant=_flag("significant"))
    layer["legend"] = _legend(layer["legend"])
    headers = {}
    if _flag("download"):
        headers["Content-Disposition"] = f'attachment; filename="hotspots-{_stamp()}.geojson"'
    # Tens of thousands of hexagons: compact and unsorted, a third faster than the app's JSON provider.
    text = json.dumps(layer, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(text, mimetype=GEOJSON, headers=headers)


def _legend(entries) -> list[dict]:
    """The hot spot legend with label and description in the request's language (both kept)."""
    lang = i18n.language()
    return [{**e, "text": e["label"].get(lang, e["label"]["en"]),
             "explanation": e["description"].get(lang, e["description"]["en"])} for e in entries]


@bp.get("/api/heatmap")
def heatmap_api():
    """Issues counted per H3 cell of a resolution fitting ?zoom=, within ?bbox=: [lat, lon, count] for Leaflet.heat."""
    auth.current_actor()
    with db.get_conn() as conn:
        filters = _filters(conn, "dashboard.view")
        bbox = dash.parse_bbox(request.args.get("bbox"))
        body = dash.heatmap(conn, filters, zoom=request.args.get("zoom") or 12, bbox=bbox)
    return _json(body)


@bp.get("/api/choropleth")
def choropleth_api():
    """Communities in scope by issues per 1,000 residents (or per km²), classified (?scheme=, ?k=)."""
    auth.current_actor()
    with db.get_conn() as conn:
        filters = _filters(conn, "dashboard.view")
        body = dash.choropleth(conn, filters, scheme=request.args.get("scheme"), k=request.args.get("k") or 5)
    return _json(body, GEOJSON)


@bp.get("/api/issues/export")
def export_issues():
    """The filtered issues as ?format=csv (UTF-8 with BOM), geojson or gpkg; ?contact=1 adds reporters'
    contact details for staff entitled to them."""
    actor = auth.current_actor()
    fmt = (request.args.get("format") or "csv").strip().lower()
    if fmt not in exports.FORMATS:
        raise ValidationError({"format": f"must be one of {', '.join(exports.FORMATS)}"})
    contact = _flag("contact")
    with db.get_conn() as conn:
        filters = _filters(conn, "issues.export")
        if contact:
            exports.check_contact(actor)  # refused before anything is streamed
            audit.record(conn, actor, "issues.export_contact", "issues", None,
                         {"format": fmt, "filters": filters.describe()})
    mimetype, ext = exports.FORMATS[fmt]
    headers = {"Content-Disposition": f'attachment; filename="issues-{_stamp()}.{ext}"',
               "Cache-Control": "no-store"}
    if fmt == "gpkg":
        return _gpkg_response(filters, actor, contact, mimetype, headers)
    chunks = exports.csv_chunks if fmt == "csv" else exports.geojson_chunks

    # The body is written after the view returns, outside the request: the generator holds its own pooled
    # connection and needs no Flask context (a client that never reads the body leaves nothing to clean up).
    app = current_app._get_current_object()
    pool, timeout = db._pool(app), float(app.config["DB_TIMEOUT"])

    def generate():
        with pool.connection(timeout=timeout) as conn:
            yield from chunks(exports.rows(conn, filters, actor, contact=contact), contact)

    return Response(generate(), mimetype=mimetype, headers=headers)


def _gpkg_response(filters, actor, contact: bool, mimetype: str, headers: dict):
    """A GeoPackage is an SQLite file: written to a temporary file, streamed back, then removed."""
    fd, name = tempfile.mkstemp(prefix="issues-export-", suffix=".gpkg")
    os.close(fd)
    path = Path(name)
    path.unlink()  # the GPKG driver creates the file itself
    try:
        with db.get_conn() as conn:
            exports.write_gpkg(exports.rows(conn, filters, actor, contact=contact), path, contact)
    except BaseException:
        path.unlink(missing_ok=True)
        raise

    def stream():
        try:
            with path.open("rb") as fh:
                while block := fh.read(256 * 1024):
                    yield block
        finally:
            path.unlink(missing_ok=True)

    headers = {**headers, "Content-Length": str(path.stat().st_size)}
    return Response(stream(), mimetype=mimetype, headers=headers, direct_passthrough=True)


# ---------------------------------------------------------------- the page


class DashboardScripts(JSCSSMixin):
    """Leaflet.heat, Chart.js and the dashboard's own script and styles, all served by the app."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
window.dashboard = Dashboard.init({{ this._parent.get_name() }}, {{ this.config|tojson }});
{% endmacro %}
"""
    )

    def __init__(self, config: dict):
        super().__init__()
        self._name = "DashboardScripts"
        self.config = config
        static = lambda name: url_for("static", filename=name)  # noqa: E731
        self.default_js = [
            ("leaflet.heat", assets.url("leaflet.heat", "leaflet-heat.js")),
            ("chart.js", assets.url("chart.js", "chart.umd.min.js")),
            ("dashboard", static("js/dashboard.js")),
        ]
        self.default_css = [("dashboard_css", static("css/dashboard.css"))]


STATUS_NAMES = {
    "reported": i18n.N_("Reported"), "confirmed": i18n.N_("Confirmed"), "assigned": i18n.N_("Assigned"),
    "in_progress": i18n.N_("In progress"), "resolved": i18n.N_("Resolved"), "closed": i18n.N_("Closed"),
    "rejected": i18n.N_("Rejected"), "duplicate": i18n.N_("Duplicate"), "reopened": i18n.N_("Reopened"),
}


def _labels() -> dict:
    """Every word the dashboard's script shows, in the request's language."""
    return {
        "loading": _("Loading…"), "failed": _("Could not load: %(what)s", what="{what}"),
        "noData": _("No issues match these filters."),
        "heatmap": _("Heatmap"), "hotspots": _("Hot spots"), "choropleth": _("Communities"),
        "hotspotLegend": _("Hot spots (Getis-Ord Gi*, FDR-corrected)"),
        "fewData": _("Few issues here: hot spot classes are unreliable with fewer than 30 cells or issues."),
        "choroplethPer1000": _("Issues per 1,000 residents"), "choroplethPerKm2": _("Issues per km²"),
        "openOnly": _("open issues"), "filtered": _("filtered issues"),
        "issues": _("Issues"), "z": _("Gi* z-score"), "p": _("p-value"),
        "opened": _("Opened"), "resolved": _("Resolved"), "backlog": _("Backlog"),
        "backlogAtEnd": _("Open at the end of the period"),
        "responseRate": _("Response rate"), "resolutionRate": _("Resolution rate"),
        "satisfactionRate": _("Satisfaction rate"), "withinSla": _("Resolved within SLA"),
        "median": _("Median time to resolve"), "p90": _("90th percentile time to resolve"),
        "hours": _("%(n)s h", n="{n}"), "days": _("%(n)s days", n="{n}"),
        "perCommunity": _("By community"), "perCategory": _("By category"), "perParty": _("By responsible party"),
        "community": _("Community"), "category": _("Category"), "party": _("Party"), "kind": _("Kind"),
        "weekly": _("Opened and resolved per week"),
        "byKind": _("Resolved by kind of party"),
        "government": _("Government department"), "social_work": _("Social work organisation"),
        "volunteer_group": _("Resident volunteer group"), "unassigned": _("Unassigned"),
        "oldest": _("Oldest open issues"),
        "statsMissing": _("Statistics are not available on this server yet."),
        "statistics": _("Statistics"),
        "none": "–",
    }


def _areas_in_scope(conn, filters_scope: tuple[int, ...] | None) -> list[dict]:
    rows = conn.execute(
        "SELECT id, code, name, name_en, level FROM areas"
        " WHERE level IN ('district', 'street', 'community') AND (%(ids)s::bigint[] IS NULL OR id = ANY (%(ids)s))"
        " ORDER BY area_level_rank(level), code",
        {"ids": None if filters_scope is None else list(filters_scope)}).fetchall()
    return [{"id": r[0], "code": r[1], "name": i18n.category_name({"name": r[2], "name_en": r[3], "code": r[1]}),
             "level": r[4]} for r in rows]


def _dashboard_map(config: dict) -> folium.Map:
    cfg = current_app.config
    m = folium.Map(location=(39.94, 116.31), zoom_start=13, tiles=None, control_scale=True, max_zoom=19,
                   height="100%", width="100%")
    assets.leaflet_for(m)
    folium.TileLayer(tiles=cfg["BASEMAP_URL"], attr=cfg["BASEMAP_ATTRIBUTION"], name="basemap", max_zoom=19,
                     control=False).add_to(m)
    DashboardScripts(config).add_to(m)
    return m


# GET /api/stats reads since/until as local dates, both included, and the last 30 days without them
# (geodata/stats.py). The page keeps those dates in its URL and sends the other layers the same period as
# local midnights: [since 00:00, the day after until 00:00).
DEFAULT_DAYS = 30


def _time_zone(conn) -> str:
    """The time zone of the statistics' days (stats_settings), else the app's."""
    fallback = current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai"
    try:
        with conn.transaction():
            row = conn.execute("SELECT time_zone FROM stats_settings").fetchone()
    except psycopg.errors.UndefinedTable:
        return fallback
    return (row and row[0]) or fallback


def _period(zone: str) -> dict:
    now = datetime.now(ZoneInfo(zone))
    offset = now.strftime("%z")
    return {"today": now.date().isoformat(), "defaultDays": DEFAULT_DAYS, "offset": f"{offset[:3]}:{offset[3:]}",
            "timeZone": zone}


@bp.get("/dashboard")
@auth.requires("dashboard.view")
def page():
    """Heatmap, hot spots, community comparison, the 12345 rates and exports for the actor's areas."""
    actor = auth.current_actor()
    with db.get_conn() as conn:
        scope = dash.parse_filters(conn, {}, actor, "dashboard.view")
        zone = _time_zone(conn)
        areas = _areas_in_scope(conn, scope.area_ids)
        categories = [{"code": c["code"], "name": i18n.category_name(c)} for c in tiles.categories(conn)]
    root = request.script_root
    # One status at a time, as GET /api/stats takes it (the API's "open" alias is not offered here).
    statuses = [{"code": s, "name": i18n.translate(STATUS_NAMES[s])} for s in issues.STATUSES]
    config = {
        "api": {"stats": root + "/api/stats", "hotspots": root + "/api/hotspots", "heatmap": root + "/api/heatmap",
                "choropleth": root + "/api/choropleth", "export": root + "/api/issues/export"},
        "issuePage": root + "/issues/{id}",
        "locale": i18n.js_locale(),
        "language": i18n.language(),
        "labels": _labels(),
        "statusNames": {s["code"]: s["name"] for s in statuses},
        "categoryNames": {c["code"]: c["name"] for c in categories},
        "resolutions": list(dash.RESOLUTIONS),
        "period": _period(zone),
        "defaultResolution": hotspots.DEFAULT_RESOLUTION,
    }
    root_el = _dashboard_map(config).get_root()
    root_el.render()
    return render_template(
        "dashboard.html",
        map_header=root_el.header.render(), map_html=root_el.html.render(), map_script=root_el.script.render(),
        areas=areas, categories=categories, statuses=statuses, resolutions=dash.RESOLUTIONS,
        default_resolution=hotspots.DEFAULT_RESOLUTION, default_days=DEFAULT_DAYS, args=request.args,
    )
