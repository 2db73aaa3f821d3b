"""GET /api/stats: the dashboard's statistics (geodata.stats), scoped to the areas the actor serves."""
from __future__ import annotations

from flask import Blueprint, current_app, request

from geodata import stats
from webmap import auth, db

bp = Blueprint("stats_api", __name__, url_prefix="/api")


@bp.get("/stats")
def get_stats():
    """The three 12345 rates, backlog, weekly series, time to resolve and the oldest open issues."""
    filters = stats.StatsFilter.from_query(request.args)
    # The account first: resolving a session may take a pooled connection of its own.
    actor = auth.current_actor()
    with db.get_conn() as conn:
        body = stats.dashboard(conn, filters, actor=actor)
    resp = current_app.json.response(body)
    # Officials' figures: never kept by shared caches.
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
