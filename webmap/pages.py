"""HTML pages; folium builds each map, and the data arrives from the API after the page loads."""
from __future__ import annotations

import folium
from branca.element import MacroElement
from flask import Blueprint, current_app, render_template, url_for
from folium.template import Template

from webmap import assets

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


def _community_map() -> folium.Map:
    cfg = current_app.config
    # Absolute inside the page's <main>, so the map takes whatever height the header leaves.
    m = folium.Map(location=START, zoom_start=START_ZOOM, tiles=None, position="absolute", control_scale=True)
    assets.leaflet_for(m)
    folium.TileLayer(tiles=cfg["BASEMAP_URL"], attr=cfg["BASEMAP_ATTRIBUTION"], name="basemap", max_zoom=19).add_to(m)
    GeoJsonFromApi(url_for("api.list_areas", level="community")).add_to(m)
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
