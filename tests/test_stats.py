"""Dashboard statistics (geodata/stats.py, GET /api/stats) against figures computed by hand.

The fixture drives each issue through the real lifecycle (issues.report / issues.transition), then moves
its timestamps to the fixture's clock (the lifecycle stamps now()), so every figure below can be worked
out on paper. Times are Beijing time (+08:00), the rollup's time zone.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from geodata import issues, stats
from geodata.permissions import Actor, AuthenticationRequired, PermissionDenied
from tests import helpers
from tests.issues_world import IN_BIG, IN_FAR, IN_SMALL, world  # noqa: F401  (fixture)

CST = timezone(timedelta(hours=8))
PERIOD = {"since": "2026-03-02", "until": "2026-03-15"}  # two whole ISO weeks, Monday to Sunday


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def drive(w, issue_id, *steps):
    """Transitions as admin: ("assigned", party) assigns, ("closed", rating) closes with a rating."""
    for step in steps:
        to, extra = (step, None) if isinstance(step, str) else step
        kwargs = {"party_id": extra} if to == "assigned" else {"satisfaction": extra} if to == "closed" else {}
        issue = issues.load(w.conn, issue_id)
        issues.transition(w.conn, w.actors["admin"], issue_id, to, issue.version, **kwargs)


def clock(w, issue_id, created, ack=None, resolved=None, closed=None, sla_hours=48):
    """Move the issue's times to the fixture's clock (one UPDATE, as any write: the rollup follows it)."""
    created = at(created)
    w.conn.execute(
        "UPDATE issues SET created_at = %s, due_at = %s, acknowledged_at = %s, resolved_at = %s, closed_at = %s"
        " WHERE id = %s",
        (created, created + timedelta(hours=sla_hours), ack and at(ack), resolved and at(resolved),
         closed and at(closed), issue_id))


@pytest.fixture
def fx(world):  # noqa: F811
    w = world
    conn = w.conn
    gov = conn.execute("INSERT INTO parties (kind, name, area_id) VALUES ('government', '城管科', %s) RETURNING id",
                       (w.big,)).fetchone()[0]
    vol, sw = w.party, w.other_party  # volunteer group, social work organisation

    def new(point=IN_BIG, category="litter"):
        return w.report(point=point, category=category).issue.id

    ids = {}
    # A: answered in 1 h, resolved in 24 h (within its 48 h SLA) by the volunteers, rated 5.
    ids["A"] = new()
    drive(w, ids["A"], "confirmed", ("assigned", vol), "in_progress", "resolved", ("closed", 5))
    clock(w, ids["A"], "2026-03-02 09:00", ack="2026-03-02 10:00", resolved="2026-03-03 09:00",
          closed="2026-03-03 12:00")
    # B: answered in 1 h, resolved, reopened, resolved again at 72 h (past its SLA) by the social workers, rated 4.
    ids["B"] = new(IN_SMALL, "noise")
    drive(w, ids["B"], "confirmed", ("assigned", vol), "in_progress", "resolved", "reopened", "confirmed",
          ("assigned", sw), "in_progress", "resolved", ("closed", 4))
    clock(w, ids["B"], "2026-03-03 08:00", ack="2026-03-03 09:00", resolved="2026-03-06 08:00",
          closed="2026-03-06 10:00")
    # C: rejected after 1 h.
    ids["C"] = new()
    drive(w, ids["C"], "rejected")
    clock(w, ids["C"], "2026-03-04 12:00", ack="2026-03-04 13:00", closed="2026-03-04 13:00")
    # D: never acknowledged.
    ids["D"] = new()
    clock(w, ids["D"], "2026-03-05 10:00")
    # E: acknowledged late (30 h), resolved at exactly its SLA (48 h) by the government, rated 3.
    ids["E"] = new()
    drive(w, ids["E"], "confirmed", ("assigned", gov), "in_progress", "resolved", ("closed", 3))
    clock(w, ids["E"], "2026-03-09 10:00", ack="2026-03-10 16:00", resolved="2026-03-11 10:00",
          closed="2026-03-11 12:00")
    # F: answered, with the government, in progress.
    ids["F"] = new(category="noise")
    drive(w, ids["F"], "confirmed", ("assigned", gov), "in_progress")
    clock(w, ids["F"], "2026-03-10 10:00", ack="2026-03-10 11:00")
    # G: in another community (outside the official's areas), resolved in 12 h by the volunteers, not yet confirmed.
    ids["G"] = new(IN_FAR)
    drive(w, ids["G"], "confirmed", ("assigned", vol), "in_progress", "resolved")
    clock(w, ids["G"], "2026-03-12 10:00", ack="2026-03-12 10:30", resolved="2026-03-12 22:00")
    # H: opened before the period, still in progress; I: opened after it, not yet seen.
    ids["H"] = new()
    drive(w, ids["H"], "confirmed", ("assigned", gov), "in_progress")
    clock(w, ids["H"], "2026-02-25 10:00", ack="2026-02-25 11:00")
    ids["I"] = new()
    clock(w, ids["I"], "2026-03-20 10:00")
    # The world's first report: long ago and rejected, outside every figure but the plain history.
    drive(w, w.canonical, "rejected")
    clock(w, w.canonical, "2025-01-05 10:00", ack="2025-01-05 11:00", closed="2025-01-05 11:00")
    w.ids, w.gov = ids, gov
    return w


def admin(w):
    return w.actors["admin"]


def test_the_three_rates_and_time_to_resolve_by_hand(fx):
    for plain in (False, True):
        out = stats.dashboard(fx.conn, PERIOD, actor=admin(fx), plain=plain)
        t = out["totals"]
        assert (t["opened"], t["resolved"]) == (7, 4)  # A..G; resolved: A, B, E, G
        assert t["response_rate"] == pytest.approx(5 / 7)  # D never, E after 30 h
        assert t["resolution_rate"] == pytest.approx(4 / 7)
        assert t["satisfaction_rate"] == pytest.approx(2 / 3)  # ratings 5, 4, 3
        assert t["resolved_within_sla"] == pytest.approx(3 / 4)  # B's last resolution is past due
        # Hours to the last resolution: 12 (G), 24 (A), 48 (E), 72 (B, reopened once).
        assert t["median_hours_to_resolve"] == pytest.approx(36.0)
        assert t["p90_hours_to_resolve"] == pytest.approx(64.8)  # 48 + 0.7 x 24 (percentile_cont)
        assert t["reopened"] == 1
        assert (t["backlog"], t["backlog_at_end"]) == (4, 3)  # now D, F, H, I; at the end D, F, H
        assert out["resolved_by_party_kind"] == {"government": 1, "social_work": 1, "volunteer_group": 2,
                                                 "unassigned": 0}
        assert out["weekly"] == [{"week": "2026-03-02", "opened": 4, "resolved": 2},
                                 {"week": "2026-03-09", "opened": 3, "resolved": 2}]
        assert out["filters"] == {"area": None, "category": None, "since": "2026-03-02", "until": "2026-03-15",
                                  "status": None}
        cats = {c["category"]: c for c in out["by_category"]}
        assert set(cats) == {"litter", "noise"}
        assert (cats["noise"]["opened"], cats["noise"]["resolved"], cats["noise"]["backlog"]) == (2, 1, 1)
        assert cats["noise"]["median_hours_to_resolve"] == pytest.approx(72.0)
        parties = {p["kind"]: p for p in out["by_party"]}
        assert parties["government"]["resolved"] == 1 and parties["government"]["backlog"] == 2  # F, H
        assert parties["unassigned"]["party_id"] is None and parties["unassigned"]["backlog"] == 2  # D, I
        areas = {a["code"]: a for a in out["by_area"]}
        assert areas["C-FAR"]["opened"] == 1 and areas["C-FAR"]["response_rate"] == 1.0
        assert areas["C-FAR"]["satisfaction_rate"] is None  # no confirmed closure there
        assert [o["title"] for o in out["oldest_open"]][:1] and out["oldest_open"][0]["id"] == fx.ids["H"]
        assert [o["id"] for o in out["oldest_open"]] == [fx.ids[k] for k in ("H", "D", "F", "I")]
        assert "reporter_contact" not in out["oldest_open"][0] and "contact" not in str(out["oldest_open"])


def test_histogram_percentiles_stay_within_their_buckets(fx, monkeypatch):
    monkeypatch.setattr(stats, "EXACT_PERCENTILES_MAX", 0)
    t = stats.dashboard(fx.conn, PERIOD, actor=admin(fx))["totals"]
    # Rank 2 of 4 falls in the 24-30 h bucket (A), rank 3.6 in 72-84 h (B): interpolated inside them.
    assert 24 <= t["median_hours_to_resolve"] <= 30
    assert 72 <= t["p90_hours_to_resolve"] <= 84


def test_partial_weeks_and_a_status_filter(fx):
    out = stats.dashboard(fx.conn, {"since": "2026-03-04", "until": "2026-03-11"}, actor=admin(fx))
    t = out["totals"]
    assert t["opened"] == 4  # C, D, E, F
    assert t["resolved"] == 1 and t["median_hours_to_resolve"] == pytest.approx(48.0)
    # At the end (Mar 12 00:00): D, F, H open; E resolved on the 11th.
    assert t["backlog_at_end"] == 3
    assert out["weekly"] == [{"week": "2026-03-02", "opened": 2, "resolved": 1},  # B's last resolution (6th)
                             {"week": "2026-03-09", "opened": 2, "resolved": 1}]  # E (11th)
    closed = stats.dashboard(fx.conn, {**PERIOD, "status": "closed"}, actor=admin(fx))["totals"]
    assert (closed["opened"], closed["resolved"], closed["backlog"]) == (3, 3, 0)


def test_rollup_equals_the_plain_query_after_reports_and_transitions(fx):
    w = fx
    # More changes after the fixture: new reports today, one resolved, one reopened, one moved to other hands.
    fresh = [w.report(point=p).issue.id for p in (IN_BIG, IN_SMALL, IN_FAR, IN_BIG)]
    drive(w, fresh[0], "confirmed", ("assigned", w.gov), "in_progress", "resolved")
    drive(w, fresh[1], "confirmed", ("assigned", w.party), "in_progress", "resolved", "reopened")
    drive(w, fresh[2], "rejected")
    drive(w, w.ids["G"], ("closed", 2))
    issues.comment(w.conn, w.actors["admin"], fresh[3], "on my way")
    today = datetime.now(CST).date()
    periods = [PERIOD, {"since": "2026-03-04", "until": "2026-03-11"}, {"since": "2026-02-20", "until": "2026-03-05"},
               {"since": str(today - timedelta(days=9)), "until": str(today)}, {}]
    scopes = [{}, {"category": "litter"}, {"area": "S1"}, {"area": "C-BIG", "category": "noise"}]
    for period in periods:
        for scope in scopes:
            args = {**period, **scope}
            fast = stats.dashboard(w.conn, args, actor=admin(w))
            plain = stats.dashboard(w.conn, args, actor=admin(w), plain=True)
            fast.pop("definitions"), plain.pop("definitions")
            assert fast == plain, args
    # The rollup itself equals a rebuild from the issues.
    before = _rollup(w.conn)
    w.conn.execute("SELECT stats_rebuild()")
    after = w.conn.execute("SELECT * FROM stats_week ORDER BY 1, 2, 3, 4, 5, 6").fetchall()
    assert before == after


def _rollup(conn):
    conn.execute("SELECT stats_fold()")
    return conn.execute("SELECT * FROM stats_week WHERE opened <> 0 OR finished_resolved <> 0"
                        " OR finished_dropped <> 0 ORDER BY 1, 2, 3, 4, 5, 6").fetchall()


def test_rollup_follows_bulk_statements_as_an_import_writes_them(fx):
    w = fx
    conn = w.conn
    # 3,000 issues in one INSERT, spread over 40 weeks, two communities, three parties and every status an
    # import brings (open, resolved, closed with and without a rating, rejected).
    conn.execute(
        """INSERT INTO issues (category, title, description, geom, area_id, status, created_at, due_at,
                               acknowledged_at, resolved_at, closed_at, satisfaction, assigned_party_id, source)
           SELECT (ARRAY['litter', 'noise'])[1 + mod(g, 2)], 'bulk', 'bulk', i.geom, i.area_id,
                  (ARRAY['reported', 'resolved', 'closed', 'closed', 'rejected'])[1 + mod(g, 5)],
                  t, t + interval '48 hours', t + (mod(g, 30)) * interval '1 hour',
                  CASE WHEN mod(g, 5) IN (1, 2, 3) THEN t + (mod(g, 200)) * interval '1 hour' END,
                  CASE WHEN mod(g, 5) IN (2, 3, 4) THEN t + (mod(g, 200) + 1) * interval '1 hour' END,
                  CASE WHEN mod(g, 5) = 2 THEN 1 + mod(g, 5) END,
                  (ARRAY[%s, %s, %s, NULL]::bigint[])[1 + mod(g, 4)], 'import'
           FROM generate_series(1, 3000) g
           CROSS JOIN LATERAL (SELECT timestamptz '2025-06-02 08:00+08' + (mod(g, 280)) * interval '1 day'
                                      + (mod(g, 24)) * interval '1 hour' AS t) c
           CROSS JOIN LATERAL (SELECT geom, area_id FROM issues WHERE id = (ARRAY[%s, %s])[1 + mod(g, 2)]) i""",
        (w.gov, w.party, w.other_party, w.ids["A"], w.ids["G"]))
    # One UPDATE over many rows, some of them changing no figure at all (only their supports).
    conn.execute("UPDATE issues SET status = 'closed', closed_at = resolved_at + interval '1 day', satisfaction = 4"
                 " WHERE source = 'import' AND status = 'resolved' AND id % 3 = 0")
    before = _rollup(conn)
    conn.execute("UPDATE issues SET supports_count = supports_count + 1 WHERE source = 'import'")
    assert _rollup(conn) == before  # nothing the statistics read changed
    conn.execute("DELETE FROM issues WHERE source = 'import' AND id % 7 = 0")
    bulk = _rollup(conn)
    conn.execute("SELECT stats_rebuild()")
    assert bulk == _rollup(conn)
    assert sum(r[6] for r in bulk if r[0] == 3) == conn.execute("SELECT count(*) FROM issues").fetchone()[0]


def _queued(conn) -> int:
    return conn.execute("SELECT count(*) FROM stats_queue").fetchone()[0]


def test_a_report_queues_its_figures_and_the_statistics_fold_them_before_reading(fx, database_url):
    w = fx
    conn = w.conn
    conn.execute("SELECT stats_fold()")
    rollup = conn.execute("SELECT * FROM stats_week ORDER BY 1, 2, 3, 4, 5, 6").fetchall()
    before = stats.dashboard(conn, {}, actor=admin(w))["totals"]["opened"]
    # Another session's report, still uncommitted: its queued row is not the fold's to take.
    with psycopg.connect(database_url) as other:
        issues.report(other, w.actors["anonymous"], {"lat": IN_BIG[1], "lon": IN_BIG[0],
                                                        "category": "litter", "description": "uncommitted"})
        assert conn.execute("SELECT stats_fold()").fetchone()[0] == 0
        other.commit()
    # The report wrote no rollup row itself: it waits in the queue, one row.
    assert _queued(conn) == 1
    assert conn.execute("SELECT * FROM stats_week ORDER BY 1, 2, 3, 4, 5, 6").fetchall() == rollup
    after = stats.dashboard(conn, {}, actor=admin(w))
    assert after["totals"]["opened"] == before + 1
    assert _queued(conn) == 0
    # A second fold finds nothing left, and the rollup equals a rebuild from the issues.
    assert conn.execute("SELECT stats_fold()").fetchone()[0] == 0
    folded = _rollup(conn)
    conn.execute("SELECT stats_rebuild()")
    assert folded == _rollup(conn)


def test_a_rebuild_with_changes_still_queued_counts_them_once(fx):
    conn = fx.conn
    conn.execute("SELECT stats_fold()")
    expected = _rollup(conn)
    fx.report(point=IN_SMALL, category="noise")
    conn.execute("UPDATE issues SET status = 'confirmed', version = version + 1 WHERE id = %s", (fx.ids["D"],))
    assert _queued(conn) == 3  # one added; one taken away and one added back by the update
    conn.execute("SELECT stats_rebuild()")
    assert _queued(conn) == 0
    rebuilt = _rollup(conn)
    assert rebuilt != expected
    conn.execute("SELECT stats_rebuild()")
    assert _rollup(conn) == rebuilt


def test_the_background_fold_never_waits_for_a_fold_another_session_is_running(fx, database_url):
    conn = fx.conn
    conn.execute("SELECT stats_fold()")
    fx.report()
    with psycopg.connect(database_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(stats_fold_lock_key())")
        conn.execute("SET lock_timeout = '2s'")
        try:
            # What the background folder does: give up at once instead of waiting for the other fold.
            assert conn.execute("SELECT stats_fold(false)").fetchone()[0] == 0
            with pytest.raises(psycopg.errors.LockNotAvailable):
                conn.execute("SELECT stats_fold()")  # a reader's fold waits (here: until lock_timeout)
        finally:
            conn.execute("RESET lock_timeout")
        other.rollback()
    assert conn.execute("SELECT stats_fold()").fetchone()[0] == 1


def test_the_web_workers_fold_the_queue_in_the_background(fx, database_url):
    from apps import app_for
    from webmap import background

    conn = fx.conn
    conn.execute("SELECT stats_fold()")
    with app_for(database_url, STATS_FOLD_SECONDS=0) as app:
        assert background.start(app) is None  # 0: never
    fx.report()
    fx.report(point=IN_SMALL)
    with app_for(database_url, STATS_FOLD_SECONDS=0.2) as app:
        folder = background.start(app)
        try:
            deadline = time.monotonic() + 20
            while _queued(conn) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            folder.stop()
            folder.join(5)
    assert _queued(conn) == 0 and folder.folded == 2
    assert not folder.is_alive()
    folded = _rollup(conn)
    conn.execute("SELECT stats_rebuild()")
    assert _rollup(conn) == folded


def test_official_sees_own_areas_only(fx):
    official = fx.actors["official"]  # serves C-BIG and C-SMALL
    own = stats.dashboard(fx.conn, PERIOD, actor=official)
    assert own["totals"]["opened"] == 6  # all but G (C-FAR)
    assert {a["code"] for a in own["by_area"]} == {"C-BIG", "C-SMALL"}
    assert stats.dashboard(fx.conn, {**PERIOD, "area": "C-SMALL"}, actor=official)["totals"]["opened"] == 1
    with pytest.raises(PermissionDenied):
        stats.dashboard(fx.conn, {**PERIOD, "area": "C-FAR"}, actor=official)
    # The street holds communities beyond the official's? No: S1 holds C-BIG and C-SMALL only, but the
    # official does not serve the street itself, so it is refused; its social worker of the street is not.
    with pytest.raises(PermissionDenied):
        stats.dashboard(fx.conn, {**PERIOD, "area": "S1"}, actor=official)
    street_worker = Actor(role="official", user_id=999, area_ids=frozenset({fx.street, fx.big, fx.small}))
    street = stats.dashboard(fx.conn, {**PERIOD, "area": "S1"}, actor=street_worker)
    assert street["totals"]["opened"] == 6 and street["filters"]["area"] == "S1"
    assert {a["code"] for a in street["by_area"]} == {"C-BIG", "C-SMALL"}
    with pytest.raises(AuthenticationRequired):
        stats.dashboard(fx.conn, PERIOD, actor=fx.actors["anonymous"])
    with pytest.raises(PermissionDenied):
        stats.dashboard(fx.conn, PERIOD, actor=fx.actors["volunteer"])
    # Without an actor, the caller's allowed areas decide.
    assert stats.dashboard(fx.conn, PERIOD, allowed_area_ids=frozenset({fx.far}))["totals"]["opened"] == 1


@pytest.mark.parametrize("args, field", [
    ({"area": "NOWHERE"}, "area"), ({"area": "987654"}, "area"), ({"category": "pothole"}, "category"),
    ({"status": "lost"}, "status"), ({"since": "2026-03-10", "until": "2026-03-01"}, "until"),
    ({"since": "2026-13-01"}, "since"), ({"until": "yesterday"}, "until"), ({"since": "2026-3-1"}, "since"),
])
def test_bad_input_is_a_stats_error(fx, args, field):
    with pytest.raises(stats.StatsError) as info:
        stats.dashboard(fx.conn, args, actor=admin(fx))
    assert field in info.value.fields


def test_empty_selection_gives_zeros(fx):
    out = stats.dashboard(fx.conn, {"since": "2020-01-01", "until": "2020-01-31", "category": "manhole"},
                          actor=admin(fx))
    t = out["totals"]
    assert t["opened"] == t["resolved"] == t["backlog"] == t["backlog_at_end"] == 0
    assert t["response_rate"] is None and t["median_hours_to_resolve"] is None
    assert out["by_area"] == out["by_category"] == out["by_party"] == out["oldest_open"] == []
    assert [w["opened"] for w in out["weekly"]] == [0] * 5
    assert out["resolved_by_party_kind"] == {"government": 0, "social_work": 0, "volunteer_group": 0,
                                             "unassigned": 0}


# ---------------------------------------------------------------- HTTP


@pytest.fixture
def client(database_url):
    from webmap import create_app
    from webmap import db as webdb

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                      "RATELIMIT_ENABLED": False})
    yield app.test_client()
    webdb.close_pool(app)


def test_api_stats_contract_scope_and_errors(fx, client):
    conn = fx.conn
    official = helpers.make_user(conn, "official", areas=[fx.big, fx.small])
    street_official = helpers.make_user(conn, "official", areas=["S1"])
    admin_user = helpers.make_user(conn, "admin")
    q = "since=2026-03-02&until=2026-03-15"

    r = client.get(f"/api/stats?{q}", headers=helpers.token_headers(conn, admin_user))
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store"
    body = r.get_json()
    assert set(body) >= {"filters", "totals", "by_area", "by_category", "by_party", "resolved_by_party_kind",
                         "weekly", "oldest_open"}
    assert set(stats.METRIC_KEYS) <= set(body["totals"])
    for row in body["by_area"]:
        assert {"area_id", "code", "name", "name_en", *stats.METRIC_KEYS} <= set(row)
    for row in body["by_category"]:
        assert {"category", "name", "name_en", *stats.METRIC_KEYS} <= set(row)
    for row in body["by_party"]:
        assert {"party_id", "name", "kind", *stats.METRIC_KEYS} <= set(row)
    assert set(body["oldest_open"][0]) == {"id", "title", "category", "area_code", "status", "created_at", "age_days"}
    assert body["totals"]["opened"] == 7

    own = helpers.token_headers(conn, official)
    assert client.get(f"/api/stats?{q}&area=C-BIG", headers=own).status_code == 200
    r = client.get(f"/api/stats?{q}&area={fx.far}", headers=own)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    r = client.get(f"/api/stats?{q}&area=S1", headers=helpers.token_headers(conn, street_official))
    assert r.status_code == 200 and r.get_json()["totals"]["opened"] == 6
    assert client.get(f"/api/stats?{q}").status_code == 401

    for bad, field in (("area=NOWHERE", "area"), ("category=pothole", "category"), ("status=lost", "status"),
                       ("since=2026-03-10&until=2026-03-01", "until"), ("since=01/03/2026", "since")):
        r = client.get(f"/api/stats?{bad}", headers=helpers.token_headers(conn, admin_user))
        assert r.status_code == 400, bad
        assert r.get_json()["error"]["code"] == "invalid_parameter", bad
        assert field in r.get_json()["error"]["fields"], bad
    r = client.get("/api/stats?since=2020-01-01&until=2020-01-07", headers=helpers.token_headers(conn, admin_user))
    assert r.status_code == 200 and r.get_json()["totals"]["opened"] == 0
