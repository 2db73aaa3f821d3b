"""Vector tiles of issues: GET /tiles/issues/{z}/{x}/{y}.pbf?status=&category=&since=&crs=

Every answer carries an ETag made of the issues data version (geodata.tiles.data_version), and
`Cache-Control: no-cache`: browsers keep tiles but ask each time, and get 304 while no issue changed,
so a new issue is never hidden by a cached tile. Tiles built in this process are kept in a small LRU
keyed by the same version, so a repeated tile costs one tiny query instead of a spatial one.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from flask import Blueprint, Response, current_app, request

from geodata import tiles
from webmap import db

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


def _cache() -> TileCache:
    cache = current_app.extensions.get("webmap.tiles")
    if cache is None:
        cache = current_app.extensions.setdefault(
            "webmap.tiles", TileCache(int(current_app.config.get("TILE_CACHE_BYTES", CACHE_BYTES))))
    return cache


def _etag(version: int, filters: tiles.TileFilter) -> str:
    # The version covers the data; the format number covers the layout; crs changes every coordinate.
    return f"{version}.{tiles.TILE_FORMAT}.{filters.crs}"


@bp.get("/issues/<z>/<x>/<y>.pbf")
def issue_tile(z: str, x: str, y: str):
    """One vector tile of issues (layers "issues" and "clusters"); 400 for an impossible address."""
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
