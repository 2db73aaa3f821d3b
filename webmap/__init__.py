"""The community issue map web application: app factory."""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from flask import Flask

from geodata import config as geoconfig

log = logging.getLogger(__name__)

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Flask app; settings come from the environment, then from test_config."""
    app = Flask(__name__)
    app.config.from_mapping(
        # None means "geodata.db.database_url()", resolved at first use so that building the app needs no database.
        DATABASE_URL=os.environ.get("DATABASE_URL") or None,
        SECRET_KEY=os.environ.get("SECRET_KEY") or None,
        BASEMAP_URL=os.environ.get("BASEMAP_URL") or OSM_TILES,
        BASEMAP_ATTRIBUTION=os.environ.get("BASEMAP_ATTRIBUTION") or OSM_ATTRIBUTION,
        # wgs84 or gcj02: the coordinate system of the basemap's tiles (docs/basemaps.md).
        BASEMAP_CRS=(os.environ.get("BASEMAP_CRS") or "wgs84").strip().lower(),
        DB_TIMEOUT=float(os.environ.get("DB_TIMEOUT", "5")),
    )
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _shared_secret_key(geoconfig.var_dir() / "secret_key")

    # Chinese area names stay readable in JSON instead of becoming \uXXXX escapes.
    app.json.ensure_ascii = False

    from webmap import api, assets, db, errors, health, issues_api, openapi, pages
    from webmap import accounts_api, admin, auth, cli
    from webmap import tiles
    from webmap import open311
    from webmap import stats_api
    from webmap import i18n
    from webmap import walkabouts
    from webmap import report_pages
    from webmap import dashboard
    from webmap import deliberations, groups
    from webmap import report_fast

    i18n.init_app(app)
    db.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    report_fast.init_app(app)
    cli.init_app(app)
    app.register_blueprint(admin.bp)
    app.register_blueprint(accounts_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(issues_api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(tiles.bp)
    app.register_blueprint(open311.bp)
    app.register_blueprint(stats_api.bp)
    app.register_blueprint(walkabouts.bp)
    app.register_blueprint(report_pages.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(deliberations.bp)
    app.register_blueprint(groups.bp)
    # Outermost, so that the answers of the fast paths (reports, tiles) carry it too.
    app.wsgi_app = NoSniff(app.wsgi_app)
    return app


class NoSniff:
    """WSGI middleware: every answer says X-Content-Type-Options: nosniff.

    JSON answers carry residents' text as it was written ("<script>" included); the header keeps a browser
    from ever reading such an answer as HTML or script, whatever its content type.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            if not any(name.lower() == "x-content-type-options" for name, _ in headers):
                headers = [*headers, ("X-Content-Type-Options", "nosniff")]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def _shared_secret_key(path: Path) -> str:
    """The key kept in path, created on first start so that every worker process signs with the same key."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    try:
        # link() never replaces: when workers start together, the first one's key wins and the others read it.
        os.link(tmp, path)
        log.info("generated a new secret key in %s", path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()
