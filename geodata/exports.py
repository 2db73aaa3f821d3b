"""Exports of the filtered issues: CSV (UTF-8 with BOM), GeoJSON and GeoPackage, streamed in batches.

Reporter contact details appear only when asked for, and then only on rows the actor may see them on
(permission issue.view_contact); everything else here is what the public issue API shows anyway.
"""
from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from geodata import permissions
from geodata.dashboard import Filters
from geodata.permissions import Actor

log = logging.getLogger(__name__)

FORMATS = {"csv": ("text/csv", "csv"), "geojson": ("application/geo+json", "geojson"),
           "gpkg": ("application/geopackage+sqlite3", "gpkg")}
BATCH = 2000
GPKG_BATCH = 20_000
BOM = "\ufeff"

_SELECT = (Path(__file__).with_name("exports.sql")).read_text(encoding="utf-8")
# Newest first, as GET /api/issues lists them.
_ORDER = "ORDER BY i.created_at DESC, i.id DESC"

# Every exported column in order (lon/lat become the geometry in GeoJSON and GeoPackage).
COLUMNS = ("id", "category", "category_name", "category_name_en", "title", "description", "status", "area_code",
           "area_name", "area_name_en", "lon", "lat", "created_at", "acknowledged_at", "resolved_at", "closed_at",
           "due_at", "party_name", "party_kind", "satisfaction", "supports_count", "duplicate_of", "source")
CONTACT = "reporter_contact"
TIMES = ("created_at", "acknowledged_at", "resolved_at", "closed_at", "due_at")


def contact_allowed(actor: Actor) -> bool:
    """Whether the actor's role may see reporters' contact details anywhere at all."""
    return actor.role == "admin" or actor.role in permissions.PERMISSIONS["issue.view_contact"]


def check_contact(actor: Actor) -> None:
    """PermissionDenied unless the actor may export reporters' contact details."""
    if not contact_allowed(actor):
        raise permissions.PermissionDenied("issue.view_contact", "You may not export reporters' contact details.")


def columns(contact: bool) -> tuple[str, ...]:
    return COLUMNS + ((CONTACT,) if contact else ())


def rows(conn, filters: Filters, actor: Actor, *, contact: bool = False, batch: int = BATCH) -> Iterator[dict]:
    """The filtered issues in scope, newest first, one dict per issue, read through a server-side cursor.

    With contact=True the actor must be entitled to contact details (else PermissionDenied); each row
    carries the contact only when permissions.may(actor, "issue.view_contact", row).
    """
    permissions.require(actor, "issues.export")
    if contact:
        check_contact(actor)
    where, params = filters.where("i")
    params["contact"] = contact
    query = sql.SQL("{} WHERE {} {}").format(sql.SQL(_SELECT), where, sql.SQL(_ORDER))
    with conn.transaction():
        with conn.cursor("issue_export", row_factory=dict_row) as cur:
            cur.itersize = batch
            cur.execute(query, params)
            for row in cur:
                if contact and not permissions.may(actor, "issue.view_contact", row):
                    row[CONTACT] = None
                yield row


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


# A spreadsheet reads a cell that starts with one of these as a formula (CSV injection): "=HYPERLINK(...)" in
# a resident's description would run on the official's machine. Such text gets a leading apostrophe, which
# Excel and LibreOffice show as text and do not display.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    value = _text(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_chunks(records: Iterator[dict], contact: bool = False, batch: int = BATCH) -> Iterator[bytes]:
    """CSV in UTF-8 with a byte order mark, so that Excel opens Chinese text correctly; a header row first."""
    names = columns(contact)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write(BOM)
    writer.writerow(names)
    for n, row in enumerate(records, 1):
        writer.writerow([_cell(row[c]) for c in names])
        if n % batch == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def feature(row: dict, contact: bool = False) -> dict:
    """One issue as a GeoJSON Feature (point in WGS84)."""
    props = {c: _text(row[c]) for c in columns(contact) if c not in ("lon", "lat")}
    return {"type": "Feature", "id": row["id"],
            "geometry": {"type": "Point", "coordinates": [round(row["lon"], 7), round(row["lat"], 7)]},
            "properties": props}


def geojson_chunks(records: Iterator[dict], contact: bool = False, batch: int = BATCH) -> Iterator[bytes]:
    """An RFC 7946 FeatureCollection, written feature by feature."""
    parts = ['{"type":"FeatureCollection","features":[']
    for n, row in enumerate(records):
        parts.append(("," if n else "") + json.dumps(feature(row, contact), ensure_ascii=False,
                                                     separators=(",", ":")))
        if len(parts) >= batch:
            yield "".join(parts).encode("utf-8")
            parts = []
    parts.append("]}")
    yield "".join(parts).encode("utf-8")


def write_gpkg(records: Iterator[dict], path: Path, contact: bool = False, batch: int = GPKG_BATCH) -> int:
    """Write the issues to a GeoPackage layer "issues" (EPSG:4326 points), a batch at a time; returns the count."""
    import geopandas as gpd
    import pandas as pd

    names = [c for c in columns(contact) if c not in ("lon", "lat")]
    written = 0
    chunk: list[dict] = []

    def flush(first: bool) -> None:
        frame = pd.DataFrame(chunk, columns=[*names, "lon", "lat"])
        for c in TIMES:
            frame[c] = pd.to_datetime(frame[c], utc=True)
        for c in ("satisfaction", "duplicate_of"):
            frame[c] = frame[c].astype("Int64")
        for c in ("id", "supports_count"):
            frame[c] = frame[c].astype("int64")
        for c in set(names) - set(TIMES) - {"satisfaction", "duplicate_of", "id", "supports_count"}:
            frame[c] = frame[c].astype("string").astype(object)
        geometry = gpd.points_from_xy(frame.pop("lon").astype(float), frame.pop("lat").astype(float), crs="EPSG:4326")
        gdf = gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
        gdf.to_file(path, layer="issues", driver="GPKG", engine="pyogrio", mode="w" if first else "a")

    for row in records:
        chunk.append(row)
        if len(chunk) >= batch:
            flush(written == 0)
            written += len(chunk)
            chunk = []
    if chunk or written == 0:
        flush(written == 0)
        written += len(chunk)
    return written
