"""Front-end packages installed from npm (package.json) and served by the app, so no page needs a CDN.

Also how every text response travels: gzip when the client accepts it (files compressed once per worker
and kept, pages and JSON compressed per response), and long-lived caching for versioned file URLs.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request, send_from_directory, url_for

from geodata.config import PROJECT_ROOT

bp = Blueprint("assets", __name__, url_prefix="/assets")

NODE_MODULES = PROJECT_ROOT / "node_modules"
# Only the built files of packages named here are reachable; the rest of node_modules stays private.
PACKAGES = {"leaflet": "dist", "leaflet.vectorgrid": "dist", "leaflet.heat": "dist", "leaflet-draw": "dist",
            "chart.js": "dist"}
# A URL carrying its file's version never changes meaning, so browsers may keep it for a year unasked.
IMMUTABLE = "public, max-age=31536000, immutable"
# Unversioned URLs (a hand-typed one, an old page): a day, as before.
UNVERSIONED_MAX_AGE = 86400

# Text worth compressing. Vector tiles are not here: they are answered by webmap.tiles' fast path
# before Flask, and are protobuf (docs/decisions.md, "Compression").
COMPRESSIBLE = frozenset({
    "text/html", "text/css", "text/javascript", "application/javascript", "text/plain", "text/csv",
    "application/json", "application/geo+json", "application/problem+json", "application/xml", "text/xml",
    "image/svg+xml", "application/gpx+xml",
})
# Below this a gzip header and the CPU are not worth it.
MIN_COMPRESS_BYTES = 1024
# Files are compressed once (level 9) and kept per worker; pages and JSON change per request (level 6).
FILE_LEVEL, DYNAMIC_LEVEL = 9, 6
FILE_CACHE_BYTES = 16 * 1024 * 1024


@bp.get("/<package>/<path:filename>")
def vendored(package: str, filename: str):
    """One file from a vendored package's build folder."""
    if package not in PACKAGES:
        abort(404)
    root = NODE_MODULES / package / PACKAGES[package]
    versioned = request.args.get("v") == package_version(package)
    resp = send_from_directory(root, filename, max_age=UNVERSIONED_MAX_AGE)
    if versioned:
        resp.headers["Cache-Control"] = IMMUTABLE
    return resp


@functools.lru_cache(maxsize=None)
def package_version(package: str) -> str:
    """The installed version of a vendored package (from its package.json), for cache-busting URLs."""
    try:
        return json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "0"


def url(package: str, filename: str) -> str:
    """The app's URL for a file of a vendored package, versioned so that browsers may keep it for a year."""
    return url_for("assets.vendored", package=package, filename=filename, v=package_version(package))


@functools.lru_cache(maxsize=256)
def _static_hash(path: str, mtime_ns: int, size: int) -> str:
    # Keyed by mtime and size too, so an edited file gets a new hash without a restart.
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def _static_version(filename: str) -> str | None:
    folder = current_app.static_folder
    if not folder:
        return None
    path = Path(folder) / filename
    try:
        st = path.stat()
    except OSError:
        return None
    return _static_hash(str(path), st.st_mtime_ns, st.st_size)


def static_url(filename: str) -> str:
    """url_for('static', ...) with the file's content hash, so the URL changes whenever the file does."""
    version = _static_version(filename)
    return url_for("static", filename=filename, **({"v": version} if version else {}))


def leaflet_for(m) -> None:
    """Point a folium map at the vendored Leaflet instead of folium's CDN defaults."""
    m.default_js = [("leaflet", url("leaflet", "leaflet.js"))]
    m.default_css = [("leaflet_css", url("leaflet", "leaflet.css"))]


def installed() -> bool:
    """Whether npm has installed the vendored packages (make setup does)."""
    return all((NODE_MODULES / p / d).is_dir() for p, d in PACKAGES.items())


# ---------------------------------------------------------------- compression and caching


class CompressedFiles:
    """gzip bytes of served files by (path, ETag), bounded by total size; one per worker process."""

    def __init__(self, max_bytes: int = FILE_CACHE_BYTES):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: tuple, body: bytes) -> None:
        with self._lock:
            if key in self._items or len(body) > self.max_bytes:
                return
            self._items[key] = body
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)


_files = CompressedFiles()


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def compress(resp: Response) -> Response:
    """gzip a text response for a client that accepts it; files are compressed once and kept."""
    if resp.mimetype not in COMPRESSIBLE:
        return resp
    # Caches must keep the two encodings apart, whether or not this one was compressed.
    resp.vary.add("Accept-Encoding")
    if (resp.status_code != 200 or "Content-Encoding" in resp.headers or not _accepts_gzip()
            or (resp.content_length is not None and resp.content_length < MIN_COMPRESS_BYTES)):
        return resp
    etag, weak = resp.get_etag()
    if resp.direct_passthrough:
        # A file from send_file: its ETag names its content, so the compressed bytes can be kept.
        key = (request.path, etag)
        body = _files.get(key) if etag else None
        if body is None:
            resp.direct_passthrough = False
            data = resp.get_data()
            body = gzip.compress(data, FILE_LEVEL, mtime=0)
            if len(body) >= len(data):
                return resp
            if etag:
                _files.put(key, body)
        else:
            old = resp.response
            if hasattr(old, "close"):
                old.close()
    elif resp.is_streamed:
        return resp  # streamed exports stay streamed
    else:
        data = resp.get_data()
        if len(data) < MIN_COMPRESS_BYTES:
            return resp
        body = gzip.compress(data, DYNAMIC_LEVEL, mtime=0)
        if len(body) >= len(data):
            return resp
    resp.direct_passthrough = False
    resp.set_data(body)
    resp.headers["Content-Encoding"] = "gzip"
    # Byte ranges would count in the uncompressed file; this answer is whole.
    resp.headers.pop("Accept-Ranges", None)
    if etag and not weak:
        # Weak, as nginx does: a revalidation then still matches the file's ETag (If-None-Match compares weakly).
        resp.set_etag(etag, weak=True)
    return resp


def _cache_static(resp: Response) -> Response:
    """Versioned URLs of the app's own static files are kept for a year; others are revalidated."""
    if request.endpoint == "static" and resp.status_code in (200, 304):
        version = request.args.get("v")
        filename = (request.view_args or {}).get("filename")
        if version and filename and version == _static_version(filename):
            resp.headers["Cache-Control"] = IMMUTABLE
    return resp


@bp.record_once
def _install(state) -> None:
    app = state.app
    app.jinja_env.globals["static_url"] = static_url
    app.jinja_env.globals["asset_url"] = url
    # Registered on the app, so every blueprint's responses are compressed, not only this one's.
    app.after_request(_cache_static)
    app.after_request(compress)
