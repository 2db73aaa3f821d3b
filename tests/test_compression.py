"""Response compression and caching: text gzipped for clients that accept it, files compressed once, versioned
asset URLs kept for a year, revalidation still answered with 304, tiles and small answers left alone."""
from __future__ import annotations

import gzip
import re

import pytest

from webmap import assets, create_app
from webmap import db as webdb


@pytest.fixture(scope="module")
def app(database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    yield app
    webdb.close_pool(app)


GZ = {"Accept-Encoding": "gzip, deflate, br"}


def _assets_of_home(client) -> list[str]:
    html = gzip.decompress(client.get("/", headers=GZ).data).decode()
    return re.findall(r'(?:src|href)="(/(?:assets|static)/[^"]+)"', html)


def test_pages_scripts_styles_and_geojson_are_gzipped_for_clients_that_accept_it(app):
    client = app.test_client()
    plain = client.get("/")
    packed = client.get("/", headers=GZ)
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"] and "Accept-Encoding" in plain.headers["Vary"]
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data) / 2
    # Same page apart from the per-session CSRF token and folium's random element names.
    strip = lambda b: re.sub(r'content="[^"]*"|_[0-9a-f]{32}\b', "", b.decode())  # noqa: E731
    assert strip(gzip.decompress(packed.data)) == strip(plain.data)
    urls = _assets_of_home(client)
    assert any(u.endswith(".js?v=1.9.4") for u in urls) and any(".css" in u for u in urls)
    for url in urls:
        raw, gz = client.get(url), client.get(url, headers=GZ)
        assert gz.headers["Content-Encoding"] == "gzip", url
        assert gzip.decompress(gz.data) == raw.data, url
        assert "Accept-Ranges" not in gz.headers
    areas = client.get("/api/areas?level=community", headers=GZ)
    assert areas.mimetype == "application/geo+json"
    if len(client.get("/api/areas?level=community").data) >= assets.MIN_COMPRESS_BYTES:
        assert areas.headers["Content-Encoding"] == "gzip"
    # Small answers are not worth a gzip header.
    assert "Content-Encoding" not in client.get("/healthz", headers=GZ).headers


def test_vendored_and_static_files_are_cacheable_and_revalidate_compressed(app):
    client = app.test_client()
    for url in _assets_of_home(client):
        resp = client.get(url, headers=GZ)
        # Versioned URLs: a year, immutable; the content hash or package version changes the URL.
        assert resp.headers["Cache-Control"] == assets.IMMUTABLE, url
        etag = resp.headers["ETag"]
        assert etag.startswith('W/"'), url  # the compressed body is not byte-identical to the file
        again = client.get(url, headers={**GZ, "If-None-Match": etag})
        assert again.status_code == 304, url
        # Language does not change a file: no Vary on Accept-Language, so shared caches can keep one copy.
        assert "Accept-Language" not in resp.headers.get("Vary", ""), url
    unversioned = client.get("/assets/leaflet/leaflet.js")
    assert unversioned.headers["Cache-Control"] == f"public, max-age={assets.UNVERSIONED_MAX_AGE}"
    wrong = client.get("/static/js/livemap.js?v=not-the-hash")
    assert "immutable" not in wrong.headers.get("Cache-Control", "")


def test_files_are_compressed_once_per_worker(app, monkeypatch):
    client = app.test_client()
    url = next(u for u in _assets_of_home(client) if "leaflet.js" in u)
    client.get(url, headers=GZ)
    calls = []
    real = gzip.compress
    monkeypatch.setattr(assets.gzip, "compress", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(3):
        assert client.get(url, headers=GZ).headers["Content-Encoding"] == "gzip"
    assert calls == []


def test_vector_tiles_and_clients_without_gzip_get_the_bytes_as_they_are(app):
    client = app.test_client()
    tile = client.get("/tiles/issues/14/13474/6202.pbf", headers=GZ)
    assert tile.status_code == 200 and "Content-Encoding" not in tile.headers
    identity = client.get("/", headers={"Accept-Encoding": "identity, gzip;q=0"})
    assert "Content-Encoding" not in identity.headers
