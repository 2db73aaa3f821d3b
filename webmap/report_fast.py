"""POST /api/issues for the common case, answered before Flask's request cycle (as tiles.CachedTiles does for GETs).

The common case is an anonymous program or phone app sending a JSON report: no cookie, no Authorization,
no Idempotency-Key, no reporter token, no query string. For it Flask's request and response objects, the
before/after hooks and Flask-Limiter's bookkeeping cost more CPU than the report's own work (measured in
docs/benchmarks-issues.md), which bounds how many reports two cores take per second.

This path gives exactly the answer the Flask view gives: the same rate-limit counter (Flask-Limiter's own
key and storage; a fixed window kept in PostgreSQL, the default, is counted in the report's own statement
with the same arithmetic as FixedWindowRateLimiter.hit, so a report is one round trip), the same
geodata.issues.report, the same JSON, status and headers. Whenever it cannot be sure of that it hands the
untouched request to Flask:
  - any other request, or settings it does not mirror (more than one report limit, rate limits off, debug);
  - a body that is not a JSON object of report fields;
  - a refusal of any kind (over the limit, invalid, outside every community, database unavailable): a hit
    it counted is given back first, so Flask counts the request once, as it would have alone.
tests/test_report_fast.py compares both paths answer by answer.
"""
from __future__ import annotations

import functools
import io
import json
import logging
import time

import psycopg
import psycopg_pool
from flask import Flask
from limits import parse_many
from limits.strategies import FixedWindowRateLimiter
from werkzeug.http import parse_options_header
from werkzeug.middleware.proxy_fix import ProxyFix

from geodata import issues, ratelimit
from geodata.issues import IssueError
from geodata.permissions import Actor, PermissionDenied
from geodata.validation import ValidationError
from webmap import auth, db
from webmap.issues_api import GEOJSON, MAX_BODY, REPORT_FIELDS, has_lone_surrogates, reject_json_constant

log = logging.getLogger(__name__)

PATH = "/api/issues"
# A request with any of these is not the common case: sessions and tokens (actor, CSRF), idempotent
# retries and reporter tokens all need the view.
_DISQUALIFYING = ("HTTP_COOKIE", "HTTP_AUTHORIZATION", "HTTP_IDEMPOTENCY_KEY", "HTTP_X_REPORTER_TOKEN",
                  "HTTP_TRANSFER_ENCODING", "HTTP_EXPECT")
# What the view's after_request hooks add to a 201 report (webmap.assets.compress, webmap.i18n).
_VARY = "Accept-Encoding, Accept-Language, Cookie"
# Refusals: nothing of the report was written (a counted hit is given back); the view says them in its own words.
_NOTHING_WRITTEN = (ValidationError, IssueError, PermissionDenied, ratelimit.LimitReached, psycopg.Error,
                    psycopg_pool.PoolTimeout)


@functools.lru_cache(maxsize=8)
def _limits(text: str) -> list:
    return parse_many(text)


class FastReports:
    """WSGI middleware answering the common anonymous JSON report; everything else goes on to Flask."""

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.app = app
        self.served = self.passed = 0

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == PATH:
            answer = self._answer(environ)
            if answer is not None:
                self.served += 1
                status, headers, body = answer
                start_response(status, headers)
                return [body]
            self.passed += 1
        return self.wsgi_app(environ, start_response)

    def _eligible(self, environ) -> int | None:
        """The body's length when this request is the common case, else None."""
        cfg = self.app.config
        if (not cfg.get("FAST_REPORTS", True) or self.app.debug or environ.get("QUERY_STRING")
                or any(name in environ for name in _DISQUALIFYING) or not auth.limiter.enabled):
            return None
        mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
        if mimetype != "application/json" or options.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or not 0 < int(length) <= int(cfg.get("API_MAX_BODY", MAX_BODY)):
            return None
        return int(length)

    def _answer(self, environ):
        length = self._eligible(environ)
        if length is None:
            return None
        raw = environ["wsgi.input"].read(length)
        # Whatever happens next, Flask can still read the body it was sent.
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        try:
            text = raw.decode("utf-8")
            payload = json.loads(text, parse_constant=reject_json_constant)
        except (ValueError, RecursionError):  # UnicodeDecodeError included
            return None
        # Flask's route gives every odd body its 400.
        if not isinstance(payload, dict) or not set(payload) <= REPORT_FIELDS or has_lone_surrogates(text, payload):
            return None
        items = _limits(self.app.config["RATE_LIMIT_REPORTS"])
        if len(items) != 1:
            return None
        with self.app.app_context():
            return self._report(environ, payload, items[0])

    def _report(self, environ, payload: dict, item):
        key = auth.client_key_for(environ.get("REMOTE_ADDR"), self.app.config["SECRET_KEY"])
        # The counter Flask-Limiter keeps for @auth.limit_reports: prefix, the rate key, the shared scope.
        args = [self.app.config["RATELIMIT_KEY_PREFIX"], f"client:{key}", auth.REPORTS_SCOPE]
        strategy = auth.limiter.limiter
        storage = auth.limiter.storage
        # A fixed window kept in PostgreSQL is counted in the report's own statement (one round trip, not
        # two); any other strategy or storage through Flask-Limiter's own hit() first.
        hit = None
        if type(strategy) is FixedWindowRateLimiter and isinstance(storage, ratelimit.PostgresStorage):
            hit = ratelimit.Hit(key=item.key_for(*args), expiry=item.get_expiry(), allowed=item.amount)
        else:
            try:
                allowed = strategy.hit(item, *args)
            except psycopg.Error:
                return None
            if not allowed:
                self._give_back(item, args)
                return None
        try:
            with db.get_conn() as conn:
                conn.autocommit = True
                try:
                    reported = issues.report(conn, Actor(client_key=key), payload, source="web", counted=hit)
                finally:
                    conn.autocommit = False
        except _NOTHING_WRITTEN as exc:
            log.debug("report handed to the view: %s", exc)
            if hit is None or hit.counted:
                self._give_back(item, args)
            return None
        if hit is not None:
            storage.remember(hit.key, hit.hits, hit.ends)
        body = dict(reported.feature)
        if reported.private_token:
            body["private_token"] = reported.private_token
            body["private_url"] = f"/issues/{reported.issue.id}?token={reported.private_token}"
        data = (self.app.json.dumps(body, separators=(",", ":")) + "\n").encode()
        if hit is not None:
            # What FixedWindowRateLimiter.get_window_stats answers, from the counted hit itself.
            reset_at, remaining = hit.ends, max(0, item.amount - hit.hits)
        else:
            reset_at, remaining = strategy.get_window_stats(item, *args)
        reset_at = int(reset_at + 1)
        headers = [
            ("Content-Type", GEOJSON),
            ("Content-Length", str(len(data))),
            ("Location", f"{environ.get('SCRIPT_NAME', '')}{PATH}/{reported.issue.id}"),
            ("Vary", _VARY),
            ("X-RateLimit-Limit", str(item.amount)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(reset_at)),
            ("Retry-After", str(int(reset_at - time.time()))),
        ]
        return "201 CREATED", headers, data

    def _give_back(self, item, args) -> None:
        """Take back this request's hit, so that the view, counting it again, counts it once."""
        try:
            auth.limiter.storage.incr(item.key_for(*args), item.get_expiry(), amount=-1)
        except psycopg.Error:
            log.warning("could not give back a report rate-limit hit", exc_info=True)


def init_app(app: Flask) -> None:
    """Put FastReports in front of the app, inside ProxyFix when there is one (so REMOTE_ADDR is the client's).

    Called right after auth.init_app, which adds ProxyFix; middleware added later (tiles) goes outside both.
    """
    outer = app.wsgi_app
    if isinstance(outer, ProxyFix):
        outer.app = FastReports(outer.app, app)
    else:
        app.wsgi_app = FastReports(outer, app)
