"""The OpenAPI 3.1 description of /api, shipped as webmap/openapi.json (tests keep it true to the routes)."""
from __future__ import annotations

import json
from functools import cache
from importlib import resources

from flask import Blueprint, current_app

bp = Blueprint("openapi", __name__, url_prefix="/api")


@cache
def document() -> dict:
    """The parsed description (read once per process)."""
    return json.loads(resources.files("webmap").joinpath("openapi.json").read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi_json():
    return current_app.json.response(document())
