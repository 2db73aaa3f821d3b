"""Rate limits and sign-in lockout: per account, per client, in PostgreSQL, holding across worker processes."""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from flask import jsonify

import helpers
from geodata import ratelimit
from limits.storage import storage_from_string
from tests.processes import die_with_parent
from webmap import create_app
from webmap import db as webdb
from webmap.auth import limit_comments, limit_reports

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_limits(conn):
    conn.execute("DELETE FROM rate_limits")
    yield
    conn.execute("DELETE FROM rate_limits")


def _app(database_url, **config):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test", **config})

    # Routes under the limits other modules apply to reports and comments.
    @app.post("/api/_test/report")
    @limit_reports
    def _report():
        return jsonify(ok=True), 201

    @app.post("/api/_test/comment")
    @limit_comments
    def _comment():
        return jsonify(ok=True), 201

    return app


@pytest.fixture
def make_app(database_url):
    apps = []

    def make(**config):
        apps.append(_app(database_url, **config))
        return apps[-1]

    yield make
    for app in apps:
        webdb.close_pool(app)


@pytest.fixture
def account(conn):
    name = f"lock-{secrets.token_hex(4)}"
    helpers.make_user(conn, "resident", username=name)
    return name


def _login(client, username, password, ip="127.0.0.1"):
    env = {"REMOTE_ADDR": ip}
    page = client.get("/login", environ_base=env).get_data(as_text=True)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf},
                       environ_base=env)


# ---------------------------------------------------------------- the storage


def test_postgres_storage_counts_expires_and_clears(database_url):
    url = psycopg.conninfo.conninfo_to_dict(database_url)
    by_url = storage_from_string(f"{ratelimit.SCHEME}://{url['user']}:{url['password']}@{url['host']}:{url['port']}/"
                                 f"{url['dbname']}")
    assert by_url.check()
    storage = storage_from_string(f"{ratelimit.SCHEME}://", dsn=database_url)
    assert isinstance(storage, ratelimit.PostgresStorage) and storage.check()
    key = f"unit-{secrets.token_hex(4)}"
    assert storage.get(key) == 0
    assert [storage.incr(key, 1) for _ in range(3)] == [1, 2, 3]
    assert time.time() < storage.get_expiry(key) <= time.time() + 1.1
    time.sleep(1.1)
    assert storage.get(key) == 0
    assert storage.incr(key, 60) == 1  # a new window starts
    storage.clear(key)
    assert storage.get(key) == 0


def test_postgres_storage_is_atomic_under_concurrency(database_url):
    storage = storage_from_string(f"{ratelimit.SCHEME}://", dsn=database_url)
    key = f"race-{secrets.token_hex(4)}"
    seen: list[int] = []

    def hammer():
        for _ in range(10):
            seen.append(storage.incr(key, 60))

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Every hit got its own count: no two saw the same number, none was lost.
    assert sorted(seen) == list(range(1, 61))


def test_limits_are_configurable_from_the_environment(database_url, monkeypatch):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "7")
    monkeypatch.setenv("RATE_LIMIT_REPORTS", "2 per minute")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    assert app.config["LOGIN_MAX_FAILURES"] == 7 and app.config["RATE_LIMIT_REPORTS"] == "2 per minute"
    assert app.config["RATELIMIT_STORAGE_URI"] == "webmap-pg://"


# ---------------------------------------------------------------- sign-in lockout


def test_account_is_locked_after_repeated_failures_even_with_the_right_password(make_app, account, conn):
    app = make_app(LOGIN_MAX_FAILURES=3, LOGIN_CLIENT_MAX_FAILURES=100, LOGIN_LOCKOUT_MINUTES=15)
    client = app.test_client()
    for _ in range(3):
        assert _login(client, account, "wrong-password").status_code == 401
    locked = _login(client, account, helpers.DEFAULT_PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert "登录失败次数过多" in locked.get_data(as_text=True)  # the page speaks Chinese unless asked otherwise
    assert client.get("/api/me").get_json()["role"] == "anonymous"
    # Per account: another account on the same client still signs in.
    other = f"other-{secrets.token_hex(3)}"
    helpers.make_user(conn, "resident", username=other)
    assert _login(app.test_client(), other, helpers.DEFAULT_PASSWORD).status_code == 302
    # And the lock does not depend on the client either: another address is locked out of this account too.
    assert _login(app.test_client(), account, helpers.DEFAULT_PASSWORD, ip="10.9.8.7").status_code == 429
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'auth.locked_out'").fetchone()[0] >= 1


def test_lockout_says_nothing_about_whether_the_account_exists(make_app, account):
    app = make_app(LOGIN_MAX_FAILURES=2, LOGIN_CLIENT_MAX_FAILURES=100)
    nobody = f"nobody-{secrets.token_hex(4)}"
    answers = {}
    for name in (account, nobody):
        client = app.test_client()
        codes = [_login(client, name, "wrong-password").status_code for _ in range(3)]
        last = _login(client, name, "wrong-password")
        answers[name] = (codes, last.status_code, sorted(last.headers.keys()),
                         re.sub(r'name="csrf_token" value="[^"]*"', "", last.get_data(as_text=True))
                         .split("<main")[1].replace(name, "NAME"))
    assert answers[account] == answers[nobody]
    assert answers[account][0] == [401, 401, 429]


def test_a_success_clears_the_accounts_failures(make_app, account):
    app = make_app(LOGIN_MAX_FAILURES=3, LOGIN_CLIENT_MAX_FAILURES=100)
    client = app.test_client()
    for _ in range(2):
        assert _login(client, account, "wrong-password").status_code == 401
    assert _login(client, account, helpers.DEFAULT_PASSWORD).status_code == 302
    fresh = app.test_client()
    assert [_login(fresh, account, "wrong-password").status_code for _ in range(4)] == [401, 401, 401, 429]


def test_one_client_guessing_many_accounts_is_locked_out(make_app, account):
    app = make_app(LOGIN_MAX_FAILURES=100, LOGIN_CLIENT_MAX_FAILURES=4)
    client = app.test_client()
    for i in range(4):
        assert _login(client, f"guess-{i}-{secrets.token_hex(2)}", "wrong-password").status_code == 401
    blocked = _login(client, account, helpers.DEFAULT_PASSWORD)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    # Someone else, from another address, is not affected.
    assert _login(app.test_client(), account, helpers.DEFAULT_PASSWORD, ip="10.1.2.3").status_code == 302


def test_successful_sign_ins_do_not_use_up_the_clients_allowance(make_app, conn):
    app = make_app(LOGIN_MAX_FAILURES=100, LOGIN_CLIENT_MAX_FAILURES=2)
    names = [f"nat-{i}-{secrets.token_hex(3)}" for i in range(4)]
    for name in names:
        helpers.make_user(conn, "resident", username=name)
    # Four neighbours behind one address sign in one after another.
    assert [_login(app.test_client(), n, helpers.DEFAULT_PASSWORD).status_code for n in names] == [302] * 4


# ---------------------------------------------------------------- report and comment limits


def test_report_limit_answers_429_json_with_retry_after(make_app):
    app = make_app(RATE_LIMIT_REPORTS="2 per minute", RATE_LIMIT_COMMENTS="1 per minute")
    client = app.test_client()
    assert [client.post("/api/_test/report").status_code for _ in range(2)] == [201, 201]
    refused = client.post("/api/_test/report")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Comments have their own allowance; another client has its own too.
    assert client.post("/api/_test/comment").status_code == 201
    assert client.post("/api/_test/comment").status_code == 429
    assert client.post("/api/_test/report", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 201


def test_signed_in_residents_are_limited_per_account_and_token_clients_are_not(make_app, conn):
    app = make_app(RATE_LIMIT_REPORTS="1 per minute")
    resident = helpers.make_user(conn, "resident")
    headers = helpers.token_headers(conn, resident)
    client = app.test_client()
    # A token client (an importer, an Open311 partner) is trusted with volume...
    assert [client.post("/api/_test/report", headers=headers).status_code for _ in range(3)] == [201] * 3
    # ... a resident in a browser is counted per account, wherever they are.
    name = conn.execute("SELECT username FROM users WHERE id = %s", (resident,)).fetchone()[0]
    csrf = helpers.login(client, name)
    assert client.post("/api/_test/report", headers={"X-CSRFToken": csrf}).status_code == 201
    assert client.post("/api/_test/report", headers={"X-CSRFToken": csrf},
                       environ_base={"REMOTE_ADDR": "10.3.3.3"}).status_code == 429


def test_ipv6_clients_are_counted_per_64(make_app):
    app = make_app(RATE_LIMIT_REPORTS="1 per minute")
    client = app.test_client()
    assert client.post("/api/_test/report", environ_base={"REMOTE_ADDR": "2001:db8:1:2::1"}).status_code == 201
    assert client.post("/api/_test/report", environ_base={"REMOTE_ADDR": "2001:db8:1:2::ffff"}).status_code == 429
    assert client.post("/api/_test/report", environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 201


# ---------------------------------------------------------------- across worker processes


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _burst(n, fn):
    """Run fn n times at once; the answers in completion order."""
    barrier = threading.Barrier(n)
    out: list = []

    def run():
        barrier.wait()
        out.append(fn())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.fixture(scope="module")
def gunicorn(database_url, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RATE_LIMIT", "LOGIN_"))}
    env.update(DATABASE_URL=database_url, WEBMAP_VAR_DIR=str(tmp_path / "var"), SECRET_KEY="gunicorn-test",
               RATE_LIMIT_REPORTS="4 per minute", LOGIN_MAX_FAILURES="3", LOGIN_CLIENT_MAX_FAILURES="100",
               PYTHONPATH=str(PROJECT_ROOT), PYTHONUNBUFFERED="1")
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--no-control-socket",
             "--bind", f"127.0.0.1:{port}", "--chdir", str(PROJECT_ROOT / "tests"), "auth_limit_app:app"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"gunicorn exited:\n{log_path.read_text(errors='replace')}"
            try:
                if _request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"gunicorn not up:\n{log_path.read_text(errors='replace')}"
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_report_limit_holds_across_two_gunicorn_workers(gunicorn):
    answers = _burst(12, lambda: _request(gunicorn, "POST", "/api/_test/report"))
    statuses = sorted(a[0] for a in answers)
    pids = {a[1]["X-Worker-Pid"] for a in answers}
    assert len(pids) == 2, f"the burst was served by {len(pids)} worker(s); the test needs both"
    # Four allowed in all, not four per worker.
    assert statuses == [201] * 4 + [429] * 8
    for status, headers, body in answers:
        if status == 429:
            assert json.loads(body)["error"]["code"] == "rate_limited"
            assert int(headers["Retry-After"]) > 0


def test_login_lockout_holds_across_two_gunicorn_workers(gunicorn, conn):
    name = f"gu-{secrets.token_hex(4)}"
    helpers.make_user(conn, "resident", username=name)
    status, headers, body = _request(gunicorn, "GET", "/login")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    csrf = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body).group(1).decode()

    def attempt(password):
        form = f"username={name}&password={password}&csrf_token={csrf}"
        return _request(gunicorn, "POST", "/login", body=form,
                        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})

    answers = _burst(8, lambda: attempt("wrong-password"))
    assert len({a[1]["X-Worker-Pid"] for a in answers}) == 2
    assert sorted(a[0] for a in answers) == [401] * 3 + [429] * 5
    status, headers, _ = attempt(helpers.DEFAULT_PASSWORD)
    assert status == 429 and int(headers["Retry-After"]) > 0
