"""Who is asking: sessions (Flask-Login), API tokens, CSRF, rate limits, and the sign-in pages."""
from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import math
import os
import time
from collections.abc import Callable
from datetime import timedelta

from flask import (Blueprint, Flask, current_app, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_limiter import Limiter
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from limits import RateLimitItemPerMinute
from werkzeug.middleware.proxy_fix import ProxyFix

from geodata import accounts, audit, permissions, tokens
from geodata import ratelimit  # noqa: F401 - registers the webmap-pg:// storage with `limits`
from geodata.permissions import Actor
from geodata.validation import ValidationError
from webmap import db

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

# Paths whose clients may be programs without cookies: no CSRF token is asked of them unless they send one.
PROGRAM_PREFIXES = ("/api/", "/open311/")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SESSION_VERSION = "sv"
_SESSION_ID = "sid"

# Each setting: config key, environment variable default, and how to read it.
SETTINGS: dict[str, tuple[str, Callable]] = {
    "SESSION_COOKIE_SECURE": ("0", lambda v: v.strip().lower() in ("1", "true", "yes", "on")),
    "SESSION_LIFETIME_HOURS": ("12", float),
    "RATE_LIMIT_REPORTS": ("10 per hour", str),
    "RATE_LIMIT_COMMENTS": ("30 per hour", str),
    "RATE_LIMIT_REGISTER": ("5 per hour", str),
    "LOGIN_MAX_FAILURES": ("5", int),
    "LOGIN_CLIENT_MAX_FAILURES": ("20", int),
    "LOGIN_LOCKOUT_MINUTES": ("15", int),
    "RATELIMIT_STORAGE_URI": ("webmap-pg://", str),
    "RATELIMIT_ENABLED": ("1", lambda v: v.strip().lower() not in ("0", "false", "no", "off")),
    "PROXY_FIX_X_FOR": ("0", int),
}

login_manager = LoginManager()
csrf = CSRFProtect()


class SessionUser(UserMixin):
    """The account behind a browser session."""

    def __init__(self, account: accounts.Account):
        self.account = account
        self.id = account.id
        self.username = account.username
        self.role = account.role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@login_manager.user_loader
def _load_user(user_id: str) -> SessionUser | None:
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return None
    with db.get_conn() as conn:
        account = accounts.session_account(conn, session.get(_SESSION_ID))
    # The session row is gone after sign-out; a password change or deactivation also bumps session_version.
    if account is None or account.id != uid or session.get(_SESSION_VERSION) != account.session_version:
        return None
    return SessionUser(account)


# ---------------------------------------------------------------- the actor of a request


def client_key() -> str:
    """A keyed hash of the client's address (an IPv6 client's /64): stable, comparable, never the address."""
    return client_key_for(request.remote_addr, current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=4096)
def client_key_for(addr: str | None, key: str | bytes) -> str:
    """client_key() of an address, with the app's secret key (also for code outside a request).

    Cached: a busy client's every request would otherwise parse its address and compute an HMAC again.
    """
    addr = addr or "-"
    try:
        ip = ipaddress.ip_address(addr)
        if ip.version == 6 and ip.ipv4_mapped is None:
            # One IPv6 subscriber usually holds a whole /64 and could otherwise rotate through it.
            addr = str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address) + "/64"
        elif ip.version == 6:
            addr = str(ip.ipv4_mapped)
    except ValueError:
        pass
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"client-ip:" + addr.encode(), hashlib.sha256).hexdigest()[:32]


def _bearer_token() -> str | None:
    """The token of an Authorization: Bearer header, "" for any other kind of Authorization, None without one."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return ""
    return value.strip()


def _api_key() -> str | None:
    """Open311's api_key (form or query), only on Open311 paths."""
    if not request.path.startswith("/open311/"):
        return None
    return request.form.get("api_key") or request.args.get("api_key") or None


def current_actor() -> Actor:
    """The actor of this request, built once: from an API token, else the signed-in session, else anonymous."""
    actor = g.get("webmap_actor")
    if actor is not None:
        return actor
    key = client_key()
    token = _bearer_token()
    if token is not None:
        with db.get_conn() as conn:
            actor = tokens.actor_for_token(conn, token, client_key=key)
        if actor is None:
            raise tokens.InvalidToken()
    else:
        api_key = _api_key()
        if api_key:
            with db.get_conn() as conn:
                actor = tokens.actor_for_token(conn, api_key, client_key=key)
        if actor is None and current_user.is_authenticated:
            with db.get_conn() as conn:
                actor = accounts.actor_for(conn, current_user.account, client_key=key)
        if actor is None:
            actor = Actor(client_key=key)
    g.webmap_actor = actor
    return actor


def requires(action: str, obj=None):
    """View decorator: permissions.require(current_actor(), action, obj); pages send strangers to sign in."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            actor = current_actor()
            if actor.is_anonymous and not permissions.may(actor, action, obj) and not _is_program_path():
                return redirect(url_for("auth.login", next=_next_target()))
            permissions.require(actor, action, obj)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _is_program_path() -> bool:
    return request.path == "/api" or request.path.startswith(PROGRAM_PREFIXES)


def _next_target() -> str:
    return request.full_path.rstrip("?") if request.method == "GET" else request.path


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or protocol-relative URL (no open redirect)."""
    # A CR or LF cannot go into the Location header, and browsers drop tabs and newlines ("/\t/evil" is "//evil").
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in target)):
        return url_for("pages.index")
    return target


# ---------------------------------------------------------------- CSRF


def _authenticate_and_protect() -> None:
    """Check a presented token at once (401 when bad), then ask for a CSRF token where cookies carry authority."""
    if request.headers.get("Authorization") is not None:
        current_actor()  # raises InvalidToken
        return  # a token is not sent by browsers on their own, so it cannot be forged cross-site
    if request.method not in UNSAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    has_cookie = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
    if _is_program_path() and not has_cookie:
        return  # anonymous programs: nothing a forged request could borrow
    if _api_key() and current_actor().via_token:
        return
    csrf.protect()


# ---------------------------------------------------------------- rate limits


def rate_key() -> str:
    """Whom a rate limit counts: the account when signed in, else the client's keyed address."""
    actor = current_actor()
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"client:{actor.client_key}"


def _trusted() -> bool:
    """Staff and token clients (importers, Open311 partners) are not held to the resident limits."""
    actor = current_actor()
    return actor.is_staff or actor.via_token is not None


def _configured(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


limiter = Limiter(key_func=rate_key, strategy="fixed-window", headers_enabled=True)

# For the issue and comment routes of other modules: @limit_reports / @limit_comments under the route decorator.
# Shared: a report through the API, the web form or Open311 counts against the same allowance.
REPORTS_SCOPE = "issue-reports"
limit_reports = limiter.shared_limit(_configured("RATE_LIMIT_REPORTS"), scope=REPORTS_SCOPE,
                                     exempt_when=_trusted, methods=["POST"])
limit_comments = limiter.shared_limit(_configured("RATE_LIMIT_COMMENTS"), scope="issue-comments",
                                      exempt_when=_trusted, methods=["POST"])
limit_register = limiter.shared_limit(_configured("RATE_LIMIT_REGISTER"), scope="register", key_func=lambda: f"client:{client_key()}",
                                      methods=["POST"])


class LoginThrottle:
    """Failed sign-ins counted per account name and per client in the shared rate-limit storage.

    Each attempt is counted before the password is checked, so parallel guesses cannot slip past the limit;
    a success clears the account's count and gives the client's attempt back.
    """

    def __init__(self, username: str, client: str):
        cfg = current_app.config
        minutes = int(cfg["LOGIN_LOCKOUT_MINUTES"])
        # The name as typed (lower-cased), whether or not such an account exists: the answer must not tell.
        # Hashed, so that whatever was typed makes a short key.
        name_key = hashlib.sha256(username.lower().encode("utf-8", "replace")).hexdigest()[:32]
        self.items = [
            (RateLimitItemPerMinute(int(cfg["LOGIN_MAX_FAILURES"]), minutes), ("login-account", name_key)),
            (RateLimitItemPerMinute(int(cfg["LOGIN_CLIENT_MAX_FAILURES"]), minutes), ("login-client", client)),
        ]

    def attempt(self) -> int | None:
        """Count an attempt; the seconds to wait when the account or client is locked out, else None."""
        if not limiter.enabled:  # RATELIMIT_ENABLED=False: no storage was set up, and nothing is counted
            return None
        strategy = limiter.limiter
        waits = []
        for item, ids in self.items:
            if not strategy.hit(item, *ids):
                waits.append(strategy.get_window_stats(item, *ids).reset_time - time.time())
        if not waits:
            return None
        return max(1, math.ceil(max(waits)))

    def succeeded(self) -> None:
        """Forget the account's failures and refund the client's attempt."""
        if not limiter.enabled:
            return
        storage = limiter.storage
        (account_item, account_ids), (client_item, client_ids) = self.items
        storage.clear(account_item.key_for(*account_ids))
        storage.incr(client_item.key_for(*client_ids), client_item.get_expiry(), amount=-1)


# ---------------------------------------------------------------- sessions


def start_session(account: accounts.Account) -> None:
    """Sign in with a fresh session: nothing of the session before sign-in survives (no fixation)."""
    with db.get_conn() as conn:
        session_id = accounts.open_session(conn, account.id, float(current_app.config["SESSION_LIFETIME_HOURS"]))
    session.clear()
    session.permanent = True
    login_user(SessionUser(account))
    session[_SESSION_ID] = session_id
    session[_SESSION_VERSION] = account.session_version
    g.pop("webmap_actor", None)


def end_session() -> None:
    """Sign out: the session's row is deleted, so even a copy of the cookie no longer signs anyone in."""
    with db.get_conn() as conn:
        accounts.close_session(conn, session.get(_SESSION_ID))
    logout_user()
    session.clear()
    g.pop("webmap_actor", None)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with username and password; failures say nothing about whether the account exists."""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("auth/login.html", next_url=next_url)
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    throttle = LoginThrottle(username, client_key())
    wait = throttle.attempt()
    if wait is not None:
        with db.get_conn() as conn:
            account = accounts.find_user(conn, username)
            if account is not None:
                audit.record(conn, Actor(client_key=client_key()), "auth.locked_out", "user", account.id,
                             {"retry_after": wait})
        resp = current_app.make_response(
            (render_template("auth/login.html", next_url=next_url, username=username, locked_minutes=math.ceil(wait / 60)), 429))
        resp.headers["Retry-After"] = str(wait)
        return resp
    with db.get_conn() as conn:
        try:
            account = accounts.authenticate(conn, username, password)
        except accounts.InvalidCredentials:
            account = None
        if account is not None:
            audit.record(conn, Actor(role=account.role, user_id=account.id, username=account.username),
                         "auth.login", "user", account.id)
    if account is None:
        return render_template("auth/login.html", next_url=next_url, username=username, failed=True), 401
    throttle.succeeded()
    start_session(account)
    log.info("user %s signed in", account.username)
    return redirect(next_url)


@bp.post("/logout")
def logout():
    """Sign out (POST only, with the CSRF token, so no other site can sign a user out)."""
    end_session()
    return redirect(url_for("pages.index"))


@bp.route("/register", methods=["GET", "POST"])
@limit_register
def register():
    """Residents create their own account (staff accounts come from an admin)."""
    with db.get_conn() as conn:
        communities = conn.execute(
            "SELECT id, code, name, name_en FROM areas WHERE level = 'community' ORDER BY name").fetchall()
    if request.method == "GET":
        return render_template("auth/register.html", communities=communities, form={}, problems={})
    form = {k: (request.form.get(k) or "").strip() for k in ("username", "email", "display_name", "community")}
    password = request.form.get("password") or ""
    problems = {}
    if password != (request.form.get("password2") or ""):
        problems["password2"] = "does not match"
    area_ids = []
    if form["community"]:
        valid = {str(row[0]) for row in communities}
        if form["community"] in valid:
            area_ids = [int(form["community"])]
        else:
            problems["community"] = "is not one of the communities"
    if not problems:
        try:
            with db.get_conn() as conn, conn.transaction():
                user_id = accounts.create_user(conn, form["username"], password, "resident", email=form["email"],
                                               display_name=form["display_name"], area_ids=area_ids)
                account = accounts.load_user(conn, user_id)
                audit.record(conn, Actor(role="resident", user_id=user_id, username=account.username),
                             "user.register", "user", user_id, {"areas": area_ids})
        except ValidationError as exc:
            problems.update(exc.fields)
    if problems:
        return render_template("auth/register.html", communities=communities, form=form, problems=problems), 400
    start_session(account)
    flash("registered")
    return redirect(url_for("auth.account"))


@bp.get("/account")
def account():
    """The signed-in user's own details and the password form."""
    actor = current_actor()
    if actor.is_anonymous:
        return redirect(url_for("auth.login", next=request.path))
    with db.get_conn() as conn:
        user = accounts.user_row(conn, actor.user_id)
        areas = conn.execute("SELECT code, name FROM areas WHERE id = ANY(%s) ORDER BY code",
                             (list(user["area_ids"]),)).fetchall()
    return render_template("auth/account.html", user=accounts.redact_user(actor, user), areas=areas, problems={})


@bp.post("/account/password")
def change_password():
    """Change one's own password: every other session of the account ends, this one continues."""
    actor = current_actor()
    if actor.is_anonymous or actor.via_token:
        raise permissions.AuthenticationRequired("account.password")
    current = request.form.get("current_password") or ""
    new = request.form.get("password") or ""
    problems = {}
    if new != (request.form.get("password2") or ""):
        problems["password2"] = "does not match"
    with db.get_conn() as conn, conn.transaction():
        try:
            accounts.authenticate(conn, actor.username, current)
        except accounts.InvalidCredentials:
            problems["current_password"] = "is not right"
        if not problems:
            try:
                accounts.set_password(conn, actor.user_id, new)
            except ValidationError as exc:
                problems.update(exc.fields)
        if not problems:
            audit.record(conn, actor, "user.password_change", "user", actor.user_id)
            fresh = accounts.load_user(conn, actor.user_id)
    if problems:
        with db.get_conn() as conn:
            user = accounts.user_row(conn, actor.user_id)
        return render_template("auth/account.html", user=accounts.redact_user(actor, user), areas=[],
                               problems=problems), 400
    start_session(fresh)
    flash("password_changed")
    return redirect(url_for("auth.account"))


# ---------------------------------------------------------------- wiring


def _settings(app: Flask) -> None:
    for name, (default, parse) in SETTINGS.items():
        value = app.config.get(name)
        # Unset, or still Flask's own default: the environment decides. A value from test_config stays.
        if value is None or (name in app.default_config and value == app.default_config[name]):
            app.config[name] = parse(os.environ.get(name, default))
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=float(app.config["SESSION_LIFETIME_HOURS"]))
    # Checked by our own hook (_authenticate_and_protect), which knows which requests carry a cookie's authority.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    # The token lives as long as the session it belongs to (which expires by PERMANENT_SESSION_LIFETIME).
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("RATELIMIT_STRATEGY", "fixed-window")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "webmap")
    if app.config["RATELIMIT_STORAGE_URI"].rstrip("/") == f"{ratelimit.SCHEME}:":
        # The counters live in the app's own database, through the worker's pool.
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"connect": db.get_conn})


def init_app(app: Flask) -> None:
    """Sessions, tokens, CSRF and rate limits for the app, and the sign-in pages."""
    _settings(app)
    if int(app.config["PROXY_FIX_X_FOR"]) > 0:
        # Behind N trusted reverse proxies the client is the Nth address from the right of X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["PROXY_FIX_X_FOR"]), x_proto=1)
    login_manager.init_app(app)
    # No IP/user-agent fingerprint in the cookie: session_version is what ends sessions.
    login_manager.session_protection = None
    csrf.init_app(app)
    app.before_request(_authenticate_and_protect)
    limiter.init_app(app)
    app.register_blueprint(bp)

    @app.context_processor
    def _who():
        return {"signed_in": current_user if current_user.is_authenticated else None}
