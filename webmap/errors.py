"""Error responses: one JSON shape for the API, and the single table mapping domain errors to HTTP statuses."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from flask import Flask, Response, jsonify, request
from psycopg_pool import PoolTimeout
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, default_exceptions

from geodata import accounts, areas, idempotency, issues, permissions, tokens, validation
from geodata import display, tiles
from geodata import open311
from geodata import deliberations, groups
from geodata import tour, walkabouts
from geodata import hotspots
from geodata import stats

log = logging.getLogger(__name__)

# Paths whose clients are programs: every error there is JSON, never an HTML page.
JSON_PREFIXES = ("/api/", "/healthz", "/readyz", "/tiles/")


@dataclass(frozen=True)
class Mapping:
    """How one kind of exception reaches a client."""

    status: int
    code: str
    field: str | None = None  # the request parameter the error is about, reported under "fields"
    message: str | None = None  # fixed text, when the exception's own text must not reach clients


# The one place that decides the status of each domain error; subclasses inherit their base's entry.
DOMAIN_ERRORS: dict[type[BaseException], Mapping] = {
    areas.UnknownLevel: Mapping(400, "invalid_parameter", field="level"),
    # Unknown area, category or status, a bad period (a ValidationError with the parameter in fields).
    stats.StatsError: Mapping(400, "invalid_parameter"),
    tiles.InvalidTileRequest: Mapping(400, "invalid_parameter"),
    hotspots.InvalidResolution: Mapping(400, "invalid_parameter", field="resolution"),
    hotspots.InvalidInput: Mapping(400, "invalid_parameter"),
    hotspots.StudyAreaTooLarge: Mapping(400, "study_area_too_large", field="resolution"),
    display.InvalidDisplayCrs: Mapping(400, "invalid_parameter"),
    # AuthenticationRequired subclasses PermissionDenied, and the most specific class wins.
    permissions.AuthenticationRequired: Mapping(401, "authentication_required"),
    tokens.InvalidToken: Mapping(401, "invalid_token"),
    tokens.TokenRoleNotAllowed: Mapping(403, "forbidden"),
    accounts.InvalidCredentials: Mapping(401, "invalid_credentials", message="Wrong username or password."),
    accounts.UsernameTaken: Mapping(409, "conflict"),
    permissions.PermissionDenied: Mapping(403, "forbidden"),
    validation.ValidationError: Mapping(400, "invalid_request"),
    issues.IssueNotFound: Mapping(404, "not_found"),
    issues.CommentNotFound: Mapping(404, "not_found"),
    issues.VersionConflict: Mapping(409, "version_conflict"),
    issues.TransitionNotAllowed: Mapping(422, "transition_not_allowed"),
    issues.OutsideEveryArea: Mapping(422, "outside_every_area"),
    issues.IssueClosed: Mapping(422, "issue_closed"),
    idempotency.IdempotencyKeyReused: Mapping(422, "idempotency_key_reused"),
    open311.InvalidApiKey: Mapping(403, "invalid_api_key"),
    # Deliberations: a vote the deliberation's state refuses is a conflict (409, the code says which); a voter
    # from another community is 403 (a PermissionDenied), nobody signed in 401.
    deliberations.DeliberationNotFound: Mapping(404, "not_found"),
    deliberations.ActionNotFound: Mapping(404, "not_found"),
    deliberations.VotingNotOpenYet: Mapping(409, "voting_not_open"),
    deliberations.VotingClosed: Mapping(409, "voting_closed"),
    deliberations.AlreadyVoted: Mapping(409, "already_voted"),
    deliberations.NotOfThisCommunity: Mapping(403, "not_of_this_community"),
    deliberations.AlreadyRecorded: Mapping(409, "already_recorded"),
    groups.GroupNotFound: Mapping(404, "not_found"),
    groups.AlreadyInAGroup: Mapping(409, "already_in_a_group"),
    groups.GroupCannotHandle: Mapping(422, "group_cannot_handle"),
    groups.WorkNotExpected: Mapping(422, "work_not_expected"),
    open311.UnknownService: Mapping(404, "unknown_service"),
    walkabouts.InvalidPolygon: Mapping(400, "invalid_polygon"),
    walkabouts.PolygonTooLarge: Mapping(400, "polygon_too_large"),
    walkabouts.NoOpenIssues: Mapping(422, "no_open_issues"),
    walkabouts.NoStopFits: Mapping(422, "no_stop_fits"),
    walkabouts.WalkaboutNotFound: Mapping(404, "not_found"),
    walkabouts.StopNotFound: Mapping(404, "not_found"),
    tour.TourInputError: Mapping(400, "invalid_request"),
    PoolTimeout: Mapping(503, "database_unavailable", message="The database is not reachable right now; try again shortly."),
    psycopg.OperationalError: Mapping(
        503, "database_unavailable", message="The database is not reachable right now; try again shortly."
    ),
}


# HTTP errors whose JSON code is ours rather than werkzeug's name of the status.
HTTP_CODES: dict[type[HTTPException], tuple[str, str | None]] = {
    CSRFError: ("csrf_failed", None),
    RateLimitExceeded: ("rate_limited", "Too many requests; try again after the time in Retry-After."),
}


def error_response(status: int, code: str, message: str, fields: dict | None = None) -> Response:
    """A JSON error in the shape every client of the API expects."""
    resp = jsonify({"error": {"code": code, "message": message, "fields": fields or {}}})
    resp.status_code = status
    return resp


def init_app(app: Flask) -> None:
    """Register the handlers for HTTP errors, domain errors and anything unexpected."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _any_error)
    app.before_request(_query_is_utf8)


def _query_is_utf8() -> None:
    """400 for a query string that is not UTF-8 (Werkzeug raises UnicodeDecodeError when a view reads it)."""
    try:
        request.args
    except UnicodeDecodeError:
        raise BadRequest("The query string is not UTF-8.") from None


def _wants_json() -> bool:
    path = request.path
    return path == "/api" or path.startswith(JSON_PREFIXES)


def _mapping_for(exc: BaseException) -> Mapping | None:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[cls]
    return None


def _page_error(exc: HTTPException):
    # Redirects (e.g. a missing trailing slash) are HTTPExceptions too, and stay what they are.
    if exc.code is None or exc.code < 400 or exc.response is not None:
        return exc
    from webmap import pages  # the page side (templates, folium) only when a page fails

    return pages.error_page(exc)


def _http_error(exc: HTTPException):
    if not _wants_json():
        return _page_error(exc)
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    message = exc.description or exc.name or ""
    for cls in type(exc).__mro__:
        if cls in HTTP_CODES:
            code, message = HTTP_CODES[cls][0], HTTP_CODES[cls][1] or message
            break
    resp = error_response(exc.code or 500, code, message)
    # Keep headers such as Allow (405) and Retry-After (429, 503) but not werkzeug's HTML content type.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            resp.headers[name] = value
    return resp


def _any_error(exc: Exception):
    mapping = _mapping_for(exc)
    if mapping is None:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
        return _page_error(InternalServerError())
    if mapping.status >= 500:
        log.warning("%s on %s %s: %s", mapping.code, request.method, request.path, exc)
    message = mapping.message or str(exc)
    fields = getattr(exc, "fields", None) or ({mapping.field: message} if mapping.field else {})
    if _wants_json():
        return error_response(mapping.status, mapping.code, message, fields)
    page_error = default_exceptions.get(mapping.status, InternalServerError)
    return _page_error(page_error(description=message))
