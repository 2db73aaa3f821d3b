"""Open311 GeoReport v2 under /open311/v2/: discovery, services, service definitions, requests (GET and POST).

Every resource answers as .json or .xml, UTF-8, and so do its errors: the spec's list of
{code, description}, with 403 for a missing or bad api_key, 404 for what does not exist and 400 for the
rest. Statuses come from webmap.errors.DOMAIN_ERRORS (the one table) and are then folded into the spec's
three; transport statuses (405, 413, 429, 5xx) are kept, since clients and proxies act on them.
"""
from __future__ import annotations

import json
import logging
import os
import re
import xml.etree.ElementTree as ET
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from geodata import open311, tokens
from geodata.validation import ValidationError
from webmap import auth, db, errors
from webmap.issues_api import refuse_cut_body

log = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

FMT = "<any(json, xml):fmt>"
# Form bodies of a report are small; anything bigger is refused before it is read.
DEFAULT_CONTACT = "Questions about this service go to the street office that runs it."
DEFAULT_KEY_SERVICE = ("API keys are issued by an administrator of this service as API tokens of a user "
                       "account; reports posted with a key are recorded under that account.")

# In XML a list is a container element of repeated items (the spec's "Spark" mapping, read backwards).
_ITEMS = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value",
          "services": "service", "service_requests": "request", "errors": "error"}
# Characters XML 1.0 cannot carry at all, escaped or not.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Resources and their methods, for a 405 (with Allow) instead of a 404 on a known path.
_RESOURCES = (
    (re.compile(r"discovery\.(json|xml)"), ("GET",)),
    (re.compile(r"services\.(json|xml)"), ("GET",)),
    (re.compile(r"services/[^/]+\.(json|xml)"), ("GET",)),
    (re.compile(r"requests\.(json|xml)"), ("GET", "POST")),
    (re.compile(r"requests/[^/]+\.(json|xml)"), ("GET",)),
    (re.compile(r"tokens/[^/]+\.(json|xml)"), ("GET",)),
)


# ---------------------------------------------------------------- rendering


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _element(name: str, value: Any) -> ET.Element:
    element = ET.Element(name)
    if isinstance(value, dict):
        for key, child in value.items():
            element.append(_element(key, child))
    elif isinstance(value, list):
        item = _ITEMS[name]
        for child in value:
            element.append(_element(item, child))
    else:
        element.text = _text(value)
    return element


def xml_document(root: str, value: Any) -> bytes:
    """The value as a schemaless XML document under root, with the declaration the spec asks for."""
    body = ET.tostring(_element(root, value), encoding="unicode", short_empty_elements=False)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def render(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """JSON (the value as is) or XML (under root), UTF-8, with the content types the spec names."""
    if fmt == "json":
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    else:
        body = xml_document(root, value)
    resp = Response(body, status=status, content_type=f"{open311.FORMATS[fmt]}; charset=utf-8")
    return resp


def _format() -> str:
    """The format of the answer: the resource's extension; XML (the spec's required format) otherwise."""
    fmt = (request.view_args or {}).get("fmt")
    if fmt in open311.FORMATS:
        return fmt
    return "json" if request.path.endswith(".json") else "xml"


def _lang() -> str:
    return open311.language(request.accept_languages.best_match(open311.LANGUAGES))


def _setting(name: str, default: str) -> str:
    return current_app.config.get(name) or os.environ.get(name) or default


# ---------------------------------------------------------------- errors


def error_response(status: int, messages: list[str], headers: dict | None = None) -> Response:
    body = [{"code": status, "description": m} for m in messages]
    resp = render(_format(), "errors", body, status)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _open311_status(status: int) -> int:
    """The spec's statuses: 403 for the api_key, 404 for what does not exist, 400 for other refusals."""
    if status in (401, 403):
        return 403
    if status in (404, 405, 413, 429) or status >= 500:
        return status
    return 400


def _domain_status(exc: BaseException) -> errors.Mapping | None:
    for cls in type(exc).__mro__:
        if cls in errors.DOMAIN_ERRORS:
            return errors.DOMAIN_ERRORS[cls]
    return None


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
    return error_response(_open311_status(exc.code or 500), [exc.description or exc.name], headers)


@bp.errorhandler(Exception)
def _any_error(exc: Exception):
    mapping = _domain_status(exc)
    if mapping is None:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, ["Something went wrong on our side; it has been logged."])
    status = _open311_status(mapping.status)
    if isinstance(exc, ValidationError) and exc.fields:
        # One error per field: the spec's answer is a list for exactly this.
        return error_response(status, [f"{name}: {message}" for name, message in exc.fields.items()])
    if mapping.status >= 500:
        log.warning("%s on %s %s: %s", mapping.code, request.method, request.path, exc)
    return error_response(status, [mapping.message or str(exc)])


# ---------------------------------------------------------------- the API key


def actor_for_api_key(conn, key: str | None):
    """The account an api_key (an API token, geodata.tokens) acts for; InvalidApiKey (403) otherwise.

    Resolved here from the api_key itself, not from whatever else the request carries (a session cookie,
    a Bearer header): the spec makes api_key the credential of a POST.
    """
    if not key:
        raise open311.InvalidApiKey("api_key is required to POST a service request.")
    actor = tokens.actor_for_token(conn, key, client_key=auth.client_key())
    if actor is None:
        raise open311.InvalidApiKey("Invalid api_key received: it is unknown, revoked or expired.")
    return actor


# ---------------------------------------------------------------- resources




@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str):
    endpoint = url_for("open311.discovery", fmt=fmt, _external=True).rsplit("/", 1)[0]
    with db.get_conn() as conn:
        doc = open311.discovery(
            conn, endpoint,
            contact=_setting("OPEN311_CONTACT", DEFAULT_CONTACT),
            key_service=_setting("OPEN311_KEY_SERVICE", DEFAULT_KEY_SERVICE),
        )
    return render(fmt, "discovery", doc)


@bp.get(f"/services.{FMT}")
def services(fmt: str):
    with db.get_conn() as conn:
        return render(fmt, "services", open311.services(conn, _lang()))


@bp.get(f"/services/<service_code>.{FMT}")
def service_definition(service_code: str, fmt: str):
    with db.get_conn() as conn:
        return render(fmt, "service_definition", open311.service_definition(conn, service_code))


@bp.get(f"/requests.{FMT}")
def list_requests(fmt: str):
    # The spec's lists are comma-separated ("can be declared multiple times, comma delimited"); some clients
    # repeat the parameter instead, so repeated values are joined into one list rather than dropped.
    query = open311.RequestQuery.from_args({name: ",".join(request.args.getlist(name)) for name in request.args})
    with db.get_conn() as conn:
        found = open311.requests(conn, query, _lang())
    return render(fmt, "service_requests", found)


# Not under webmap.auth.limit_reports: every POST that is accepted carries an API token, and token clients
# are exempt from the residents' allowance anyway; a keyless POST must get the spec's 403, not a 429.
@bp.post(f"/requests.{FMT}")
def create_request(fmt: str):
    form = request.form
    refuse_cut_body()
    with db.get_conn() as conn, conn.transaction():
        actor = actor_for_api_key(conn, form.get("api_key") or request.args.get("api_key"))
        created = open311.create_request(conn, actor, form, _lang())
    log.info("open311: request %s posted by %s", created["service_request_id"], actor.label)
    return render(fmt, "service_requests", [created])


@bp.get(f"/requests/<service_request_id>.{FMT}")
def get_request(service_request_id: str, fmt: str):
    with db.get_conn() as conn:
        return render(fmt, "service_requests", [open311.request(conn, service_request_id, _lang())])


@bp.get(f"/tokens/<token>.{FMT}")
def token(token: str, fmt: str):
    # Every service is "realtime": POST answers with the service_request_id, so no token is ever issued.
    raise NotFound(f"There is no token {token!r}: this service answers POSTs with the service_request_id.")


@bp.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    """Anything else under /open311/v2/ still answers in the spec's error shape."""
    for pattern, methods in _RESOURCES:
        if pattern.fullmatch(rest):
            raise MethodNotAllowed(valid_methods=list(methods))
    if rest == "":
        raise NotFound("This is the Open311 GeoReport v2 endpoint; start at discovery.xml or services.xml.")
    raise NotFound(f"There is no Open311 resource {rest!r}; resources end in .xml or .json.")
