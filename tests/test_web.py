"""The web app against a real PostGIS: probes, the areas API, error shapes, the map page, and gunicorn."""
from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

from tests.processes import die_with_parent
from webmap import create_app
from webmap import db as webdb

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQUARE = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"


def _free_port() -> int:
    """A port nothing listens on right now (bound and released again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_app(url: str, **config):
    return create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test", **config})


@pytest.fixture
def app(database_url):
    app = _make_app(database_url)
    yield app
    webdb.close_pool(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def community(empty_areas):
    """One community and one street; the community's name is one that must be escaped when shown."""
    conn = empty_areas
    conn.execute(
        "INSERT INTO areas (code, name, name_en, level, geom, source) "
        "VALUES (%s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'test')",
        ("T-COMM-1", "测试社区<b>", "Test Community", "community", SQUARE),
    )
    conn.execute(
        "INSERT INTO areas (code, name, name_en, level, geom, source) "
        "VALUES (%s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'test')",
        ("T-STREET-1", "测试街道", "Test Street", "street", SQUARE),
    )
    return conn


@pytest.fixture
def unmigrated_url(database_url):
    """A second, empty database on the same server: reachable, but no migration applied."""
    admin = conninfo.make_conninfo(database_url, dbname="postgres")
    name = f"webmap_test_bare_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    yield conninfo.make_conninfo(database_url, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _assert_error_shape(resp, status: int, code: str) -> dict:
    assert resp.status_code == status
    assert resp.mimetype == "application/json"
    err = resp.get_json()["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["fields"], dict)
    return err


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_healthz_needs_no_database():
    app = _make_app(f"postgresql://nobody:x@127.0.0.1:{_free_port()}/nothing")
    assert app.test_client().get("/healthz").status_code == 200


def test_readyz_on_migrated_database(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ready"}


def test_readyz_with_pending_migrations(unmigrated_url):
    app = _make_app(unmigrated_url)
    try:
        started = time.monotonic()
        resp = app.test_client().get("/readyz")
        assert time.monotonic() - started < 10
        err = _assert_error_shape(resp, 503, "not_ready")
        assert "0001_areas" in err["message"]
    finally:
        webdb.close_pool(app)


def test_readyz_when_database_unreachable():
    app = _make_app(f"postgresql://nobody:secret@127.0.0.1:{_free_port()}/nothing")
    try:
        started = time.monotonic()
        resp = app.test_client().get("/readyz")
        assert time.monotonic() - started < 10
        err = _assert_error_shape(resp, 503, "not_ready")
        assert "unreachable" in err["message"]
        assert "secret" not in resp.get_data(as_text=True)
    finally:
        webdb.close_pool(app)


def test_api_when_database_unreachable():
    app = _make_app(f"postgresql://nobody:secret@127.0.0.1:{_free_port()}/nothing", DB_TIMEOUT=2)
    try:
        resp = app.test_client().get("/api/areas")
        _assert_error_shape(resp, 503, "database_unavailable")
        assert "secret" not in resp.get_data(as_text=True)
    finally:
        webdb.close_pool(app)


def test_areas_feature_collection(client, community):
    resp = client.get("/api/areas")
    assert resp.status_code == 200
    assert resp.mimetype == "application/geo+json"
    fc = resp.get_json(force=True)
    assert fc["type"] == "FeatureCollection"
    by_code = {f["properties"]["code"]: f for f in fc["features"]}
    assert set(by_code) == {"T-COMM-1", "T-STREET-1"}
    feature = by_code["T-COMM-1"]
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["properties"]["name"] == "测试社区<b>"
    assert feature["properties"]["source"] == "test"
    # UTF-8 as is, not \u escapes.
    assert "测试社区".encode() in resp.get_data()


def test_every_answer_forbids_content_sniffing(client, community):
    # The JSON of areas carries "<b>" as written; no browser may take it for HTML, nor any other answer.
    for path in ("/api/areas", "/", "/no-such-page", "/api/no-such-thing", "/tiles/issues/15/26975/12413.pbf",
                 "/healthz"):
        resp = client.get(path)
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
        assert resp.headers.get_all("X-Content-Type-Options") == ["nosniff"], path


def test_areas_level_filter(client, community):
    fc = client.get("/api/areas?level=community").get_json(force=True)
    assert [f["properties"]["code"] for f in fc["features"]] == ["T-COMM-1"]
    assert {f["properties"]["level"] for f in fc["features"]} == {"community"}


def test_areas_empty(client, empty_areas):
    fc = client.get("/api/areas?level=community").get_json(force=True)
    assert fc == {"type": "FeatureCollection", "features": []}


def test_areas_bad_level(client):
    err = _assert_error_shape(client.get("/api/areas?level=bogus"), 400, "invalid_parameter")
    assert "level" in err["fields"]
    assert "bogus" in err["fields"]["level"]


def test_unknown_api_path_is_json_404(client):
    _assert_error_shape(client.get("/api/no-such-thing"), 404, "not_found")


def test_wrong_method_is_json_405(client):
    resp = client.post("/api/areas")
    _assert_error_shape(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


def test_unhandled_error_is_generic_500(app):
    @app.get("/api/boom")
    def boom():
        raise RuntimeError("internal detail that must stay on the server")

    resp = app.test_client().get("/api/boom")
    _assert_error_shape(resp, 500, "internal_error")
    body = resp.get_data(as_text=True)
    assert "internal detail" not in body
    assert "Traceback" not in body


def test_home_page(client, community):
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "<title>" in page
    assert 'class="folium-map"' in page
    assert 'name="viewport"' in page
    # Chinese by default, English when the browser asks for it (tests/test_i18n.py covers the rest).
    assert "社区微治理" in page
    assert "Community issue map" in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "/api/areas?level=community" in page
    assert "escapeHtml" in page
    # The outlines come from the API: no area data in the page.
    assert "测试社区" not in page
    assert "Test Community" not in page
    assert "T-COMM-1" not in page


def test_home_page_renders_without_areas(client, empty_areas):
    assert client.get("/").status_code == 200


def test_home_page_uses_configured_basemap(database_url):
    app = create_app({
        "TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
        "BASEMAP_URL": "https://tiles.example.org/{z}/{x}/{y}.png", "BASEMAP_ATTRIBUTION": "Example tiles",
    })
    page = app.test_client().get("/").get_data(as_text=True)
    assert "https://tiles.example.org/{z}/{x}/{y}.png" in page
    assert "Example tiles" in page
    assert "tile.openstreetmap.org" not in page


def test_secret_key_is_generated_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("WEBMAP_VAR_DIR", str(tmp_path / "var"))
    first = create_app({"TESTING": True})
    second = create_app({"TESTING": True})
    key_file = tmp_path / "var" / "secret_key"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def _get(url: str, timeout: float = 10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


def test_served_by_gunicorn(database_url, community, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(DATABASE_URL=database_url, WEBMAP_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                # No control socket: the default one in ~/.gunicorn would collide with a developer's running server.
                "--no-control-socket", "webmap:create_app()",
            ],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"gunicorn exited early:\n{log_path.read_text(errors='replace')}"
            try:
                status, _, body = _get(f"{base}/healthz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"gunicorn not up in 30 s:\n{log_path.read_text(errors='replace')}"
            time.sleep(0.2)
        assert json.loads(body) == {"status": "ok"}

        status, _, body = _get(f"{base}/readyz")
        assert status == 200, body
        assert json.loads(body) == {"status": "ready"}

        # Several requests, so that both workers most likely open their own pool.
        for _ in range(4):
            status, ctype, body = _get(f"{base}/api/areas?level=community")
            assert status == 200, body
            assert ctype == "application/geo+json"
            assert [f["properties"]["code"] for f in json.loads(body)["features"]] == ["T-COMM-1"]

        status, ctype, _ = _get(f"{base}/")
        assert status == 200 and ctype == "text/html"
        assert stat.S_IMODE((tmp_path / "var" / "secret_key").stat().st_mode) == 0o600
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
