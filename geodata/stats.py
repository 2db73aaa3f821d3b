"""The officials' dashboard statistics: the three 12345 rates, backlog, weekly series, time to resolve.

Everything is computed in PostgreSQL. Each figure is a sum over issues of a per-issue contribution
(`stats_issue_facts`, migration 0007), kept in a weekly rollup (`stats_week`): statement-level triggers
queue each change and fold() moves the queue into the rollup before it is read (migration 0012);
the days at the edges of a period and any status-filtered selection are read from the issues directly.
Definitions, the rollup design and measured figures: docs/statistics.md.

    python -m geodata.stats configure [--time-zone Asia/Shanghai] [--response-hours 24]
    python -m geodata.stats fold
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from geodata import permissions, validation
from geodata.issues import STATUSES
from geodata.permissions import Actor
from geodata.validation import ValidationError

log = logging.getLogger(__name__)

# Lower edges (hours) of the time-to-resolve histogram buckets: the same list as stats_hour_edges().
HOUR_EDGES = (0, 1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 30, 36, 42, 48, 60, 72, 84, 96, 120, 144, 168, 216, 264,
              336, 432, 528, 720, 1080, 1440, 2160, 4320, 8760)
HIST = tuple(f"h{k:02d}" for k in range(1, len(HOUR_EDGES) + 1))
SUMS = ("opened", "acked", "resolved", "in_sla", "rated", "satisfied", "timed")
DEFAULT_DAYS = 30
MAX_DAYS = 3660
OLDEST_LIMIT = 10
# Up to this many resolved issues in the selection, median and p90 are exact (percentile_cont over the
# issues); above it they are interpolated in the rollup's histogram (docs/statistics.md: accuracy).
EXACT_PERCENTILES_MAX = int(os.environ.get("STATS_EXACT_PERCENTILES_MAX", "20000"))
PARTY_KINDS = ("government", "social_work", "volunteer_group")
METRIC_KEYS = ("opened", "resolved", "backlog", "backlog_at_end", "response_rate", "resolution_rate",
               "satisfaction_rate", "resolved_within_sla", "median_hours_to_resolve", "p90_hours_to_resolve")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# ---------------------------------------------------------------- errors


class StatsError(ValidationError):
    """A filter of the statistics is wrong (400); `fields` names it."""

    def __init__(self, field: str, message: str):
        super().__init__({field: message}, message)


class UnknownArea(StatsError):
    def __init__(self, value: Any):
        super().__init__("area", f"There is no area {value!r} (give an area id or code).")


class UnknownCategory(StatsError):
    def __init__(self, value: Any):
        super().__init__("category", f"There is no category {value!r}.")


class UnknownStatus(StatsError):
    def __init__(self, value: Any):
        super().__init__("status", f"Unknown status {value!r}; expected one of {', '.join(STATUSES)}.")


class InvalidPeriod(StatsError):
    """A malformed date, or a period whose end is before its start (or longer than ten years)."""


# ---------------------------------------------------------------- filters


@dataclass(frozen=True)
class StatsFilter:
    """What the statistics are about. since/until are local dates, both included; None: the last 30 days."""

    area: int | str | None = None
    category: str | None = None
    since: date | None = None
    until: date | None = None
    status: str | None = None

    QUERY_KEYS = ("area", "category", "since", "until", "status")

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> StatsFilter:
        """Parse ?area=&category=&since=&until=&status= (dates as YYYY-MM-DD)."""
        values: dict[str, Any] = {}
        for name in ("area", "category", "status"):
            text = (args.get(name) or "").strip()
            # PostgreSQL text cannot hold NUL, and no code has a control character.
            if validation.has_control_characters(text):
                raise StatsError(name, "must not contain control characters")
            if text:
                values[name] = text
        area = values.get("area")
        # ASCII digits are an id, anything else a code: isdigit() alone takes "²" and "٣", which int() refuses
        # or reads as 3.
        if area is not None and re.fullmatch(r"[0-9]+", area):
            try:
                values["area"] = validation.id_text(area)
            except ValueError as exc:
                raise StatsError("area", str(exc)) from None
        for name in ("since", "until"):
            text = (args.get(name) or "").strip()
            if text:
                values[name] = parse_date(name, text)
        return cls(**values)


def parse_date(name: str, text: str) -> date:
    """A calendar date written YYYY-MM-DD, in the years validation.YEARS."""
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidPeriod(name, f"{name} must be a date written YYYY-MM-DD, e.g. 2026-05-01 (got {text!r}).") from None
    # The period's arithmetic (30 days back, the day after, whole weeks around it) overflows near years 1 and 9999.
    low, high = validation.YEARS
    if not low <= day.year <= high:
        raise InvalidPeriod(name, f"must be a date between {low} and {high}")
    return day


@dataclass(frozen=True)
class _Plan:
    """Where each part of a request is read from."""

    params: dict
    issue_filter: sql.Composable
    rollup_filter: sql.Composable


# ---------------------------------------------------------------- SQL


@cache
def _sql_text(name: str) -> str:
    return resources.files("geodata").joinpath(name).read_text(encoding="utf-8")


@cache
def _details(name: str) -> str:
    """One named statement of stats_details.sql ("-- name: x" starts each)."""
    text = _sql_text("stats_details.sql")
    for part in text.split("-- name: ")[1:]:
        head, _, body = part.partition("\n")
        if head.strip() == name:
            return body.strip().rstrip(";")
    raise KeyError(name)


def _hist_parts() -> dict[str, sql.Composable]:
    ident = [sql.Identifier(h) for h in HIST]
    return {
        "raw_hist": sql.SQL(", ").join(
            sql.SQL("(f.bucket = {k})::int AS {h}").format(k=sql.Literal(k), h=h) for k, h in enumerate(ident, 1)),
        "roll_hist": sql.SQL(", ").join(sql.SQL("w.{}").format(h) for h in ident),
        "hist_cols": sql.SQL(", ").join(sql.SQL("g.{}").format(h) for h in ident),
        "cohort_sums": sql.SQL(", ").join(
            sql.SQL("sum({c}) AS {c}").format(c=sql.Identifier(c)) for c in (*SUMS, *HIST)),
        "zero_sums": sql.SQL(", ").join(sql.SQL("0") for _ in (*SUMS, *HIST)),
        "resums": sql.SQL(", ").join(
            sql.SQL("COALESCE(sum({c}), 0)::bigint AS {c}").format(c=sql.Identifier(c))
            for c in (*SUMS, *HIST, "backlog", "opened_after", "finished_after")),
    }


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _settings(conn: psycopg.Connection) -> tuple[str, timedelta, date]:
    """The rollup's time zone, the response deadline, and today's local date."""
    tz, deadline, today = conn.execute(
        "SELECT time_zone, response_deadline, (now() AT TIME ZONE time_zone)::date FROM stats_settings").fetchone()
    return tz, deadline, today


def _resolve_areas(conn: psycopg.Connection, actor: Actor | None, allowed: frozenset[int] | None,
                   area: int | str | None) -> tuple[list[int] | None, dict | None]:
    """The community ids to count (None: all) and the chosen area; checks the area against the scope."""
    if actor is not None:
        permissions.require(actor, "dashboard.view")
        if actor.role != "admin":
            allowed = frozenset(actor.area_ids)
    chosen = None
    if area is not None:
        # Digits are an id, anything else a code (as /api/issues and the dashboard read them).
        if isinstance(area, int):
            row = conn.execute("SELECT id, code, name, name_en, level FROM areas WHERE id = %s",
                               (area if area < 2**63 else None,)).fetchone()
        else:
            row = conn.execute("SELECT id, code, name, name_en, level FROM areas WHERE code = %s", (area,)).fetchone()
        if row is None:
            raise UnknownArea(area)
        chosen = dict(zip(("id", "code", "name", "name_en", "level"), row))
        if allowed is not None and chosen["id"] not in allowed:
            raise permissions.PermissionDenied("dashboard.view", "This area is outside the areas you serve.")
        tree = [r[0] for r in conn.execute(
            "WITH RECURSIVE tree AS (SELECT id FROM areas WHERE id = %s"
            " UNION SELECT a.id FROM areas a JOIN tree ON a.parent_id = tree.id) SELECT id FROM tree",
            (chosen["id"],))]
        ids = set(tree) if allowed is None else set(tree) & allowed
    elif allowed is not None:
        ids = set(allowed)
    else:
        return None, None
    # Every community chosen: the unfiltered rollup levels answer it (a district official's whole area).
    missing = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM areas WHERE level = 'community' AND NOT (id = ANY (%s)))",
        (sorted(ids),)).fetchone()[0]
    return (None if not missing else sorted(ids)), chosen


def _plan(filters: StatsFilter, area_ids: list[int] | None, tz: str, deadline: timedelta, today: date,
          force_plain: bool) -> _Plan:
    since = filters.since
    until = filters.until or today
    if since is None:
        since = until - timedelta(days=DEFAULT_DAYS - 1)
    if until < since:
        raise InvalidPeriod("until", f"The period ends ({until}) before it starts ({since}).")
    if (until - since).days >= MAX_DAYS:
        raise InvalidPeriod("since", f"The period may be at most {MAX_DAYS} days long.")
    until_excl = until + timedelta(days=1)
    rollup = filters.status is None and not force_plain
    if rollup:
        full_from = since if since.weekday() == 0 else _monday(since) + timedelta(days=7)
        full_to = _monday(until_excl)
        if full_to <= full_from:
            full_from = full_to = until_excl
        after_to = until_excl if until_excl.weekday() == 0 else _monday(until_excl) + timedelta(days=7)
    else:
        full_from = full_to = until_excl
        after_to = None
    # The coarsest level a view can use: community (1), category (2), party (4), or all three keys (3).
    level_a = 3 if filters.category else 1
    level_c = 3 if area_ids is not None else 2
    level_p = 3 if (filters.category or area_ids is not None) else 4
    level_w = 3 if (filters.category and area_ids is not None) else (1 if area_ids is not None else 2)
    issue_parts: list[sql.Composable] = []
    rollup_parts: list[sql.Composable] = []
    if area_ids is not None:
        issue_parts.append(sql.SQL("c.area_id = ANY (%(area_ids)s)"))
        rollup_parts.append(sql.SQL("w.area_id = ANY (%(area_ids)s)"))
    if filters.category:
        issue_parts.append(sql.SQL("c.category = %(category)s"))
        rollup_parts.append(sql.SQL("w.category = %(category)s"))
    if filters.status:
        issue_parts.append(sql.SQL("c.status = %(status)s"))
    zone = ZoneInfo(tz)

    def instant(day: date | None) -> datetime:
        # Local midnight; None: no end (a plain run reads everything after the period from the issues).
        return datetime.combine(day, time(0), zone) if day else datetime.max.replace(tzinfo=timezone.utc)

    params = {
        "since": since, "until": until, "full_from": full_from, "full_to": full_to, "after_to": after_to,
        "start_ts": instant(since), "full_from_ts": instant(full_from), "full_to_ts": instant(full_to),
        "end_ts": instant(until_excl), "after_to_ts": instant(after_to), "tz": tz, "deadline": deadline,
        "rollup": rollup, "level_a": level_a, "level_c": level_c, "level_p": level_p, "level_w": level_w,
        "area_ids": area_ids, "category": filters.category, "status": filters.status,
        "first_week": _monday(since), "last_week": _monday(until),
    }
    return _Plan(params, sql.SQL(" AND ").join(issue_parts) if issue_parts else sql.SQL("true"),
                 sql.SQL(" AND ").join(rollup_parts) if rollup_parts else sql.SQL("true"))


def _check_names(conn: psycopg.Connection, filters: StatsFilter) -> None:
    if filters.status is not None and filters.status not in STATUSES:
        raise UnknownStatus(filters.status)
    if filters.category is not None:
        if not conn.execute("SELECT 1 FROM categories WHERE code = %s", (filters.category,)).fetchone():
            raise UnknownCategory(filters.category)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _metrics(row: Mapping[str, Any]) -> dict:
    return {
        "opened": int(row["opened"]),
        "resolved": int(row["resolved"]),
        "backlog": int(row["backlog"]),
        "backlog_at_end": int(row["backlog_at_end"]),
        "response_rate": _ratio(row["acked"], row["opened"]),
        "resolution_rate": _ratio(row["resolved"], row["opened"]),
        "satisfaction_rate": _ratio(row["satisfied"], row["rated"]),
        "resolved_within_sla": _ratio(row["in_sla"], row["resolved"]),
        "median_hours_to_resolve": _hours(row["median_hours"]),
        "p90_hours_to_resolve": _hours(row["p90_hours"]),
        # Denominators and numerators beside the rates, so that a reader can weigh them.
        "acknowledged_in_time": int(row["acked"]),
        "rated": int(row["rated"]),
        "rated_4_or_5": int(row["satisfied"]),
        "resolved_in_sla": int(row["in_sla"]),
    }


def _hours(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


# ---------------------------------------------------------------- the statistics


def dashboard(conn: psycopg.Connection, filters: StatsFilter | Mapping[str, str] | None = None, *,
              actor: Actor | None = None, allowed_area_ids: frozenset[int] | None = None,
              plain: bool = False) -> dict:
    """The dashboard's statistics for the filters, as the JSON of GET /api/stats.

    Scope: with an actor, dashboard.view decides (admins see everything, officials and social workers their
    areas); without one, allowed_area_ids (None: everything). An area outside the scope raises
    PermissionDenied; unknown area, category or status and a bad period raise StatsError (400).
    plain=True reads everything from the issues (the reference the rollup is tested against).
    """
    if filters is None:
        filters = StatsFilter()
    elif not isinstance(filters, StatsFilter):
        filters = StatsFilter.from_query(filters)
    _check_names(conn, filters)
    area_ids, chosen = _resolve_areas(conn, actor, allowed_area_ids, filters.area)
    tz, deadline, today = _settings(conn)
    plan = _plan(filters, area_ids, tz, deadline, today, plain)
    params = plan.params
    if area_ids is not None and not area_ids:
        # A scope with no communities at all: nothing to count (ANY of an empty array would match none anyway).
        params["area_ids"] = [0]
    fmt = {"issue_filter": plan.issue_filter, "rollup_filter": plan.rollup_filter, **_hist_parts()}

    if params["rollup"]:
        fold(conn)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # A few hundred milliseconds at most: compiling them with JIT would cost more than it saves.
        cur.execute("SET LOCAL jit = off")
        rows = cur.execute(sql.SQL(_sql_text("stats_cells.sql")).format(**fmt), params).fetchall()
        weekly = cur.execute(sql.SQL(_sql_text("stats_weekly.sql")).format(**fmt), params).fetchall()
        oldest = cur.execute(sql.SQL(_details("oldest_open")).format(**fmt),
                             {**params, "limit": OLDEST_LIMIT}).fetchall()
        reopened = cur.execute(sql.SQL(_details("reopened")).format(**fmt), params).fetchone()["count"]
        total = next(r for r in rows if r["grp"] == "total")
        if 0 < total["timed"] <= EXACT_PERCENTILES_MAX:
            exact = cur.execute(sql.SQL(_details("exact_percentiles")).format(**fmt), params).fetchall()
            _apply_exact(rows, exact)
        names = _names(cur, rows)

    by_area, by_category, by_party = [], [], []
    kinds = {kind: 0 for kind in (*PARTY_KINDS, "unassigned")}
    for row in rows:
        metrics = _metrics(row)
        if row["grp"] == "area":
            area = names["areas"].get(row["id"], {})
            by_area.append({"area_id": row["id"], "code": area.get("code"), "name": area.get("name"),
                            "name_en": area.get("name_en"), **metrics})
        elif row["grp"] == "category":
            cat = names["categories"].get(row["category"], {})
            by_category.append({"category": row["category"], "name": cat.get("name"),
                                "name_en": cat.get("name_en"), **metrics})
        elif row["grp"] == "party":
            party = names["parties"].get(row["id"])
            kind = party["kind"] if party else "unassigned"
            kinds[kind] = kinds.get(kind, 0) + metrics["resolved"]
            by_party.append({"party_id": row["id"] or None, "name": party["name"] if party else None,
                             "kind": kind, **metrics})
    by_area.sort(key=lambda r: (r["code"] or "", r["area_id"]))
    by_category.sort(key=lambda r: (names["categories"].get(r["category"], {}).get("sort_order", 0), r["category"]))
    by_party.sort(key=lambda r: (r["party_id"] is None, r["kind"], r["name"] or "", r["party_id"] or 0))
    totals = _metrics(total)
    totals["reopened"] = int(reopened)
    totals["resolved_in_period"] = sum(int(w["resolved"]) for w in weekly)
    return {
        "filters": {
            "area": chosen["code"] if chosen else None,
            "category": filters.category,
            "since": params["since"].isoformat(),
            "until": params["until"].isoformat(),
            "status": filters.status,
        },
        "totals": totals,
        "by_area": by_area,
        "by_category": by_category,
        "by_party": by_party,
        "resolved_by_party_kind": kinds,
        "weekly": [{"week": w["week"], "opened": int(w["opened"]), "resolved": int(w["resolved"])} for w in weekly],
        "oldest_open": [dict(r) for r in oldest],
        "definitions": {"response_deadline_hours": deadline.total_seconds() / 3600,
                        "percentiles": "exact" if total["timed"] <= EXACT_PERCENTILES_MAX else "histogram",
                        "source": "rollup" if params["rollup"] else "issues"},
    }


def _apply_exact(rows: list[dict], exact: list[dict]) -> None:
    """Replace the histogram percentiles by exact ones, group by group."""
    found = {}
    for e in exact:
        key = {"area": e["area_id"], "category": e["category"], "party": e["party_id"], "total": None}[e["grp"]]
        found[(e["grp"], key)] = e
    for row in rows:
        key = row["category"] if row["grp"] == "category" else row["id"]
        e = found.get((row["grp"], key))
        row["median_hours"] = e["median_hours"] if e else None
        row["p90_hours"] = e["p90_hours"] if e else None


def _names(cur, rows: list[dict]) -> dict:
    area_ids = sorted({r["id"] for r in rows if r["grp"] == "area"})
    party_ids = sorted({r["id"] for r in rows if r["grp"] == "party" and r["id"]})
    areas = {r["id"]: r for r in cur.execute(
        "SELECT id, code, name, name_en FROM areas WHERE id = ANY (%s)", (area_ids,))}
    categories = {r["code"]: r for r in cur.execute("SELECT code, name, name_en, sort_order FROM categories")}
    parties = {r["id"]: r for r in cur.execute(
        "SELECT id, name, kind FROM parties WHERE id = ANY (%s)", (party_ids,))}
    return {"areas": areas, "categories": categories, "parties": parties}


def fold(conn: psycopg.Connection) -> int:
    """Fold the queued changes of issues into the rollup (migration 0012) and commit; returns how many."""
    with conn.transaction():
        folded = conn.execute("SELECT stats_fold()").fetchone()[0]
    if folded:
        log.debug("statistics: %s queued change(s) folded into the rollup", folded)
    return int(folded)


# ---------------------------------------------------------------- settings


def configure(conn: psycopg.Connection, *, time_zone: str | None = None, response_hours: float | None = None) -> bool:
    """Change the rollup's time zone or response deadline and rebuild it; returns whether anything changed."""
    with conn.transaction():
        tz, deadline, _ = _settings(conn)
        hours = deadline.total_seconds() / 3600
        new_tz = time_zone or tz
        new_hours = float(response_hours) if response_hours is not None else hours
        if new_hours <= 0:
            raise StatsError("response_hours", "The response deadline must be positive.")
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = %s)", (new_tz,)).fetchone()[0]:
            raise StatsError("time_zone", f"Unknown time zone {new_tz!r}.")
        if (new_tz, new_hours) == (tz, hours):
            return False
        conn.execute("UPDATE stats_settings SET time_zone = %s, response_deadline = make_interval(secs => %s)",
                     (new_tz, new_hours * 3600))
        conn.execute("SELECT stats_rebuild()")
    log.info("statistics: time zone %s, response deadline %s h; rollup rebuilt", new_tz, new_hours)
    return True


def main(argv: list[str] | None = None) -> int:
    """python -m geodata.stats configure [--time-zone TZ] [--response-hours H] | fold"""
    from geodata import db

    parser = argparse.ArgumentParser(prog="python -m geodata.stats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cfg = sub.add_parser("configure", help="set the time zone of weeks and the response deadline; rebuild the rollup")
    cfg.add_argument("--time-zone", default=os.environ.get("TIMEZONE"))
    cfg.add_argument("--response-hours", type=float, default=None)
    sub.add_parser("fold", help="fold the queued changes of issues into the rollup now (the statistics do it"
                               " before they read it; this keeps the queue short where nothing reads them)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with db.connect(autocommit=True) as conn:
        if args.command == "fold":
            print(f"{fold(conn)} queued change(s) folded")
            return 0
        changed = configure(conn, time_zone=args.time_zone, response_hours=args.response_hours)
    print("rollup rebuilt" if changed else "settings unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
