"""Vector tiles of issues: GET /tiles/issues/{z}/{x}/{y}.pbf?status=&category=&since=&crs=

Every answer carries an ETag made of the issues data version (geodata.tiles.data_version), and
`Cache-Control: no-cache`: browsers keep tiles but ask each time, and get 304 while no issue changed,
so a new issue is never hidden by a cached tile. Tiles built in this process are kept in a small LRU
keyed by the same version, so a repeated tile costs one tiny query instead of a spatial one.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict

import psycopg
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.wrappers import Request

from geodata import tiles
from webmap import db

log = logging.getLogger(__name__)

bp = Blueprint("tiles", __name__, url_prefix="/tiles")

# Per worker process. 64 MB holds thousands of typical tiles; the oldest go first.
CACHE_BYTES = 64 * 1024 * 1024


class TileCache:
    """A thread-safe LRU of tile bytes, bounded by total size, holding one data version at a time."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._version: int | None = None
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, version: int, key: tuple) -> bytes | None:
        with self._lock:
            if version != self._version:
                self.misses += 1
                return None
            body = self._items.get(key)
            if body is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return body

    def put(self, version: int, key: tuple, body: bytes) -> None:
        with self._lock:
            if self._version is None or version > self._version:
                # Tiles of an older version can never be served again: drop them all at once.
                self._items.clear()
                self._bytes = 0
                self._version = version
            elif version < self._version:
                # Built by a request that read the version just before a change: not worth keeping.
                return
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            if len(body) > self.max_bytes:
                return
            self._items[key] = body
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self._version = None


def _cache(app: Flask | None = None) -> TileCache:
    app = app or current_app
    cache = app.extensions.get("webmap.tiles")
    if cache is None:
        cache = app.extensions.setdefault("webmap.tiles", TileCache(int(app.config.get("TILE_CACHE_BYTES", CACHE_BYTES))))
    return cache


class VersionReader:
    """Reads the data version on one autocommit connection per thread: a single round trip, where a pooled
    connection would add BEGIN and COMMIT around it. The version is still read on every request, so
    what a cached tile stands for is always checked against the database."""

    def __init__(self, url: str):
        self.url = url
        self._local = threading.local()

    def connection(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or self._local.pid != os.getpid():
            # No parallel workers: starting one costs more than a street-level tile, and the cores are
            # better spent on other requests.
            conn = self._local.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                                      application_name="webmap-tiles",
                                                      options="-c max_parallel_workers_per_gather=0")
            self._local.pid = os.getpid()
        return conn

    def drop(self) -> None:
        """Forget this thread's connection after an error; the next request opens a new one."""
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            conn.close()


class CachedTiles:
    """WSGI middleware answering tile requests before Flask is involved: a 304, a cached tile, or a tile
    built on its own autocommit connection (two round trips: version, then tile).

    It answers only what it can answer exactly as the view would (a valid address and filter, and the
    database answering); everything else, including every error, goes to the Flask view.
    """

    PATH = re.compile(r"^/tiles/issues/([^/]+)/([^/]+)/([^/]+)\.pbf$")

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.app = app
        self._reader: VersionReader | None = None

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET":
            m = self.PATH.match(environ.get("PATH_INFO", ""))
            if m:
                answer = self._answer(m, environ)
                if answer is not None:
                    status, headers, body = answer
                    start_response(status, headers)
                    return [body]
        return self.wsgi_app(environ, start_response)

    def _answer(self, m, environ):
        try:
            address = tiles.TileAddress.parse(*m.groups())
            # Parsed by werkzeug as request.args is, so that a repeated parameter means its first value here
            # as in the view (and HEAD, which the view answers, agrees with GET).
            filters = tiles.TileFilter.from_query(Request(environ).args)
        except (tiles.InvalidTileRequest, UnicodeDecodeError):  # raw bytes that are not UTF-8: the view's to answer
            return None
        cache = _cache(self.app)
        if self._reader is None:
            self._reader = VersionReader(db.database_url(self.app))
        try:
            conn = self._reader.connection()
            # Read before the tile is built, as in the view: a tile can be newer than its version, never older.
            version = tiles.data_version(conn)
            etag = _etag(version, filters)
            quoted = f'"{etag}"'
            common = [("ETag", quoted), ("Cache-Control", "no-cache")]
            if quoted in _etags(environ.get("HTTP_IF_NONE_MATCH", "")):
                return "304 NOT MODIFIED", common, b""
            key = (address.z, address.x, address.y, filters.key())
            body = cache.get(version, key)
            if body is None:
                body = tiles.issue_tile(conn, address, filters)
                cache.put(version, key, body)
        except psycopg.Error:
            self._reader.drop()
            return None
        return "200 OK", [("Content-Type", tiles.MEDIA_TYPE), ("Content-Length", str(len(body)))] + common, body


def _etags(header: str) -> set[str]:
    # Weak or strong, a listed ETag matches (RFC 9110: If-None-Match uses the weak comparison).
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}


@bp.record_once
def _install_fast_path(state) -> None:
    state.app.wsgi_app = CachedTiles(state.app.wsgi_app, state.app)


def _etag(version: int, filters: tiles.TileFilter) -> str:
    # The version covers the data; the format number covers the layout; crs changes every coordinate.
    return f"{version}.{tiles.TILE_FORMAT}.{filters.crs}"


@bp.get("/issues/<z>/<x>/<y>.pbf")
def issue_tile(z: str, x: str, y: str):
    """One vector tile of issues (layers "issues" and "clusters"); 400 for an impossible address."""
    # GETs normally never get here (CachedTiles answers them); HEAD, errors and fallbacks do.
    address = tiles.TileAddress.parse(z, x, y)
    filters = tiles.TileFilter.from_query(request.args)
    cache = _cache()
    with db.get_conn() as conn:
        # Read before the tile is built: a change committed in between makes the tile newer than its
        # version, never older, so a cached tile can be early but never stale.
        version = tiles.data_version(conn)
        etag = _etag(version, filters)
        if request.if_none_match.contains(etag):
            return _headers(Response(status=304), etag)
        key = (address.z, address.x, address.y, filters.key())
        body = cache.get(version, key)
        if body is None:
            body = tiles.issue_tile(conn, address, filters)
            cache.put(version, key, body)
    return _headers(Response(body, mimetype=tiles.MEDIA_TYPE), etag)


def _headers(resp: Response, etag: str) -> Response:
    resp.set_etag(etag)
    # Keep, but ask every time: the answer is a 304 of a few bytes while nothing changed.
    resp.headers["Cache-Control"] = "no-cache"
    return resp
