"""HTML pages; folium builds each map, and the data arrives from the API after the page loads."""
from __future__ import annotations

import folium
from branca.element import MacroElement
from flask import Blueprint, current_app, render_template, request, url_for
from folium.elements import JSCSSMixin
from folium.template import Template

from geodata import tiles
from webmap import assets, db

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
    function label(p) {
        var text = escapeHtml(p.name || "");
        if (p.name_en) { text += "<br>" + escapeHtml(p.name_en); }
        return text;
    }
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
            // With no areas loaded yet the map keeps its start view instead of zooming to nowhere.
            if (layer.getLayers().length) { map.fitBounds(layer.getBounds(), {padding: [16, 16]}); }
        })
        .catch(function (err) { console.error("could not load " + {{ this.url|tojson }}, err); });
})();
{% endmacro %}
"""
    )

    def __init__(self, url: str, style: dict | None = None):
        super().__init__()
        self._name = "GeoJsonFromApi"
        self.url = url
        self.style = style or {"color": "#c0392b", "weight": 2, "fillOpacity": 0.05}


# Map colours by stage of the lifecycle; reported issues stand out, finished ones recede.
STATUS_GROUPS = [
    {"key": "new", "statuses": ["reported"], "color": "#d7301f", "label": "新报告 New"},
    {"key": "handling", "statuses": ["confirmed", "assigned", "in_progress", "reopened"], "color": "#f28e2b",
     "label": "处理中 Being handled"},
    {"key": "resolved", "statuses": ["resolved"], "color": "#2c7fb8", "label": "已解决待确认 Resolved"},
    {"key": "closed", "statuses": ["closed"], "color": "#31a354", "label": "已关闭 Closed"},
    {"key": "dropped", "statuses": ["rejected", "duplicate"], "color": "#8c8c8c", "label": "未受理/重复 Rejected"},
]
STATUS_LABELS = {
    "reported": "新报告 Reported", "confirmed": "已确认 Confirmed", "assigned": "已分派 Assigned",
    "in_progress": "处理中 In progress", "resolved": "已解决 Resolved", "closed": "已关闭 Closed",
    "rejected": "未受理 Rejected", "duplicate": "重复 Duplicate", "reopened": "重新打开 Reopened",
}
PERIODS = [
    {"days": "", "label": "全部 Any time"},
    {"days": "7", "label": "最近 7 天 Last 7 days"},
    {"days": "30", "label": "最近 30 天 Last 30 days"},
    {"days": "365", "label": "最近一年 Last year"},
]
# Every word the map's script shows, in one place for translation.
LABELS = {
    "loading": "加载中… Loading…",
    "status": "状态 Status",
    "category": "类别 Category",
    "reported": "报告于 Reported",
    "supports": "附议 Supports",
    "details": "查看详情 Details →",
    "unavailable": "暂不可用 unavailable",
    "legend": "图例 Legend",
    "filters": "筛选 Filter",
    "allCategories": "全部类别 All categories",
    "time": "时间 Reported",
    "clusterLegend": "多个问题 Several issues",
    "clusterCount": "此处 {count} 个问题 · {count} issues here",
    "clusterOpen": "{open} 个未完成 · {open} still open",
    "zoomIn": "放大查看 Zoom in",
    "locate": "定位到我的位置 Show where I am",
    "locating": "正在定位… Finding your position…",
    "located": "已移到您的位置 Moved to where you are.",
    "locateDenied": "没有获得定位权限。您可以在浏览器设置中允许定位，或直接拖动地图。"
                    " Location permission was not given: allow it in your browser settings, or just move the map.",
    "locateFailed": "暂时无法获取您的位置，请稍后再试或直接拖动地图。"
                    " Your position could not be found just now: try again later, or move the map.",
    "locateUnsupported": "此浏览器或连接不支持定位，请直接拖动地图。"
                         " This browser or connection cannot share a location: please move the map.",
    "reportHere": "在此报告问题 Report a problem here",
}


class VendoredScripts(JSCSSMixin):
    """The vector-tile plugin from npm, its Leaflet 1.9 fixes and the map's own script and styles."""

    def __init__(self):
        super().__init__()
        self._name = "VendoredScripts"
        static = lambda name: url_for("static", filename=name)  # noqa: E731
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
        "issuePage": root + "/issues/{id}",
        "report": root + "/report",
        "crs": crs,
        "locale": "zh-CN",
        "categories": categories,
        "statusGroups": STATUS_GROUPS,
        "statusLabels": STATUS_LABELS,
        "periods": PERIODS,
        "labels": LABELS,
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
