"""Walkabouts: plan a walk past the open issues of a community or a drawn polygon, and log what was found.

plan() selects the issues with PostGIS, orders them with geodata.tour and stores the walkabout and its
stops in one transaction; visit() marks one stop (an issue_events "visited" row and, where the outcome
is a workflow step, the transition). docs/walkabouts.md has the request, the outcome mapping and limits.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from geodata import issues, permissions, tour, validation
from geodata.permissions import Actor
from geodata.validation import Errors, ValidationError

log = logging.getLogger(__name__)


def _load_queries() -> dict[str, str]:
    text = Path(__file__).with_name("walkabouts.sql").read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    for chunk in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = chunk.partition("\n")
        queries[name.strip()] = body.strip().rstrip(";")
    return queries


_Q = _load_queries()

OUTCOMES = ("visited", "confirmed", "fixed", "not_found")
START_KINDS = ("office", "point", "location")
REQUEST_FIELDS = {"area", "polygon", "filters", "start", "max_stops", "max_minutes", "return_to_start"}
FILTER_FIELDS = {"status", "category", "min_age_days", "overdue_first"}
POLYGON_MAX_VERTICES = 1000
NOTE_MAX = issues.NOTE_MAX

# What an outcome does to an issue in each status: the status it moves to (one edge of issues.LIFECYCLE),
# None for "the visit only", and a missing status for "refused" (the lifecycle has no such step).
#   confirmed: the problem is there. A new report is confirmed; a reopened one confirmed again; one
#              marked resolved is reopened (it is not fixed after all); further along, nothing changes.
#   fixed:     the problem is gone. Work in progress becomes resolved; a resolved issue is closed (a
#              social worker of the community may confirm a fix). Earlier stages have no edge to
#              "resolved", so the mark is refused (422) and the social worker records a visit instead.
#   not_found: nothing to see. A new report is rejected; later stages keep their status (a confirmed
#              issue cannot be rejected any more), the visit and its note are recorded.
OUTCOME_STEPS: dict[str, dict[str, str | None]] = {
    "visited": {s: None for s in issues.STATUSES},
    "confirmed": {"reported": "confirmed", "reopened": "confirmed", "resolved": "reopened",
                  "confirmed": None, "assigned": None, "in_progress": None,
                  "closed": None, "rejected": None, "duplicate": None},
    "fixed": {"in_progress": "resolved", "resolved": "closed", "closed": None},
    "not_found": {"reported": "rejected", **{s: None for s in issues.STATUSES if s != "reported"}},
}


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Walking model and limits; from_env() reads WALKABOUT_* variables (defaults in docs/walkabouts.md)."""

    speed_kmh: float = tour.DEFAULT_SPEED_KMH
    detour: float = tour.DEFAULT_DETOUR
    dwell_min: float = tour.DEFAULT_DWELL_MIN
    max_area_km2: float = 5.0
    max_stops: int = 150
    # Wall time of the whole plan() call; the tour search gets what the selection leaves of it (the first
    # local optimum is always completed), so that a plan of 150 stops answers within about a second.
    time_budget_s: float = 0.8

    ENV = {"speed_kmh": "WALKABOUT_SPEED_KMH", "detour": "WALKABOUT_DETOUR", "dwell_min": "WALKABOUT_DWELL_MIN",
           "max_area_km2": "WALKABOUT_MAX_AREA_KM2", "max_stops": "WALKABOUT_MAX_STOPS",
           "time_budget_s": "WALKABOUT_TIME_BUDGET_S"}

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        values: dict[str, Any] = {}
        for name, env in cls.ENV.items():
            raw = os.environ.get(env)
            if raw:
                values[name] = int(raw) if name == "max_stops" else float(raw)
        values.update(overrides or {})
        return cls(**values)


# ---------------------------------------------------------------- errors


class WalkaboutError(Exception):
    """Base of the refusals of this module."""

    fields: dict[str, str] = {}


class InvalidPolygon(WalkaboutError, ValidationError):
    """The drawn polygon is not a valid GeoJSON Polygon (shape, coordinates or OGC validity)."""

    def __init__(self, reason: str):
        message = f"The polygon is not valid: {reason}."
        ValidationError.__init__(self, {"polygon": message}, message)
        self.reason = reason


class PolygonTooLarge(WalkaboutError, ValidationError):
    """The drawn polygon is larger than WALKABOUT_MAX_AREA_KM2."""

    def __init__(self, km2: float, limit: float):
        message = (f"The polygon covers {km2:.2f} km², more than the {limit:g} km² a walkabout may cover; "
                   "draw a smaller one.")
        ValidationError.__init__(self, {"polygon": message}, message)
        self.km2, self.limit = km2, limit


class NoOpenIssues(WalkaboutError):
    """Nothing to visit: no issue matches the area and filters. No walkabout is stored."""

    def __init__(self):
        super().__init__("No open issues here: nothing matches this area and these filters, so no route was "
                         "planned.")


class NoStopFits(WalkaboutError):
    """The time limit is too short for even the first stop. No walkabout is stored."""

    def __init__(self, max_minutes: float, selected: int):
        message = (f"{selected} issues match, but not even the first fits into {max_minutes:g} minutes; "
                   "allow more time.")
        super().__init__(message)
        self.fields = {"max_minutes": message}


class WalkaboutNotFound(WalkaboutError, LookupError):
    def __init__(self, key: Any):
        super().__init__(f"There is no walkabout {key}.")


class StopNotFound(WalkaboutError, LookupError):
    def __init__(self, walkabout_id: int, seq: Any):
        super().__init__(f"Walkabout {walkabout_id} has no stop {seq}.")


# ---------------------------------------------------------------- the request


@dataclass(frozen=True)
class Request:
    """A parsed, checked planning request."""

    area: int | str | None
    polygon: dict | None
    statuses: tuple[str, ...]
    categories: tuple[str, ...]
    min_age_days: int
    overdue_first: bool
    start_kind: str
    start: tuple[float, float] | None  # (lon, lat); None for the office
    max_stops: int | None
    max_minutes: float | None
    return_to_start: bool

    @property
    def filters(self) -> dict:
        return {"status": list(self.statuses), "category": list(self.categories),
                "min_age_days": self.min_age_days, "overdue_first": self.overdue_first}


DEFAULT_STATUSES = tuple(s for s in issues.STATUSES if s in issues.OPEN)


def parse_request(payload: Any) -> Request:
    """Check a planning request; every problem is reported at once (ValidationError, or InvalidPolygon)."""
    if not isinstance(payload, Mapping):
        raise ValidationError({"body": "must be a JSON object"}, "The request body must be a JSON object.")
    errors = Errors()
    unknown = sorted(set(payload) - REQUEST_FIELDS)
    for name in unknown:
        errors.add(name, "is not a field of this request")
    area = payload.get("area")
    polygon = payload.get("polygon")
    if (area is None) == (polygon is None):
        errors.add("area", "give either an area (id or code) or a polygon, not both" if area is not None
                   else "give an area (id or code) or a polygon")
    if area is not None:
        area = _area_key(area, errors)

    filters = payload.get("filters") or {}
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    categories: tuple[str, ...] = ()
    min_age_days, overdue_first = 0, True
    if not isinstance(filters, Mapping):
        errors.add("filters", "must be an object")
        filters = {}
    for name in sorted(set(filters) - FILTER_FIELDS):
        errors.add(f"filters.{name}", "is not a filter")
    if filters.get("status") not in (None, [], ""):
        value = filters["status"]
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            errors.add("filters.status", "must be a list of statuses")
        else:
            items = [s.strip() for s in items if s.strip()]
            bad = [s for s in items if s not in issues.STATUSES]
            if bad:
                errors.add("filters.status", f"unknown status {bad[0]!r}; expected some of {', '.join(issues.STATUSES)}")
            elif items:
                statuses = tuple(dict.fromkeys(items))
    if filters.get("category") not in (None, [], ""):
        value = filters["category"]
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(c, str) for c in items):
            errors.add("filters.category", "must be a category code or a list of them")
        else:
            problems = [p for p in map(validation.unstorable, items) if p]
            if problems:
                errors.add("filters.category", problems[0])
            else:
                categories = tuple(dict.fromkeys(c.strip() for c in items if c.strip()))
    if filters.get("min_age_days") not in (None, ""):
        try:
            min_age_days = validation.integer(filters["min_age_days"], minimum=0, maximum=3650)
        except ValueError as exc:
            errors.add("filters.min_age_days", str(exc))
    if filters.get("overdue_first") is not None:
        if not isinstance(filters["overdue_first"], bool):
            errors.add("filters.overdue_first", "must be true or false")
        else:
            overdue_first = filters["overdue_first"]

    start_kind, start = "office", None
    raw_start = payload.get("start")
    if isinstance(raw_start, str):
        raw_start = {"kind": raw_start}
    if raw_start is not None:
        if not isinstance(raw_start, Mapping):
            errors.add("start", "must be an object {kind, lat, lon}")
        else:
            start_kind = raw_start.get("kind") or ("point" if "lat" in raw_start else "office")
            if start_kind not in START_KINDS:
                errors.add("start.kind", f"must be one of {', '.join(START_KINDS)}")
            elif start_kind != "office":
                try:
                    lat = validation.number(raw_start.get("lat"), minimum=-90, maximum=90)
                    lon = validation.number(raw_start.get("lon"), minimum=-180, maximum=180)
                    start = (lon, lat)
                except ValueError as exc:
                    errors.add("start", f"lat and lon {exc}")

    max_stops = max_minutes = None
    if payload.get("max_stops") is not None:
        try:
            max_stops = validation.integer(payload["max_stops"], minimum=1, maximum=10_000)
        except ValueError as exc:
            errors.add("max_stops", str(exc))
    if payload.get("max_minutes") is not None:
        try:
            max_minutes = validation.number(payload["max_minutes"], minimum=1, maximum=24 * 60)
        except ValueError as exc:
            errors.add("max_minutes", str(exc))
    return_to_start = payload.get("return_to_start", True)
    if not isinstance(return_to_start, bool):
        errors.add("return_to_start", "must be true or false")
    errors.raise_if_any()
    if polygon is not None:
        polygon = _check_polygon_shape(polygon)
    return Request(area=area, polygon=polygon, statuses=statuses, categories=categories, min_age_days=min_age_days,
                   overdue_first=overdue_first, start_kind=start_kind, start=start, max_stops=max_stops,
                   max_minutes=max_minutes, return_to_start=return_to_start)


def _area_key(area: Any, errors: Errors) -> int | str | None:
    """An area id (a JSON integer or ASCII digits, within bigint) or a code; None after adding the problem."""
    if isinstance(area, bool) or not isinstance(area, (int, str)) or (isinstance(area, str) and not area.strip()):
        errors.add("area", "must be an area id or code")
        return None
    if isinstance(area, int):
        if not 1 <= area <= validation.ID_MAX:
            errors.add("area", "must be an area id or code")
            return None
        return area
    area = area.strip()
    # ASCII digits only: "²" is a digit to str.isdigit() but not to int().
    if re.fullmatch(r"[0-9]+", area):
        try:
            return validation.id_text(area)
        except ValueError:
            errors.add("area", "must be an area id or code")
            return None
    problem = validation.unstorable(area)
    if problem:
        errors.add("area", problem)
        return None
    return area


def _check_polygon_shape(polygon: Any) -> dict:
    """A GeoJSON Polygon in WGS84 with closed rings of at least four positions (validity is PostGIS's)."""
    if isinstance(polygon, Mapping) and polygon.get("type") == "Feature":
        polygon = polygon.get("geometry")
    if not isinstance(polygon, Mapping) or polygon.get("type") != "Polygon":
        raise InvalidPolygon("it must be a GeoJSON Polygon geometry")
    rings = polygon.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise InvalidPolygon("its coordinates must be a list of linear rings")
    clean, vertices = [], 0
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4:
            raise InvalidPolygon("every ring needs at least four positions (the first repeated at the end)")
        out = []
        for pos in ring:
            if (not isinstance(pos, list) or len(pos) < 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos[:2])):
                raise InvalidPolygon("every position must be [longitude, latitude]")
            lon, lat = float(pos[0]), float(pos[1])
            if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
                raise InvalidPolygon("positions must be longitude in [-180, 180] and latitude in [-90, 90] (WGS84)")
            out.append([lon, lat])
        if out[0] != out[-1]:
            raise InvalidPolygon("every ring must end where it starts")
        vertices += len(out)
        clean.append(out)
    if vertices > POLYGON_MAX_VERTICES:
        raise InvalidPolygon(f"it has {vertices} positions, more than {POLYGON_MAX_VERTICES}")
    return {"type": "Polygon", "coordinates": clean}


# ---------------------------------------------------------------- planning


def communities(conn: psycopg.Connection, actor: Actor) -> list[dict]:
    """The communities the actor may plan a walkabout in (id, code, name, name_en), by name."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_Q["communities"], {"all_areas": _may_see_all(actor),
                                               "area_ids": sorted(actor.area_ids)}).fetchall()


def _may_see_all(actor: Actor) -> bool:
    return actor.role == "admin"


def _office(row: Mapping) -> dict:
    return {"id": row["id"], "code": row["code"], "name": row["name"], "name_en": row["name_en"],
            "level": row["level"], "office": (row["lon"], row["lat"])}


def plan(conn: psycopg.Connection, actor: Actor, payload: Any, settings: Settings | None = None) -> dict:
    """Select the issues to visit, order them into a short walk and store it; returns get()'s answer.

    Refusals: ValidationError / InvalidPolygon / PolygonTooLarge (400), AuthenticationRequired (401),
    PermissionDenied (403), NoOpenIssues / NoStopFits (422, nothing stored).
    """
    started = time.perf_counter()
    settings = settings or Settings.from_env()
    permissions.require(actor, "walkabout.plan")
    req = parse_request(payload)
    all_areas = _may_see_all(actor)
    area_ids = sorted(actor.area_ids)
    geojson = json.dumps(req.polygon) if req.polygon is not None else None

    with conn.transaction():
        if req.area is not None:
            with conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(_Q["area"], {"id": req.area if isinstance(req.area, int) else None,
                                               "code": req.area if isinstance(req.area, str) else None}).fetchone()
            if row is None:
                raise ValidationError({"area": f"there is no area {req.area!r}"})
            home = _office(row)
            permissions.require(actor, "walkabout.plan", {"area_id": home["id"]})
            fallback_office = home["office"]
        else:
            try:
                with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                    check = cur.execute(_Q["polygon"], {"geojson": geojson}).fetchone()
            except (psycopg.errors.DataException, psycopg.errors.InternalError_) as exc:
                # PostGIS's own parse errors of GeoJSON that passed the shape check above.
                raise InvalidPolygon(str(exc).splitlines()[0]) from None
            if not check["valid"]:
                raise InvalidPolygon(check["reason"])
            if check["km2"] > settings.max_area_km2:
                raise PolygonTooLarge(check["km2"], settings.max_area_km2)
            with conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(_Q["polygon_home"], {"geojson": geojson, "all_areas": all_areas,
                                                       "area_ids": area_ids}).fetchone()
            if row is None and not all_areas:
                raise permissions.PermissionDenied(
                    "walkabout.plan", "This polygon lies outside every community you serve.")
            home = _office(row) if row else None
            fallback_office = home["office"] if home else (check["lon"], check["lat"])

        cap = min(req.max_stops or settings.max_stops, settings.max_stops)
        params = {"area_id": home["id"] if req.area is not None else None, "geojson": geojson,
                  "statuses": list(req.statuses), "categories": list(req.categories),
                  "min_age_days": req.min_age_days, "all_areas": all_areas, "area_ids": area_ids,
                  "overdue_first": req.overdue_first, "cap": cap}
        with conn.cursor(row_factory=dict_row) as cur:
            selected = cur.execute(_Q["select_issues"], params).fetchall()
        if not selected:
            raise NoOpenIssues()

        start = req.start or fallback_office
        planned = tour.plan_tour(start, [(r["lon"], r["lat"]) for r in selected],
                                 return_to_start=req.return_to_start, max_minutes=req.max_minutes,
                                 detour=settings.detour, speed_kmh=settings.speed_kmh, dwell_min=settings.dwell_min,
                                 time_budget_s=max(0.0, settings.time_budget_s - (time.perf_counter() - started)))
        if not planned.order:
            raise NoStopFits(req.max_minutes or 0, len(selected))
        # The query stops at the cap; the window count says how many matched in all.
        matched = selected[0]["matched"]
        cut_by = (["max_stops"] if matched > len(selected) else []) + planned.cut_by
        stop_legs = planned.legs[:len(planned.order)]
        back = planned.legs[len(planned.order)] if planned.closed else None
        line = planned.line(start, [(r["lon"], r["lat"]) for r in selected])
        # Always two positions or more (the start and at least one stop), even when they coincide.
        route = {"type": "LineString", "coordinates": [list(p) for p in line]}
        row = conn.execute(_Q["insert_walkabout"], {
            "share_token": secrets.token_urlsafe(16), "selection": "area" if req.area is not None else "polygon",
            "area_id": home["id"] if home else None, "polygon": geojson, "filters": Jsonb(req.filters),
            "start_kind": req.start_kind, "start_lon": start[0], "start_lat": start[1],
            "return_to_start": req.return_to_start, "max_stops": req.max_stops, "max_minutes": req.max_minutes,
            "speed_kmh": settings.speed_kmh, "detour": settings.detour, "dwell_min": settings.dwell_min,
            "planned_by": actor.user_id, "planned_by_label": actor.label, "distance_m": planned.total_m,
            "walk_minutes": planned.walk_minutes, "total_minutes": planned.total_minutes,
            "return_distance_m": back.distance_m if back else None,
            "return_minutes": back.walk_minutes if back else None,
            "left_out": matched - len(planned.order), "cut_by": cut_by, "route": json.dumps(route),
        }).fetchone()
        walkabout_id = row[0]
        conn.execute(_Q["insert_stops"], {
            "walkabout_id": walkabout_id,
            "seqs": list(range(1, len(planned.order) + 1)),
            "issue_ids": [selected[i]["id"] for i in planned.order],
            "distances": [leg.distance_m for leg in stop_legs],
            "minutes": [leg.walk_minutes for leg in stop_legs],
        })
        result = _get(conn, walkabout_id, None)
    log.info("walkabout %s planned by %s: %d stops, %.0f m", walkabout_id, actor.label, len(planned.order),
             planned.total_m)
    return result


# ---------------------------------------------------------------- reading


def _get(conn: psycopg.Connection, walkabout_id: int | None, token: str | None) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        w = cur.execute(_Q["walkabout"], {"id": walkabout_id, "token": token}).fetchone()
        if w is None:
            raise WalkaboutNotFound(walkabout_id if walkabout_id is not None else "with this link")
        stops = cur.execute(_Q["stops"], {"id": w["id"]}).fetchall()
    legs = [{"distance_m": s["leg_distance_m"], "walk_minutes": s["leg_walk_minutes"]} for s in stops]
    return {
        "id": w["id"],
        "share_token": w["share_token"],
        "selection": w["selection"],
        "area": ({"id": w["area_id"], "code": w["area_code"], "name": w["area_name"], "name_en": w["area_name_en"]}
                 if w["area_id"] is not None else None),
        "polygon": w["polygon"],
        "filters": w["filters"],
        "start": {"kind": w["start_kind"], "lon": w["start_lon"], "lat": w["start_lat"]},
        "return_to_start": w["return_to_start"],
        "max_stops": w["max_stops"],
        "max_minutes": w["max_minutes"],
        "speed_kmh": w["speed_kmh"],
        "detour": w["detour"],
        "dwell_min": w["dwell_min"],
        "planned_by": w["planned_by"],
        "planned_by_label": w["planned_by_label"],
        "created_at": w["created_at"],
        "distance_m": w["distance_m"],
        "walk_minutes": w["walk_minutes"],
        "dwell_minutes": w["dwell_min"] * len(stops),
        "total_minutes": w["total_minutes"],
        "return_leg": ({"distance_m": w["return_distance_m"], "walk_minutes": w["return_minutes"]}
                       if w["return_distance_m"] is not None else None),
        "left_out": w["left_out"],
        "cut_by": list(w["cut_by"]),
        "route": w["route"],
        "stops": [{
            "seq": s["seq"], "issue_id": s["issue_id"], "title": s["title"], "category": s["category"],
            "status": s["status"], "version": s["version"], "lon": s["lon"], "lat": s["lat"],
            "overdue": s["overdue"], "leg_distance_m": leg["distance_m"], "leg_walk_minutes": leg["walk_minutes"],
            "visited_at": s["visited_at"], "outcome": s["outcome"], "note": s["note"],
            "from_status": s["from_status"], "to_status": s["to_status"],
        } for s, leg in zip(stops, legs)],
    }


def may_view(actor: Actor, walkabout: Mapping) -> bool:
    """Staff who may plan walkabouts in its community, and whoever planned it."""
    if actor.user_id is not None and walkabout.get("planned_by") == actor.user_id:
        return permissions.may(actor, "walkabout.plan")
    return permissions.may(actor, "walkabout.plan", {"area_id": (walkabout.get("area") or {}).get("id")})


def get(conn: psycopg.Connection, actor: Actor, walkabout_id: int) -> dict:
    """One walkabout with its stops, for staff of its community (and its planner)."""
    permissions.require(actor, "walkabout.plan")
    if not isinstance(walkabout_id, int) or not 1 <= walkabout_id < 2**63:
        raise WalkaboutNotFound(walkabout_id)
    found = _get(conn, walkabout_id, None)
    if not may_view(actor, found):
        raise permissions.PermissionDenied("walkabout.plan", "This walkabout is in a community you do not serve.")
    return found


# What a share link shows: the plan and what was found, without notes or who planned or walked it.
_PRIVATE_KEYS = ("planned_by", "planned_by_label", "share_token")
_PRIVATE_STOP_KEYS = ("note",)


def shared(conn: psycopg.Connection, token: str) -> dict:
    """The read-only public view of a walkabout behind its share link (no notes, no names, no contacts)."""
    if not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9_-]{22}", token):
        raise WalkaboutNotFound("with this link")
    found = _get(conn, None, token)
    return public_view(found)


def public_view(walkabout: Mapping) -> dict:
    """A walkabout without what only staff see."""
    out = {k: v for k, v in walkabout.items() if k not in _PRIVATE_KEYS}
    out["stops"] = [{k: v for k, v in s.items() if k not in _PRIVATE_STOP_KEYS} for s in walkabout["stops"]]
    return out


def by_token(conn: psycopg.Connection, token: str) -> dict:
    """The full walkabout behind a share token (the web layer decides what the viewer sees)."""
    if not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9_-]{22}", token):
        raise WalkaboutNotFound("with this link")
    return _get(conn, None, token)


# ---------------------------------------------------------------- on the walk


def visit(conn: psycopg.Connection, actor: Actor, walkabout_id: int, seq: Any, outcome: Any,
          note: Any = None, version: Any = None) -> dict:
    """Mark one stop visited / confirmed / fixed / not_found, with a note.

    One transaction: a "visited" issue_events row (issues.record_visit), the transition OUTCOME_STEPS
    gives for the issue's current status (issues.transition: VersionConflict 409 when `version` is stale,
    TransitionNotAllowed 422 when the lifecycle has no such step), and the stop row. Returns the stop.
    """
    permissions.require(actor, "walkabout.record_visit")
    errors = Errors()
    if outcome not in OUTCOMES:
        errors.add("outcome", f"must be one of {', '.join(OUTCOMES)}")
    if note is not None:
        try:
            note = validation.text(note, max_length=NOTE_MAX, min_length=0) or None
        except ValueError as exc:
            errors.add("note", str(exc))
    if version is not None:
        try:
            version = validation.integer(version, minimum=1)
        except ValueError as exc:
            errors.add("version", str(exc))
    try:
        seq = validation.integer(seq, minimum=1)
    except ValueError:
        raise StopNotFound(walkabout_id, seq) from None
    errors.raise_if_any()
    if not isinstance(walkabout_id, int) or not 1 <= walkabout_id < 2**63:
        raise WalkaboutNotFound(walkabout_id)

    with conn.transaction():
        row = conn.execute("SELECT id FROM walkabouts WHERE id = %s", (walkabout_id,)).fetchone()
        if row is None:
            raise WalkaboutNotFound(walkabout_id)
        stop = conn.execute(_Q["stop_for_update"], {"id": walkabout_id, "seq": seq}).fetchone()
        if stop is None:
            raise StopNotFound(walkabout_id, seq)
        issue_id = stop[0]
        issue = issues.load(conn, issue_id)
        permissions.require(actor, "walkabout.record_visit", issue)
        if version is not None and version != issue.version:
            raise issues.VersionConflict(issue.id, version, issue.version, issue.status)
        steps = OUTCOME_STEPS[outcome]
        if issue.status not in steps:
            target = "resolved" if outcome == "fixed" else "rejected"
            raise issues.TransitionNotAllowed(issue.status, target, (
                f"Issue {issue.id} is {issue.status!r}: marking it {outcome.replace('_', ' ')} would make it "
                f"{target!r}, which its lifecycle does not allow from {issue.status!r}. Mark it visited with a note "
                "instead."))
        to = steps[issue.status]
        event_id = issues.record_visit(conn, actor, issue.id, note,
                                       {"walkabout_id": walkabout_id, "seq": seq, "outcome": outcome})
        if to is not None:
            issues.transition(conn, actor, issue.id, to, issue.version)
        conn.execute(_Q["mark_stop"], {
            "id": walkabout_id, "seq": seq, "outcome": outcome, "note": note, "user_id": actor.user_id,
            "event_id": event_id, "from_status": issue.status if to else None, "to_status": to,
        })
        after = issues.load(conn, issue.id)
    log.info("walkabout %s stop %s (issue %s): %s%s", walkabout_id, seq, issue.id, outcome,
             f", {issue.status} -> {to}" if to else "")
    return {"walkabout_id": walkabout_id, "seq": seq, "issue_id": issue.id, "outcome": outcome, "note": note,
            "event_id": event_id, "from_status": issue.status if to else None, "to_status": to,
            "status": after.status, "version": after.version}
