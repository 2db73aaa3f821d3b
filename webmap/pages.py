"""HTML pages; folium builds each map, and the data arrives from the API after the page loads."""
from __future__ import annotations

import folium
from branca.element import MacroElement
from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext
from folium.elements import JSCSSMixin
from folium.template import Template

from geodata import tiles
from webmap import assets, db, i18n
from webmap.i18n import N_, NP_

bp = Blueprint("pages", __name__)

# Where the map starts before the areas have loaded, and stays when none are loaded yet (ZZY Street, Haidian).
START = (39.94, 116.31)
START_ZOOM = 14


class GeoJsonFromApi(MacroElement):
    """Outlines fetched from an API URL and fitted into view; names go through escapeHtml because they come from uploaded files."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }};
    function escapeHtml(value) {
        return String(value).replace(/[&<>"']/g, function (c) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
        });
    }
    // Both names, the page's language first.
    function label(p) {
        var names = {{ this.english|tojson }} ? [p.name_en, p.name] : [p.name, p.name_en];
        return names.filter(function (n) { return n; }).map(escapeHtml).join("<br>");
    }
    // A view chosen before the outlines arrive (a drag, a zoom, "locate me", a script) is kept: fitting
    // over it would pull the map away from where the person had just gone.
    var chosen = false;
    function choose() { chosen = true; }
    map.on("movestart", choose);
    fetch({{ this.url|tojson }}, {headers: {"Accept": "application/geo+json"}})
        .then(function (resp) {
            if (!resp.ok) { throw new Error("HTTP " + resp.status); }
            return resp.json();
        })
        .then(function (data) {
            var layer = L.geoJSON(data, {
                style: {{ this.style|tojson }},
                onEachFeature: function (feature, lyr) {
                    lyr.bindTooltip(label(feature.properties || {}), {sticky: true});
                }
            }).addTo(map);
            // With no areas loaded yet the map keeps its start view instead of zooming to nowhere. Not
            // animated: the first view settles at once, so a tap lands where the map shows it.
            if (layer.getLayers().length && !chosen) {
                map.fitBounds(layer.getBounds(), {padding: [16, 16], animate: false});
            }
        })
        .catch(function (err) { console.error("could not load " + {{ this.url|tojson }}, err); })
        .finally(function () { map.off("movestart", choose); });
})();
{% endmacro %}
"""
    )

    def __init__(self, url: str, style: dict | None = None):
        super().__init__()
        self._name = "GeoJsonFromApi"
        self.url = url
        self.style = style or {"color": "#c0392b", "weight": 2, "fillOpacity": 0.05}
        self.english = i18n.language() == "en"


# Map colours by stage of the lifecycle; reported issues stand out, finished ones recede.
# Labels are English source text, translated per request (status_groups(), labels()).
STATUS_GROUPS = [
    {"key": "new", "statuses": ["reported"], "color": "#d7301f", "label": N_("New")},
    {"key": "handling", "statuses": ["confirmed", "assigned", "in_progress", "reopened"], "color": "#f28e2b",
     "label": N_("Being handled")},
    {"key": "resolved", "statuses": ["resolved"], "color": "#2c7fb8", "label": N_("Resolved, awaiting confirmation")},
    {"key": "closed", "statuses": ["closed"], "color": "#31a354", "label": N_("Closed")},
    {"key": "dropped", "statuses": ["rejected", "duplicate"], "color": "#8c8c8c", "label": N_("Rejected or duplicate")},
]
STATUS_LABELS = {
    "reported": N_("Reported"), "confirmed": N_("Confirmed"), "assigned": N_("Assigned"),
    "in_progress": N_("In progress"), "resolved": N_("Resolved"), "closed": N_("Closed"),
    "rejected": N_("Rejected"), "duplicate": N_("Duplicate"), "reopened": N_("Reopened"),
}
PERIODS = [
    {"days": "", "label": N_("Any time")},
    {"days": "7", "label": N_("Last 7 days")},
    {"days": "30", "label": N_("Last 30 days")},
    {"days": "365", "label": N_("Last year")},
]
# Every word the map's script shows, in one place for translation.
LABELS = {
    "loading": N_("Loading…"),
    "status": N_("Status"),
    "category": N_("Category"),
    # "Reported" is also a status; in the popup it says when (报告于, not 新报告).
    "reported": NP_("popup", "Reported"),
    "supports": N_("Supports"),
    "details": N_("Details →"),
    "unavailable": N_("unavailable"),
    "legend": N_("Legend"),
    "filters": N_("Filter"),
    "allCategories": N_("All categories"),
    "time": N_("Reported within"),
    "clusterLegend": N_("Several issues"),
    # {count} and {open} are filled in by the script.
    "clusterCount": N_("{count} issues here"),
    "clusterOpen": N_("{open} still open"),
    "zoomIn": N_("Zoom in"),
    "locate": N_("Show where I am"),
    "locating": N_("Finding your position…"),
    "located": N_("Moved to where you are."),
    "locateDenied": N_("Location permission was not given: allow it in your browser settings, or just move the map."),
    "locateFailed": N_("Your position could not be found just now: try again later, or move the map."),
    "locateUnsupported": N_("This browser or connection cannot share a location: please move the map."),
    "reportHere": N_("Report a problem here"),
    "zoomOut": N_("Zoom out"),
    "listTitle": N_("Issues in view"),
    "listEmpty": N_("No issues in this view."),
    # {n} is filled in by the script.
    "listMore": N_("The newest {n} are listed; zoom in to see the others."),
    "listFailed": N_("The list could not be loaded; try again later."),
}


def status_label(status: str) -> str:
    """An issue status in the request's language."""
    return gettext(STATUS_LABELS[status]) if status in STATUS_LABELS else status


def status_groups() -> list[dict]:
    """STATUS_GROUPS with their labels in the request's language."""
    return [{**g, "label": gettext(g["label"])} for g in STATUS_GROUPS]


def labels() -> dict:
    """LABELS in the request's language."""
    return {key: i18n.translate(text) for key, text in LABELS.items()}


class VendoredScripts(JSCSSMixin):
    """The vector-tile plugin from npm, its Leaflet 1.9 fixes and the map's own script and styles."""

    def __init__(self):
        super().__init__()
        self._name = "VendoredScripts"
        static = assets.static_url
        self.default_js = [
            ("leaflet.vectorgrid", assets.url("leaflet.vectorgrid", "Leaflet.VectorGrid.bundled.min.js")),
            ("vectorgrid-leaflet19", static("js/vectorgrid-leaflet19.js")),
            ("chinacrs", static("js/chinacrs.js")),
            ("livemap", static("js/livemap.js")),
        ]
        self.default_css = [("livemap_css", static("css/livemap.css"))]


class LiveIssues(VendoredScripts):
    """Issues from the vector tiles, with legend, filters, "locate me" and popups (webmap/static/js/livemap.js)."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
window.liveMap = LiveMap.init({{ this._parent.get_name() }}, {{ this.config|tojson }});
{% endmacro %}
"""
    )

    def __init__(self, config: dict):
        super().__init__()
        self._name = "LiveIssues"
        self.config = config


def _live_config(crs: str) -> dict:
    with db.get_conn() as conn:
        categories = tiles.categories(conn)
    root = request.script_root
    return {
        # Placeholders stay literal: Leaflet fills {z}/{x}/{y}, the script fills {id}.
        "tiles": root + "/tiles/issues/{z}/{x}/{y}.pbf",
        "issueApi": root + "/api/issues/{id}",
        "issueList": root + "/api/issues",
        "issuePage": root + "/issues/{id}",
        "report": root + "/report",
        "crs": crs,
        "locale": i18n.js_locale(),
        # One name per category, in the page's language (name_en in English, name in Chinese).
        "categories": [{"code": c["code"], "name": i18n.category_name(c)} for c in categories],
        "statusGroups": status_groups(),
        "statusLabels": {code: gettext(text) for code, text in STATUS_LABELS.items()},
        "periods": [{**p, "label": gettext(p["label"])} for p in PERIODS],
        "labels": labels(),
    }


def basemap_crs() -> str:
    """The basemap's coordinate system from BASEMAP_CRS: wgs84 (default) or gcj02."""
    crs = str(current_app.config.get("BASEMAP_CRS") or "wgs84").strip().lower()
    if crs not in tiles.DISPLAY_CRS:
        raise ValueError(f"BASEMAP_CRS must be one of {', '.join(tiles.DISPLAY_CRS)}, not {crs!r}")
    return crs


def _community_map() -> folium.Map:
    cfg = current_app.config
    crs = basemap_crs()
    # Absolute inside the page's <main>, so the map takes whatever height the header leaves.
    m = folium.Map(location=START, zoom_start=START_ZOOM, tiles=None, position="absolute", control_scale=True,
                   max_zoom=19)
    assets.leaflet_for(m)
    folium.TileLayer(tiles=cfg["BASEMAP_URL"], attr=cfg["BASEMAP_ATTRIBUTION"], name="basemap", max_zoom=19).add_to(m)
    # On a GCJ-02 basemap the outlines arrive shifted too, so they sit on the streets the basemap draws.
    areas_url = url_for("api.list_areas", level="community", **({"crs": crs} if crs != "wgs84" else {}))
    GeoJsonFromApi(areas_url).add_to(m)
    LiveIssues(_live_config(crs)).add_to(m)
    return m


@bp.get("/")
def index():
    """The community map."""
    root = _community_map().get_root()
    root.render()
    return render_template(
        "index.html",
        map_header=root.header.render(),
        map_html=root.html.render(),
        map_script=root.script.render(),
    )


# What an error page says, by status; anything else is said as its nearest class (4xx or 5xx).
ERROR_TEXTS = {
    400: (N_("This request could not be handled"), N_("Something in the request was missing or wrong.")),
    401: (N_("Please sign in"), N_("This page is for signed-in users.")),
    403: (N_("Not allowed"), N_("Your account may not see or do this.")),
    404: (N_("Page not found"), N_("There is nothing at this address. It may have been mistyped or removed.")),
    405: (N_("This request could not be handled"), N_("This address does not take this kind of request.")),
    409: (N_("Changed in the meantime"), N_("Someone changed this in the meantime: reload the page and try again.")),
    413: (N_("Too large"), N_("What was sent is too large.")),
    422: (N_("This request could not be handled"), N_("This step is not possible right now.")),
    429: (N_("Too many requests"), N_("Please wait a little and try again.")),
    500: (N_("Something went wrong"), N_("Something went wrong on our side; it has been logged.")),
    503: (N_("Not available right now"), N_("The service is not available right now; please try again shortly.")),
}


def error_page(exc):
    """An HTTP error as the site's own page in the reader's language (webmap.errors calls this for pages)."""
    status = exc.code or 500
    title, text = ERROR_TEXTS.get(status) or ERROR_TEXTS[500 if status >= 500 else 400]
    # The technical reason (English, e.g. "The CSRF token is missing.") helps whoever reports the problem;
    # server errors keep theirs in the log.
    detail = exc.description if status < 500 and exc.description != type(exc).description else None
    try:
        body = render_template("error.html", status=status, title=gettext(title), text=gettext(text), detail=detail)
    except Exception:  # noqa: BLE001 - e.g. the database is down and the header cannot be drawn: plain page
        return exc
    resp = current_app.response_class(body, status=status, mimetype="text/html")
    # Keep Allow (405), Retry-After (429, 503) and the like, not werkzeug's content type.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            resp.headers[name] = value
    return resp
