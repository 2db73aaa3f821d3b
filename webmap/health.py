"""Liveness and readiness probes for process managers and load balancers."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from geodata import migrate
from webmap import db
from webmap.errors import error_response

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up; deliberately no database access, so a database outage does not get workers restarted."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready when the database answers and its schema has every migration applied."""
    try:
        with db.get_conn() as conn:
            todo = migrate.pending(conn)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database means "not ready", never a 500
        log.warning("not ready: database unreachable: %s", exc)
        return error_response(503, "not_ready", "The database is unreachable.")
    if todo:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in todo)
        return error_response(503, "not_ready", f"Migrations pending: {names}. Run: python -m geodata.migrate")
    return jsonify(status="ready")
