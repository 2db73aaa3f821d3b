"""The JSON and GeoJSON API under /api."""
from __future__ import annotations

from flask import Blueprint, current_app, request

from geodata import areas, display
from webmap import db

bp = Blueprint("api", __name__, url_prefix="/api")

GEOJSON = "application/geo+json"


def geojson_response(data: dict):
    """A GeoJSON document with its registered media type (RFC 7946)."""
    resp = current_app.json.response(data)
    resp.mimetype = GEOJSON
    return resp


@bp.get("/areas")
def list_areas():
    """Areas as a GeoJSON FeatureCollection, optionally of one level (?level=community).

    ?crs=gcj02 shifts the outlines for drawing on a GCJ-02 basemap (docs/basemaps.md).
    """
    # An empty ?level= means "all levels", like leaving it out.
    level = request.args.get("level") or None
    crs = display.parse_crs(request.args.get("crs"))
    with db.get_conn() as conn:
        collection = areas.feature_collection(conn, level)
    return geojson_response(display.shift_geojson(collection, crs))
