"""The issue API under /api: report, list, read, move through the lifecycle, support, comment, moderate.

Thin: parse the request, find the actor, call geodata.issues, shape the answer. Refusals are geodata's
typed errors, turned into statuses by webmap.errors.DOMAIN_ERRORS.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Iterator
from typing import Any

import psycopg

from flask import Blueprint, current_app, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.wsgi import LimitedStream

from geodata import idempotency, issues, validation
from geodata.permissions import Actor
from geodata.validation import ValidationError
from webmap import auth, db

log = logging.getLogger(__name__)

bp = Blueprint("issues_api", __name__, url_prefix="/api")

GEOJSON = "application/geo+json"
# Bodies of the JSON API and of Open311 are small documents; anything bigger is refused (413) before it is read.
MAX_BODY = 64 * 1024
LIMITED_PATHS = ("/api/", "/open311/")
TOKEN_HEADER = "X-Reporter-Token"


@bp.before_app_request
def _limit_body() -> None:
    # Once for the app, whichever blueprint serves the path (issues, groups, deliberations, walkabouts, Open311).
    if request.path.startswith(LIMITED_PATHS):
        request.max_content_length = current_app.config.get("API_MAX_BODY", MAX_BODY)


# ---------------------------------------------------------------- request helpers


@contextlib.contextmanager
def _single_statements() -> Iterator[psycopg.Connection]:
    """A pooled connection in autocommit, for work that is one statement (no BEGIN/COMMIT round trips)."""
    with db.get_conn() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            # Back to the pool as it came: other views expect their work to be one transaction.
            conn.autocommit = False


def reject_json_constant(name: str):
    """For json.loads(parse_constant=...): NaN and Infinity are not JSON (RFC 8259)."""
    raise ValueError(f"{name} is not a JSON number")


def has_lone_surrogates(text: str, document: Any) -> bool:
    """Whether the parsed document holds half of a UTF-16 pair ("\\ud800"), which no text column can store."""
    if "\\u" not in text:  # only an escape can make one
        return False
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def refuse_cut_body() -> None:
    """413 for a body sent without Content-Length (chunked) that reached the size limit.

    Werkzeug stops reading such a body at max_content_length without a word, so what was read is only
    its beginning; a body with Content-Length is refused before it is read.
    """
    stream = request.stream
    if request.content_length is None and isinstance(stream, LimitedStream) and stream.is_exhausted:
        raise RequestEntityTooLarge()


def json_body(*, required: bool = True) -> Any:
    """The request's JSON document, strictly: JSON media type, UTF-8, no NaN/Infinity literals."""
    if not required and not request.content_length and not request.headers.get("Transfer-Encoding"):
        return {}
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = request.get_data(cache=True)
    refuse_cut_body()
    try:
        # Python's json would otherwise accept NaN and Infinity, which are not JSON (RFC 8259).
        text = raw.decode("utf-8")
        document = json.loads(text, parse_constant=reject_json_constant)
    except UnicodeDecodeError:
        raise ValidationError({"body": "is not UTF-8"}, "The request body is not UTF-8.") from None
    except ValueError as exc:
        raise ValidationError({"body": f"is not valid JSON: {exc}"}, "The request body is not valid JSON.") from None
    except RecursionError:
        raise ValidationError({"body": "is nested too deeply"}, "The request body is not valid JSON.") from None
    if has_lone_surrogates(text, document):
        raise ValidationError({"body": "holds half of a surrogate pair (an escape such as \\ud800 alone)"},
                              "The request body is not valid Unicode.")
    return document


def json_object(*, allowed: set[str], required: bool = True) -> dict:
    body = json_body(required=required)
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"}, "The request body must be a JSON object.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError({name: "is not a field of this request" for name in unknown})
    return body


def area_ids_arg(name: str = "area") -> list[int]:
    """Area ids from ?area=, repeatable or comma-separated; empty when none were given."""
    try:
        return validation.ids_text(",".join(request.args.getlist(name)))
    except ValueError:
        raise ValidationError({name: "must be area ids"}) from None


def _sends_reporter_token() -> bool:
    return bool(request.headers.get(TOKEN_HEADER) or request.args.get("token"))


def with_reporter_token(conn, actor: Actor) -> Actor:
    """The actor, plus the issue whose reporter's private token came with the request (header or ?token=)."""
    token = request.headers.get(TOKEN_HEADER) or request.args.get("token")
    if token:
        own = issues.issues_for_token(conn, token)
        if own:
            actor = dataclasses.replace(actor, reporter_of=actor.reporter_of | own)
    return actor


def _scope(actor: Actor, what: str) -> str:
    """Idempotency keys are per client: two clients choosing the same key never see each other's answers."""
    who = f"user:{actor.user_id}" if actor.user_id is not None else f"client:{actor.client_key or '-'}"
    return f"{what} {who}"


def _response(body: Any, status: int = 200, headers: dict | None = None, mimetype: str | None = None):
    resp = current_app.json.response(body)
    resp.status_code = status
    if mimetype:
        resp.mimetype = mimetype
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _idempotent(conn, actor: Actor, what: str, payload: Any, work):
    """Run work() -> (status, body, headers) once per Idempotency-Key; a retry gets the stored answer."""
    key = request.headers.get(idempotency.HEADER)
    if key is None:
        return work()
    scope = _scope(actor, what)
    stored = idempotency.claim(conn, scope, key, idempotency.fingerprint(payload))
    if stored is not None:
        return stored.status, stored.body, {**stored.headers, "Idempotent-Replayed": "true"}
    status, body, headers = work()
    idempotency.complete(conn, scope, key, status, body, headers)
    return status, body, headers


# ---------------------------------------------------------------- routes

REPORT_FIELDS = {"lat", "lon", "category", "description", "title", "contact", "crs"}


@bp.post("/issues")
@auth.limit_reports
def create_issue():
    """Report an issue. An anonymous reporter gets `private_token` (top level of the Feature) once, here."""
    payload = json_object(allowed=REPORT_FIELDS)
    # The account first: resolving a session may take a pooled connection of its own.
    actor = auth.current_actor()

    def work(conn):
        source = "api" if actor.via_token else "web"
        reported = issues.report(conn, actor, payload, source=source)
        body = dict(reported.feature)
        if reported.private_token:
            body["private_token"] = reported.private_token
            # The page a reporter keeps to follow, close or reopen their report without an account.
            body["private_url"] = f"/issues/{reported.issue.id}?token={reported.private_token}"
        location = url_for("issues_api.get_issue", issue_id=reported.issue.id)
        return 201, body, {"Location": location}

    if request.headers.get(idempotency.HEADER) is None and not _sends_reporter_token():
        # The common case is one INSERT statement: no transaction around it to open and commit.
        with _single_statements() as conn:
            status, body, headers = work(conn)
    else:
        with db.get_conn() as conn, conn.transaction():
            actor = with_reporter_token(conn, actor)
            status, body, headers = _idempotent(conn, actor, "POST /api/issues", payload, lambda: work(conn))
    return _response(body, status, headers, GEOJSON)


@bp.get("/issues")
def list_issues():
    """Issues as a GeoJSON FeatureCollection, newest first, keyset-paginated (links.next)."""
    filters = issues.IssueFilter.from_query(request.args)
    with _single_statements() as conn:
        features, next_cursor = issues.list_features_text(conn, filters)
    headers = {}
    links = []
    if next_cursor:
        args = {k: v for k, v in request.args.items() if k in issues.IssueFilter.QUERY_KEYS}
        args["cursor"] = next_cursor
        href = url_for("issues_api.list_issues", **args)
        links.append({"rel": "next", "href": href, "type": GEOJSON})
        headers["Link"] = f'<{href}>; rel="next"'
    # The features stay the JSON text PostgreSQL wrote; only the envelope is written here.
    body = (f'{{"type":"FeatureCollection","features":{features},"next_cursor":{json.dumps(next_cursor)},'
            f'"links":{json.dumps(links, ensure_ascii=False)}}}\n')
    return current_app.response_class(body, status=200, headers=headers, mimetype=GEOJSON)


@bp.get("/issues/nearby")
def nearby_issues():
    """Open issues of a category near a point, nearest first: shown before a resident submits."""
    errors = {}
    values: dict[str, float] = {}
    for name, low, high in (("lat", -90, 90), ("lon", -180, 180)):
        text = request.args.get(name)
        if not text:
            errors[name] = "is required"
            continue
        try:
            values[name] = validation.number_text(text, minimum=low, maximum=high)
        except ValueError as exc:
            errors[name] = str(exc)
    if not request.args.get("category"):
        errors["category"] = "is required"
    if errors:
        raise ValidationError(errors)
    with db.get_conn() as conn:
        found = issues.nearby(conn, values["lon"], values["lat"], request.args["category"],
                              crs=request.args.get("crs", "wgs84"))
    return _response(found, 200, None, GEOJSON)


@bp.get("/issues/<int:issue_id>")
def get_issue(issue_id: int):
    """One issue with its history and comments; the contact only for staff of its community."""
    actor = auth.current_actor()
    with db.get_conn() as conn:
        actor = with_reporter_token(conn, actor)
        feature = issues.get(conn, issue_id, actor)
    return _response(feature, 200, None, GEOJSON)


TRANSITION_FIELDS = {"to", "note", "version", "duplicate_of", "satisfaction", "party_id"}


@bp.post("/issues/<int:issue_id>/transitions")
def transition_issue(issue_id: int):
    """Move an issue along one edge of the lifecycle: {to, version, note?, duplicate_of?, satisfaction?, party_id?}."""
    body = json_object(allowed=TRANSITION_FIELDS)
    if "to" not in body or "version" not in body:
        raise ValidationError({name: "is required" for name in ("to", "version") if name not in body})
    actor = auth.current_actor()
    with db.get_conn() as conn, conn.transaction():
        actor = with_reporter_token(conn, actor)
        issues.transition(conn, actor, issue_id, body["to"], body["version"], body.get("note"),
                          duplicate_of=body.get("duplicate_of"), satisfaction=body.get("satisfaction"),
                          party_id=body.get("party_id"))
        feature = issues.get(conn, issue_id, actor)
    return _response(feature, 200, None, GEOJSON)


ASSIGNMENT_FIELDS = {"party_id", "version", "note"}


@bp.post("/issues/<int:issue_id>/assignment")
def assign_issue(issue_id: int):
    """Give an issue to a party {party_id, version, note?}: a confirmed one becomes assigned, an assigned one
    (not yet started) changes hands without changing status."""
    body = json_object(allowed=ASSIGNMENT_FIELDS)
    if "party_id" not in body or "version" not in body:
        raise ValidationError({name: "is required" for name in ("party_id", "version") if name not in body})
    actor = auth.current_actor()
    with db.get_conn() as conn, conn.transaction():
        actor = with_reporter_token(conn, actor)
        issues.assign(conn, actor, issue_id, body["party_id"], body["version"], body.get("note"))
        feature = issues.get(conn, issue_id, actor)
    return _response(feature, 200, None, GEOJSON)


@bp.post("/issues/<int:issue_id>/supports")
def support_issue(issue_id: int):
    """"Me too". 201 the first time for this account or client, 200 (nothing changed) after that."""
    actor = auth.current_actor()
    with db.get_conn() as conn, conn.transaction():
        actor = with_reporter_token(conn, actor)
        result = issues.support(conn, actor, issue_id)
    return _response(dataclasses.asdict(result), 201 if result.created else 200)


@bp.post("/issues/<int:issue_id>/comments")
@auth.limit_comments
def comment_issue(issue_id: int):
    """Add a comment {body}."""
    payload = json_object(allowed={"body"})
    actor = auth.current_actor()
    with db.get_conn() as conn, conn.transaction():
        actor = with_reporter_token(conn, actor)

        def work():
            return 201, issues.comment(conn, actor, issue_id, payload.get("body")), {}

        status, body, headers = _idempotent(conn, actor, f"POST /api/issues/{issue_id}/comments", payload, work)
    return _response(body, status, headers)


@bp.post("/comments/<int:comment_id>/hide")
def hide_comment(comment_id: int):
    """Hide a comment {reason?} (staff of the issue's community); it keeps its place in the history."""
    payload = json_object(allowed={"reason"}, required=False)
    actor = auth.current_actor()
    with db.get_conn() as conn, conn.transaction():
        actor = with_reporter_token(conn, actor)
        result = issues.hide_comment(conn, actor, comment_id, payload.get("reason"))
    return _response(result)
