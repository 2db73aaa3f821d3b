"""Front-end packages installed from npm (package.json) and served by the app, so no page needs a CDN."""
from __future__ import annotations


from flask import Blueprint, abort, send_from_directory, url_for

from geodata.config import PROJECT_ROOT

bp = Blueprint("assets", __name__, url_prefix="/assets")

NODE_MODULES = PROJECT_ROOT / "node_modules"
# Only the built files of packages named here are reachable; the rest of node_modules stays private.
PACKAGES = {"leaflet": "dist", "leaflet.vectorgrid": "dist", "leaflet.heat": "dist", "leaflet-draw": "dist",
            "chart.js": "dist"}


@bp.get("/<package>/<path:filename>")
def vendored(package: str, filename: str):
    """One file from a vendored package's build folder."""
    if package not in PACKAGES:
        abort(404)
    root = NODE_MODULES / package / PACKAGES[package]
    # Versions are pinned in package.json, so a browser may keep a file for a day without asking again.
    return send_from_directory(root, filename, max_age=86400)


def url(package: str, filename: str) -> str:
    """The app's URL for a file of a vendored package."""
    return url_for("assets.vendored", package=package, filename=filename)


def leaflet_for(m) -> None:
    """Point a folium map at the vendored Leaflet instead of folium's CDN defaults."""
    m.default_js = [("leaflet", url("leaflet", "leaflet.js"))]
    m.default_css = [("leaflet_css", url("leaflet", "leaflet.css"))]


def installed() -> bool:
    """Whether npm has installed the vendored packages (make setup does)."""
    return all((NODE_MODULES / p / d).is_dir() for p, d in PACKAGES.items())
