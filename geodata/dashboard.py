"""The officials' dashboard: shared filters scoped to the actor's areas, H3 cells per issue, hot spots,
heatmap aggregation and the community choropleth.

Flask-free: functions take a connection and return GeoJSON-shaped dicts; bad input raises
validation.ValidationError (400), the hotspots module's errors (400) or permissions.PermissionDenied (403).
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import h3.api.basic_int as h3i
import mapclassify
import numpy as np
from psycopg import sql

from geodata import hotspots as hs
from geodata import issues, permissions, validation
from geodata.permissions import Actor
from geodata.validation import Errors, ValidationError

log = logging.getLogger(__name__)

RESOLUTIONS = tuple(range(hs.MIN_RESOLUTION, hs.MAX_RESOLUTION + 1))
# ?status=open stands for every status that is not final.
STATUS_ALIASES = {"open": tuple(s for s in issues.STATUSES if s in issues.OPEN)}
FILL_BATCH = 50_000
QUERY_KEYS = ("area", "category", "status", "since", "until")


# ---------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """What every part of the dashboard looks at: the area scope (resolved to ids), categories, statuses, period."""

    # Every community/street id in scope, descendants included; None means everything (an admin without ?area=).
    area_ids: tuple[int, ...] | None = None
    # The areas asked for (or, without ?area=, the actor's own), for the study region and the answer.
    areas: tuple[dict, ...] = ()
    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def describe(self) -> dict:
        """The filters as the answers echo them."""
        return {
            "area": [a["code"] for a in self.areas if a.get("requested")],
            "scope": None if self.area_ids is None else [a["code"] for a in self.areas],
            "category": list(self.categories),
            "status": list(self.statuses),
            "since": _iso(self.since),
            "until": _iso(self.until),
        }

    def where(self, alias: str = "i") -> tuple[sql.Composable, dict]:
        """A WHERE condition on issues (as `alias`) and its parameters."""
        parts: list[sql.Composable] = []
        params: dict[str, Any] = {}
        col = lambda name: sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(name))  # noqa: E731
        if self.area_ids is not None:
            params["f_area_ids"] = list(self.area_ids)
            parts.append(sql.SQL("{} = ANY (%(f_area_ids)s)").format(col("area_id")))
        if self.categories:
            params["f_categories"] = list(self.categories)
            parts.append(sql.SQL("{} = ANY (%(f_categories)s)").format(col("category")))
        if self.statuses:
            params["f_statuses"] = list(self.statuses)
            parts.append(sql.SQL("{} = ANY (%(f_statuses)s)").format(col("status")))
        if self.since:
            params["f_since"] = self.since
            parts.append(sql.SQL("{} >= %(f_since)s").format(col("created_at")))
        if self.until:
            params["f_until"] = self.until
            parts.append(sql.SQL("{} < %(f_until)s").format(col("created_at")))
        return (sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")), params


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _items(args: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in (args.get(name) or "").split(",") if part.strip()]


_AREAS = "SELECT id, code, name, name_en, level FROM areas WHERE id = ANY (%s) OR code = ANY (%s)"
_DESCENDANTS = """
WITH RECURSIVE tree AS (
    SELECT id FROM areas WHERE id = ANY (%s)
    UNION
    SELECT a.id FROM areas a JOIN tree ON a.parent_id = tree.id
)
SELECT id FROM tree ORDER BY id
"""
# The actor's own areas that are not below another of them: the top of their scope, for the study region.
_TOP_AREAS = """
SELECT id, code, name, name_en, level FROM areas
WHERE id = ANY (%(ids)s) AND (parent_id IS NULL OR NOT parent_id = ANY (%(ids)s))
ORDER BY code
"""


def _area_id(text: str) -> int | None:
    """The id an ?area= item names, if it is one: ASCII digits within a bigint ("²" and "٣" are codes)."""
    try:
        return validation.id_text(text) if re.fullmatch(r"[0-9]+", text) else None
    except ValueError:
        return None


def parse_filters(conn, args: Mapping[str, str], actor: Actor, action: str = "dashboard.view") -> Filters:
    """?area=&category=&status=&since=&until= checked against the database and the actor's scope.

    Unknown areas, categories or statuses and a period ending before it starts raise ValidationError (400);
    an area outside the actor's areas raises PermissionDenied (403). Officials and social workers without
    ?area= get their own areas; admins everything.
    """
    permissions.require(actor, action)
    errors = Errors()
    values: dict[str, Any] = {}
    for name in ("area", "category"):
        # PostgreSQL text cannot hold NUL, and no code has a control character.
        if any(validation.has_control_characters(part) for part in _items(args, name)):
            errors.add(name, "must not contain control characters")
    wanted = [] if "area" in errors else _items(args, "area")
    found: list[dict] = []
    if wanted:
        # Digits are an id (as GET /api/issues reads them), or else a code: community codes are often numeric.
        ids = [_area_id(a) for a in wanted]
        rows = conn.execute(_AREAS, ([i for i in ids if i is not None], wanted)).fetchall()
        by_id = {str(r[0]): r for r in rows}
        by_code = {r[1]: r for r in rows}
        chosen = {}
        for a in wanted:
            row = by_id.get(a) or by_code.get(a)
            if row is None:
                errors.add("area", f"unknown area {a!r}")
            else:
                chosen[row[0]] = row
        found = [{"id": r[0], "code": r[1], "name": r[2], "name_en": r[3], "level": r[4], "requested": True}
                 for r in chosen.values()]
    categories = [] if "category" in errors else _items(args, "category")
    if categories:
        known = {r[0] for r in conn.execute("SELECT code FROM categories WHERE code = ANY (%s)", (categories,))}
        unknown = [c for c in categories if c not in known]
        if unknown:
            errors.add("category", f"unknown category {unknown[0]!r}")
        values["categories"] = tuple(dict.fromkeys(categories))
    statuses: list[str] = []
    for s in _items(args, "status"):
        if s in STATUS_ALIASES:
            statuses.extend(STATUS_ALIASES[s])
        elif s in issues.STATUSES:
            statuses.append(s)
        else:
            errors.add("status", f"unknown status {s!r}; expected 'open' or some of {', '.join(issues.STATUSES)}")
    values["statuses"] = tuple(dict.fromkeys(statuses))
    for name in ("since", "until"):
        if args.get(name):
            try:
                values[name] = validation.timestamp_text(args[name])
            except ValueError as exc:
                errors.add(name, str(exc))
    if values.get("since") and values.get("until") and values["until"] < values["since"]:
        errors.add("until", "the period ends before it starts: until must not be before since")
    errors.raise_if_any()
    if found:
        for area in found:
            permissions.require(actor, action, {"area_id": area["id"]})
        top = sorted({a["id"] for a in found})
    elif actor.role == "admin":
        return Filters(**values)
    else:
        top = sorted(actor.area_ids)
        found = [{"id": r[0], "code": r[1], "name": r[2], "name_en": r[3], "level": r[4], "requested": False}
                 for r in conn.execute(_TOP_AREAS, {"ids": top})]
        top = [a["id"] for a in found]
    area_ids = tuple(r[0] for r in conn.execute(_DESCENDANTS, (top,)))
    return Filters(area_ids=area_ids, areas=tuple(found), **values)


# ---------------------------------------------------------------- H3 cells of the issues


_PENDING = """
SELECT c.issue_id, ST_X(i.geom), ST_Y(i.geom)
FROM issue_cells c JOIN issues i ON i.id = c.issue_id
WHERE c.h3_11 IS NULL
ORDER BY c.issue_id
LIMIT %s
FOR UPDATE OF c
"""
_STORE = """
UPDATE issue_cells c
SET h3_5 = v.h5, h3_6 = v.h6, h3_7 = v.h7, h3_8 = v.h8, h3_9 = v.h9, h3_10 = v.h10, h3_11 = v.h11
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
            %s::bigint[]) AS v(id, h5, h6, h7, h8, h9, h10, h11)
WHERE c.issue_id = v.id
"""


def cells_of(lons: list[float], lats: list[float], resolution: int) -> list[int]:
    """H3 cells (as signed 64-bit ints: bit 63 of an H3 index is always 0) of points at one resolution."""
    return list(map(h3i.latlng_to_cell, lats, lons, itertools.repeat(resolution)))


def fill_cells(conn, batch: int = FILL_BATCH) -> int:
    """Compute the H3 cells of issues that have none yet (new or moved); returns how many were filled.

    Rows another request is filling right now are waited for (FOR UPDATE, in issue order, so no deadlock),
    not skipped: a dashboard fires its layers at once, and a layer that skipped them would count none of
    the issues just reported (an empty hot spot map right after an import). Once the other request commits,
    those rows no longer match and the next pending ones are taken in their place.
    """
    filled = 0
    while True:
        with conn.transaction():
            rows = conn.execute(_PENDING, (batch,)).fetchall()
            if not rows:
                return filled
            ids = [r[0] for r in rows]
            lons = [r[1] for r in rows]
            lats = [r[2] for r in rows]
            conn.execute(_STORE, [ids, *(cells_of(lons, lats, res) for res in RESOLUTIONS)])
        filled += len(rows)
        if len(rows) < batch:
            return filled


def _cell_column(resolution: int) -> sql.Identifier:
    return sql.Identifier(f"h3_{hs.check_resolution(resolution)}")


def cell_counts(conn, filters: Filters, resolution: int, bbox: tuple[float, float, float, float] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(H3 cells as uint64, issue counts) of the filtered issues at a resolution, optionally within a bbox."""
    where, params = filters.where("i")
    if bbox is not None:
        params.update(minx=bbox[0], miny=bbox[1], maxx=bbox[2], maxy=bbox[3])
        where = sql.SQL("{} AND i.geom && ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 4326)").format(where)
    if params:
        query = sql.SQL(
            "SELECT c.{col}, count(*) FROM issues i JOIN issue_cells c ON c.issue_id = i.id"
            " WHERE {where} AND c.{col} IS NOT NULL GROUP BY 1"
        ).format(col=_cell_column(resolution), where=where)
    else:
        # Nothing to filter on (an admin's whole city): every row of issue_cells is an issue (foreign key).
        query = sql.SQL("SELECT {col}, count(*) FROM issue_cells WHERE {col} IS NOT NULL GROUP BY 1").format(
            col=_cell_column(resolution))
    rows = conn.execute(query, params).fetchall()
    if not rows:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    cells = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)).astype(np.uint64)
    counts = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    return cells, counts


# ---------------------------------------------------------------- hot spots


_SCOPE_GEOMETRY = "SELECT ST_AsGeoJSON(ST_Union(geom), 7)::json FROM areas WHERE id = ANY (%s)"


def integer_or_text(value: Any) -> Any:
    """A query-string integer as int; anything else unchanged, for the checker to refuse with its own message."""
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]{1,4}", value.strip()):
        return int(value)
    return value


def hotspot_layer(conn, filters: Filters, resolution: Any = hs.DEFAULT_RESOLUTION, *, k: Any = hs.DEFAULT_K,
                  only_significant: bool = False) -> dict:
    """Gi* hot spots of the filtered issues as a GeoJSON FeatureCollection with `legend` and `summary`.

    The study region is the areas in scope (every H3 cell whose centre lies in them, docs/hotspots.md);
    for an admin without ?area=, the cells with issues plus one ring. No issues: no features.
    """
    res = hs.check_resolution(integer_or_text(resolution))
    k = hs.check_k(integer_or_text(k))
    fill_cells(conn)
    cells, counts = cell_counts(conn, filters, res)
    summary = {"resolution": res, "k": k, "issues": int(counts.sum()), "cells_with_issues": int(cells.size)}
    if cells.size == 0:
        return {"type": "FeatureCollection", "features": [], "legend": list(hs.LEGEND),
                "summary": {**summary, "cells": 0, "classes": {c: 0 for c in hs.BIN_BY_CLASS}},
                "filters": filters.describe()}
    area = None
    if filters.area_ids is not None:
        area = conn.execute(_SCOPE_GEOMETRY, ([a["id"] for a in filters.areas],)).fetchone()[0]
    result = hs.hotspots((cells, counts), resolution=res, k=k, area=area, pad=1)
    collection = hs.to_geojson(result, only_significant=only_significant, precision=5)
    summary.update(cells=len(result), classes=result.class_counts(),
                   classes_uncorrected=result.class_counts(corrected=False),
                   study_region="areas" if area is not None else "cells with issues and one ring around them",
                   few_data=bool(len(result) < 30 or summary["issues"] < 30))
    collection.update(legend=list(hs.LEGEND), summary=summary, filters=filters.describe())
    return collection


# ---------------------------------------------------------------- heatmap


def heatmap_resolution(zoom: int) -> int:
    """The H3 resolution whose cells are a few screen pixels across at a Web Mercator zoom (about 6-12 px)."""
    return min(hs.MAX_RESOLUTION, max(hs.MIN_RESOLUTION, zoom - 3))


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError("must be four numbers: min lon, min lat, max lon, max lat")
        minx, maxx = (validation.number_text(parts[i], minimum=-180, maximum=180) for i in (0, 2))
        miny, maxy = (validation.number_text(parts[i], minimum=-90, maximum=90) for i in (1, 3))
        if miny > maxy or minx > maxx:
            raise ValueError("min must not be greater than max")
    except ValueError as exc:
        raise ValidationError({"bbox": str(exc)}) from None
    return minx, miny, maxx, maxy


def heatmap(conn, filters: Filters, *, zoom: Any = 12, bbox: tuple[float, float, float, float] | None = None) -> dict:
    """Weighted points for Leaflet.heat: the filtered issues counted per H3 cell of a zoom-fitting resolution,
    each cell as its centre [lat, lon, count]. The size of the answer depends on the view, not on the data."""
    try:
        zoom = validation.integer_text(str(zoom), minimum=0, maximum=22)
    except ValueError as exc:
        raise ValidationError({"zoom": str(exc)}) from None
    res = heatmap_resolution(zoom)
    fill_cells(conn)
    cells, counts = cell_counts(conn, filters, res, bbox)
    centres = list(map(h3i.cell_to_latlng, cells.tolist()))
    points = [[round(lat, 6), round(lon, 6), int(n)] for (lat, lon), n in zip(centres, counts.tolist())]
    return {"resolution": res, "zoom": zoom, "issues": int(counts.sum()), "max": int(counts.max()) if counts.size else 0,
            "points": points, "filters": filters.describe()}


# ---------------------------------------------------------------- community choropleth

SCHEMES = {
    "quantiles": mapclassify.Quantiles,
    "fisher_jenks": mapclassify.FisherJenks,
    "equal_interval": mapclassify.EqualInterval,
}
DEFAULT_SCHEME = "quantiles"
# Fisher-Jenks is exact but quadratic (0.8 s for 500 communities without numba): refused above this.
FISHER_JENKS_MAX = 300
# ColorBrewer YlOrRd, light (few) to dark (many).
CLASS_COLOURS = {
    1: ["#fd8d3c"], 2: ["#fecc5c", "#e31a1c"], 3: ["#ffffb2", "#fd8d3c", "#bd0026"],
    4: ["#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c"], 5: ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"],
    6: ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"],
    7: ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"],
}

_CHOROPLETH = """
WITH counted AS (
    SELECT i.area_id, count(*) AS n FROM issues i WHERE {where} GROUP BY i.area_id
)
SELECT a.id, a.code, a.name, a.name_en, a.population, ST_Area(a.geom::geography) / 1e6 AS km2,
       COALESCE(c.n, 0) AS n, ST_AsGeoJSON(a.geom, 6)::json AS geometry
FROM areas a LEFT JOIN counted c ON c.area_id = a.id
WHERE a.level = 'community' AND {scope}
ORDER BY a.code
"""


def choropleth(conn, filters: Filters, *, scheme: str | None = None, k: Any = 5) -> dict:
    """Communities in scope coloured by issues per 1,000 residents (every community has a population) or
    per km² (otherwise), classified with mapclassify. Without a status filter, open issues are counted."""
    errors = Errors()
    scheme = scheme or DEFAULT_SCHEME
    if scheme not in SCHEMES:
        errors.add("scheme", f"unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    try:
        k = validation.integer_text(str(k), minimum=2, maximum=7)
    except ValueError as exc:
        errors.add("k", str(exc))
    errors.raise_if_any()
    counting = filters if filters.statuses else dataclasses.replace(filters, statuses=STATUS_ALIASES["open"])
    where, params = counting.where("i")
    if filters.area_ids is None:
        scope = sql.SQL("true")
    else:
        scope = sql.SQL("a.id = ANY (%(f_area_ids)s)")
    rows = conn.execute(sql.SQL(_CHOROPLETH).format(where=where, scope=scope), params).fetchall()
    per_residents = bool(rows) and all(r[4] for r in rows)
    measure = "per_1000_residents" if per_residents else "per_km2"
    values = np.array([(r[6] * 1000.0 / r[4]) if per_residents else (r[6] / r[5] if r[5] else 0.0) for r in rows])
    if scheme == "fisher_jenks" and len(rows) > FISHER_JENKS_MAX:
        raise ValidationError({"scheme": f"fisher_jenks is limited to {FISHER_JENKS_MAX} communities; "
                                         f"{len(rows)} are in scope: use quantiles"})
    bins, classes = _classify(values, scheme, k)
    colours = CLASS_COLOURS[max(1, len(bins))]
    features = []
    for row, value, cls in zip(rows, values.tolist(), classes):
        features.append({
            "type": "Feature", "id": row[0], "geometry": row[7],
            "properties": {"area_id": row[0], "code": row[1], "name": row[2], "name_en": row[3],
                           "population": row[4], "km2": round(row[5], 4), "issues": row[6],
                           "value": round(value, 4), "class": cls, "color": colours[cls]},
        })
    legend = []
    lower = float(values.min()) if values.size else 0.0
    for i, upper in enumerate(bins):
        legend.append({"class": i, "lower": round(lower, 4), "upper": round(float(upper), 4), "color": colours[i],
                       "count": int(sum(1 for c in classes if c == i))})
        lower = float(upper)
    return {"type": "FeatureCollection", "features": features, "measure": measure,
            "counted": "filtered" if filters.statuses else "open",
            "scheme": scheme, "k": len(bins), "legend": legend, "filters": filters.describe()}


def _classify(values: np.ndarray, scheme: str, k: int) -> tuple[list[float], list[int]]:
    """Upper class bounds and each value's class; fewer classes when there are fewer distinct values."""
    distinct = np.unique(values)
    if distinct.size == 0:
        return [], []
    if distinct.size == 1:
        return [float(distinct[0])], [0] * values.size
    k = min(k, int(distinct.size))
    classifier = SCHEMES[scheme](values, k=k)
    bins = [float(b) for b in classifier.bins]
    return bins, [int(c) for c in classifier.yb]
