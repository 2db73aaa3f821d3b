"""geodata.issues against a real PostGIS: reporting, the lifecycle, concurrency, history, supports, comments."""
from __future__ import annotations

import itertools
import json
import math
import threading
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from geodata import chinacrs, issues, permissions
from geodata.validation import ValidationError
from issues_world import IN_BIG, IN_FAR, IN_SMALL, OUTSIDE, PLANTED_CONTACT, step_extras, world  # noqa: F401

# The drawing of DESIGN.md, transcribed by hand (not copied from issues.LIFECYCLE, which it checks):
#   reported -> confirmed -> assigned -> in_progress -> resolved -> closed
#      |            |           |            |              |
#      +-> rejected +-> duplicate            +--------------+-> reopened -> (confirmed ...)
DRAWN = {
    ("reported", "confirmed"), ("confirmed", "assigned"), ("assigned", "in_progress"),
    ("in_progress", "resolved"), ("resolved", "closed"),
    ("reported", "rejected"), ("confirmed", "duplicate"), ("assigned", "duplicate"),
    ("in_progress", "reopened"), ("resolved", "reopened"), ("reopened", "confirmed"),
}
PATH_TO = {
    "reported": [],
    "confirmed": ["confirmed"],
    "rejected": ["rejected"],
    "assigned": ["confirmed", "assigned"],
    "duplicate": ["confirmed", "duplicate"],
    "in_progress": ["confirmed", "assigned", "in_progress"],
    "resolved": ["confirmed", "assigned", "in_progress", "resolved"],
    "closed": ["confirmed", "assigned", "in_progress", "resolved", "closed"],
    "reopened": ["confirmed", "assigned", "in_progress", "resolved", "reopened"],
}


def _events(conn, issue_id):
    return conn.execute("SELECT kind, from_status, to_status, actor_label, note FROM issue_events"
                        " WHERE issue_id = %s ORDER BY id", (issue_id,)).fetchall()


def _count(conn, table):
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ---------------------------------------------------------------- the lifecycle


def test_lifecycle_table_is_the_drawing():
    assert set(issues.LIFECYCLE) == DRAWN
    assert set(PATH_TO) == set(issues.STATUSES)


@pytest.mark.parametrize("from_status", issues.STATUSES)
def test_every_state_pair_allowed_or_refused_as_drawn(world, from_status):
    conn = world.conn
    for to in issues.STATUSES:
        issue_id = world.report().issue.id
        issue = world.walk(issue_id, *PATH_TO[from_status])
        assert issue.status == from_status
        before = len(_events(conn, issue_id))
        if (from_status, to) in DRAWN:
            after = issues.transition(conn, world.actors["admin"], issue_id, to, issue.version, "step",
                                      **step_extras(to, world))
            assert (after.status, after.version) == (to, issue.version + 1)
            events = _events(conn, issue_id)
            assert len(events) == before + 1
            assert events[-1] == ("transition", from_status, to, "admin1", "step")
        else:
            with pytest.raises(issues.TransitionNotAllowed) as info:
                issues.transition(conn, world.actors["admin"], issue_id, to, issue.version,
                                  **step_extras(to, world))
            assert info.value.from_status == from_status
            assert issues.load(conn, issue_id) == issue
            assert len(_events(conn, issue_id)) == before


def test_stale_version_is_a_conflict_and_writes_nothing(world):
    issue_id = world.report().issue.id
    world.walk(issue_id, "confirmed")
    with pytest.raises(issues.VersionConflict) as info:
        issues.transition(world.conn, world.actors["social_worker"], issue_id, "assigned", 1, party_id=world.party)
    assert (info.value.given, info.value.current) == (1, 2)
    assert issues.load(world.conn, issue_id).status == "confirmed"
    assert len(_events(world.conn, issue_id)) == 2


def test_two_concurrent_transitions_with_one_version_exactly_one_wins(world, database_url):
    issue_id = world.report().issue.id
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt(to):
        with psycopg.connect(database_url) as conn:
            barrier.wait()
            try:
                issues.transition(conn, world.actors["social_worker"], issue_id, to, 1, f"by {to}")
                conn.commit()
                outcomes.append(("won", to))
            except issues.VersionConflict:
                conn.rollback()
                outcomes.append(("409", to))

    for _ in range(5):
        threads = [threading.Thread(target=attempt, args=(to,)) for to in ("confirmed", "rejected")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(o[0] for o in outcomes) == ["409", "won"]
        winner = next(to for result, to in outcomes if result == "won")
        issue = issues.load(world.conn, issue_id)
        assert (issue.status, issue.version) == (winner, 2)
        assert [e[2] for e in _events(world.conn, issue_id)] == ["reported", winner]
        issue_id = world.report().issue.id
        outcomes.clear()


def test_reporter_closes_with_satisfaction_and_others_may_not(world):
    reported = world.report(world.actors["anonymous"])
    issue_id = reported.issue.id
    issue = world.walk(issue_id, "confirmed", "assigned", "in_progress", "resolved")
    stranger = world.actors["resident2"]
    with pytest.raises(permissions.PermissionDenied):
        issues.transition(world.conn, stranger, issue_id, "closed", issue.version, satisfaction=5)
    with pytest.raises(permissions.AuthenticationRequired):
        issues.transition(world.conn, world.actors["anonymous2"], issue_id, "closed", issue.version, satisfaction=5)
    reporter = permissions.Actor(reporter_of=frozenset(issues.issues_for_token(world.conn, reported.private_token)))
    assert issue_id in reporter.reporter_of
    with pytest.raises(ValidationError) as info:
        issues.transition(world.conn, reporter, issue_id, "closed", issue.version)
    assert "satisfaction" in info.value.fields
    with pytest.raises(ValidationError):
        issues.transition(world.conn, reporter, issue_id, "closed", issue.version, satisfaction=6)
    closed = issues.transition(world.conn, reporter, issue_id, "closed", issue.version, "fixed, thanks",
                               satisfaction=5)
    assert (closed.status, closed.satisfaction) == ("closed", 5)
    assert closed.closed_at is not None
    assert _events(world.conn, issue_id)[-1] == ("transition", "resolved", "closed", "reporter", "fixed, thanks")


def test_signed_in_reporter_reopens(world):
    issue_id = world.report(world.actors["resident"]).issue.id
    issue = world.walk(issue_id, "confirmed", "assigned", "in_progress", "resolved")
    assert issue.resolved_at is not None and issue.assigned_party_id == world.party
    reopened = issues.transition(world.conn, world.actors["resident"], issue_id, "reopened", issue.version,
                                 "still there")
    assert reopened.status == "reopened"
    assert reopened.resolved_at is None and reopened.assigned_party_id is None


def test_permissions_follow_the_table(world):
    conn, a = world.conn, world.actors
    issue_id = world.report().issue.id
    for who in ("anonymous", "resident", "official", "far_worker", "volunteer"):
        with pytest.raises(permissions.PermissionDenied):
            issues.transition(conn, a[who], issue_id, "confirmed", 1)
    issue = issues.transition(conn, a["social_worker"], issue_id, "confirmed", 1)
    assert issue.acknowledged_at is not None
    with pytest.raises(permissions.PermissionDenied):
        issues.assign(conn, a["volunteer"], issue_id, world.party, issue.version)
    issue = issues.assign(conn, a["social_worker"], issue_id, world.party, issue.version)
    assert (issue.status, issue.assigned_party_id) == ("assigned", world.party)
    # The volunteer group works on what is assigned to it, and can hand it back.
    issue = issues.transition(conn, a["volunteer"], issue_id, "in_progress", issue.version)
    issue = issues.transition(conn, a["volunteer"], issue_id, "reopened", issue.version, "we cannot lift it")
    assert issue.assigned_party_id is None
    with pytest.raises(permissions.PermissionDenied):
        issues.transition(conn, a["volunteer"], issue_id, "confirmed", issue.version)


def test_staff_changes_are_audited_with_the_change(world):
    conn, a = world.conn, world.actors
    start = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]
    issue_id = world.report().issue.id
    issues.transition(conn, a["social_worker"], issue_id, "confirmed", 1, "ok")
    with pytest.raises(issues.VersionConflict):
        issues.transition(conn, a["social_worker"], issue_id, "rejected", 1)
    rows = conn.execute("SELECT actor_label, action, object_type, object_id, details FROM audit_log WHERE id > %s",
                        (start,)).fetchall()
    assert rows == [("sw1", "issue.confirmed", "issue", str(issue_id), {"from": "reported", "to": "confirmed"})]


def test_assign_again_changes_hands_with_one_event(world):
    issue_id = world.report().issue.id
    issue = world.walk(issue_id, "confirmed", "assigned")
    issue2 = issues.assign(world.conn, world.actors["social_worker"], issue_id, world.other_party, issue.version)
    assert (issue2.status, issue2.assigned_party_id, issue2.version) == ("assigned", world.other_party,
                                                                         issue.version + 1)
    assert _events(world.conn, issue_id)[-1][:3] == ("assigned", "assigned", "assigned")
    with pytest.raises(ValidationError):
        issues.assign(world.conn, world.actors["social_worker"], issue_id, 999999, issue2.version)
    world.walk(issue_id, "in_progress")
    with pytest.raises(issues.TransitionNotAllowed):
        issues.assign(world.conn, world.actors["social_worker"], issue_id, world.party, issue2.version + 1)


def test_duplicate_needs_another_existing_issue_and_follows_chains(world):
    conn, sw = world.conn, world.actors["social_worker"]
    first = world.canonical
    second = world.report().issue.id
    third = world.report().issue.id
    world.walk(second, "confirmed")
    world.walk(third, "confirmed")
    for bad in (None, second, 99999999):
        with pytest.raises(ValidationError) as info:
            issues.transition(conn, sw, second, "duplicate", 2, duplicate_of=bad)
        assert "duplicate_of" in info.value.fields
    with pytest.raises(ValidationError):
        issues.transition(conn, sw, second, "rejected", 2, duplicate_of=first)
    issues.transition(conn, sw, second, "duplicate", 2, duplicate_of=first)
    # Pointing at a duplicate points at its original.
    assert issues.transition(conn, sw, third, "duplicate", 2, duplicate_of=second).duplicate_of == first


def test_transition_argument_validation(world):
    issue_id = world.report().issue.id
    for kwargs, field in (({"to": "fixed", "version": 1}, "to"), ({"to": "confirmed", "version": "1"}, "version"),
                          ({"to": "confirmed", "version": None}, "version"),
                          ({"to": "confirmed", "version": 1.5}, "version"),
                          ({"to": "confirmed", "version": 1, "note": "x" * 4001}, "note"),
                          ({"to": "confirmed", "version": 1, "party_id": 1}, "party_id")):
        with pytest.raises(ValidationError) as info:
            issues.transition(world.conn, world.actors["social_worker"], issue_id, **kwargs)
        assert field in info.value.fields
    with pytest.raises(issues.IssueNotFound):
        issues.transition(world.conn, world.actors["social_worker"], 123456789, "confirmed", 1)


# ---------------------------------------------------------------- the history is append-only


def test_issue_events_refuse_update_and_delete(world):
    conn = world.conn
    event_id = conn.execute("SELECT min(id) FROM issue_events").fetchone()[0]
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("UPDATE issue_events SET note = 'rewritten' WHERE id = %s", (event_id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("DELETE FROM issue_events WHERE id = %s", (event_id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM issue_events")
    # Nor can an issue be deleted from under its history.
    with pytest.raises(psycopg.errors.IntegrityError):
        conn.execute("DELETE FROM issues WHERE id = %s", (world.canonical,))
    assert conn.execute("SELECT note FROM issue_events WHERE id = %s", (event_id,)).fetchone() == (None,)


# ---------------------------------------------------------------- reporting


def test_report_finds_smallest_community_and_sla(world):
    conn = world.conn
    small = world.report(point=IN_SMALL, category="street_light", description="Lamp out")
    assert small.issue.area_id == world.small
    assert small.issue.due_at - small.issue.created_at == timedelta(days=5)
    assert small.issue.title.startswith("路灯损坏")
    assert world.report(point=IN_BIG).issue.area_id == world.big
    assert world.report(point=IN_FAR).issue.area_id == world.far
    assert small.private_token and len(small.private_token) >= 40
    stored = conn.execute("SELECT reporter_token_hash FROM issues WHERE id = %s", (small.issue.id,)).fetchone()[0]
    assert stored == issues.hash_token(small.private_token) != small.private_token
    assert world.report(world.actors["resident"]).private_token is None
    assert _events(conn, small.issue.id) == [("created", None, "reported", "reporter", None)]


def test_report_outside_every_community_writes_nothing(world):
    before = (_count(world.conn, "issues"), _count(world.conn, "issue_events"))
    with pytest.raises(issues.OutsideEveryArea) as info:
        world.report(point=OUTSIDE)
    assert "not inside any community" in str(info.value)
    assert (_count(world.conn, "issues"), _count(world.conn, "issue_events")) == before


def test_report_gcj02_is_converted(world):
    gcj = chinacrs.wgs84_to_gcj02(*IN_SMALL)
    issue = world.report(point=gcj, crs="gcj02").issue
    assert issue.lon == pytest.approx(IN_SMALL[0], abs=1e-7) and issue.lat == pytest.approx(IN_SMALL[1], abs=1e-7)
    assert issue.area_id == world.small


@pytest.mark.parametrize("change, field", [
    ({"lat": float("nan")}, "lat"),
    ({"lat": float("inf")}, "lat"),
    ({"lon": float("-inf")}, "lon"),
    ({"lat": json.loads("1e309")}, "lat"),
    ({"lat": "39.94"}, "lat"),
    ({"lon": True}, "lon"),
    ({"lat": 91}, "lat"),
    ({"lon": -180.5}, "lon"),
    ({"lat": None}, "lat"),
    ({"category": "unicorns"}, "category"),
    ({"category": 3}, "category"),
    ({"category": None}, "category"),
    ({"description": ""}, "description"),
    ({"description": "   "}, "description"),
    ({"description": "x" * 4001}, "description"),
    ({"description": "nul\x00byte"}, "description"),
    ({"description": 12}, "description"),
    ({"title": "t" * 121}, "title"),
    ({"contact": ["a"]}, "contact"),
    ({"crs": "epsg:3857"}, "crs"),
    ({"colour": "red"}, "colour"),
])
def test_report_validation_names_the_field_and_writes_nothing(world, change, field):
    before = (_count(world.conn, "issues"), _count(world.conn, "issue_events"))
    with pytest.raises(ValidationError) as info:
        world.report(**change)
    assert field in info.value.fields
    assert (_count(world.conn, "issues"), _count(world.conn, "issue_events")) == before


def test_report_boundaries_of_lengths(world):
    issue = world.report(description="d" * 4000, title="t" * 120).issue
    assert (len(issue.description), len(issue.title)) == (4000, 120)


# ---------------------------------------------------------------- reading, privacy


def test_get_shows_history_and_hides_contact_from_the_public(world):
    conn, a = world.conn, world.actors
    issue_id = world.report(contact=PLANTED_CONTACT).issue.id
    issues.comment(conn, a["resident"], issue_id, "Me too, every morning")
    world.walk(issue_id, "confirmed")
    for who in ("anonymous", "resident", "volunteer", "far_worker"):
        text = json.dumps(issues.get(conn, issue_id, a[who]), ensure_ascii=False)
        assert "planted-contact" not in text and "13800138000" not in text
        assert "reporter_token_hash" not in text and "reporter_id" not in text
    for who in ("social_worker", "official", "admin"):
        assert issues.get(conn, issue_id, a[who])["properties"]["reporter_contact"] == PLANTED_CONTACT
    feat = issues.get(conn, issue_id)
    assert feat["type"] == "Feature" and feat["geometry"]["type"] == "Point"
    assert [e["kind"] for e in feat["properties"]["history"]] == ["created", "comment", "transition"]
    assert feat["properties"]["comments"][0]["body"] == "Me too, every morning"
    with pytest.raises(issues.IssueNotFound):
        issues.get(conn, 987654321)


def test_hidden_comment_keeps_its_place(world):
    conn, a = world.conn, world.actors
    issue_id = world.canonical
    c = issues.comment(conn, a["anonymous"], issue_id, "rude words")
    with pytest.raises(permissions.PermissionDenied):
        issues.hide_comment(conn, a["resident"], c["id"])
    with pytest.raises(permissions.PermissionDenied):
        issues.hide_comment(conn, a["far_worker"], c["id"])
    issues.hide_comment(conn, a["social_worker"], c["id"], "insulting")
    issues.hide_comment(conn, a["social_worker"], c["id"])  # twice: nothing more happens
    public = issues.get(conn, issue_id)["properties"]
    assert public["comments"] == [{"id": c["id"], "author": "anonymous", "author_role": "anonymous",
                                   "created_at": c["created_at"], "hidden": True, "body": None}]
    assert [e["kind"] for e in public["history"]].count("comment_hidden") == 1
    assert "comment" in [e["kind"] for e in public["history"]]
    staff = issues.get(conn, issue_id, a["social_worker"])["properties"]["comments"][0]
    assert (staff["body"], staff["hidden_reason"]) == ("rude words", "insulting")
    with pytest.raises(issues.CommentNotFound):
        issues.hide_comment(conn, a["social_worker"], 99999999)


def test_record_visit_is_one_public_event(world):
    conn, a = world.conn, world.actors
    with pytest.raises(permissions.PermissionDenied):
        issues.record_visit(conn, a["far_worker"], world.canonical)
    event_id = issues.record_visit(conn, a["social_worker"], world.canonical, "seen on the walk", {"walkabout_id": 7})
    history = issues.get(conn, world.canonical)["properties"]["history"]
    assert history[-1]["id"] == event_id
    assert (history[-1]["kind"], history[-1]["note"], history[-1]["data"]) == ("visited", "seen on the walk",
                                                                               {"walkabout_id": 7})
    assert issues.load(conn, world.canonical).acknowledged_at is not None


def test_support_once_per_account_or_client(world):
    conn, a = world.conn, world.actors
    issue_id = world.canonical
    assert issues.support(conn, a["resident"], issue_id) == issues.Supported(issue_id, 1, True)
    assert issues.support(conn, a["resident"], issue_id) == issues.Supported(issue_id, 1, False)
    assert issues.support(conn, a["anonymous"], issue_id).supports_count == 2
    assert issues.support(conn, a["anonymous"], issue_id).created is False
    assert issues.support(conn, a["anonymous2"], issue_id).supports_count == 3
    with pytest.raises(permissions.AuthenticationRequired):
        issues.support(conn, permissions.ANONYMOUS, issue_id)
    assert _count(conn, "supports") == 3
    assert issues.load(conn, issue_id).version == 1  # supports never make a caseworker's version stale
    world.walk(issue_id, "rejected")
    with pytest.raises(issues.IssueClosed):
        issues.support(conn, a["resident2"], issue_id)


# ---------------------------------------------------------------- nearby


def test_nearby_nearest_first_within_radius(world):
    conn = world.conn
    lon, lat = IN_BIG
    made = {}
    # ~ 111 km per degree of latitude; a degree of longitude is shorter by cos(lat).
    for metres in (80, 20, 150, 50, 5, 70):
        made[metres] = world.report(point=(lon, lat + metres / 111_000)).issue.id
    # 60 m east is nearer than 70 m north, though further in degrees: the order must be in metres.
    east = world.report(point=(lon + 60 / (111_320 * math.cos(math.radians(lat))), lat)).issue.id
    world.report(point=(lon, lat + 10 / 111_000), category="noise")
    world.walk(made[5], "rejected")
    found = issues.nearby(conn, lon, lat, "litter")
    got = [f["id"] for f in found["features"]]
    assert got == [world.canonical, made[20], made[50], east, made[70]]
    distances = [f["properties"]["distance_m"] for f in found["features"]]
    assert distances == sorted(distances) and distances[-1] <= 100
    assert found["radius_m"] == 100
    # A wider radius for noise.
    assert len(issues.nearby(conn, lon, lat, "noise")["features"]) == 1
    with pytest.raises(ValidationError):
        issues.nearby(conn, lon, lat, "nothing")
    with pytest.raises(ValidationError):
        issues.nearby(conn, float("nan"), lat, "litter")


def test_nearby_uses_the_gist_index_knn(world):
    conn = world.conn
    # A city's worth of density (20,000 issues over 50 x 45 km) so that the planner chooses on its own,
    # with no enable_seqscan games. (Packed far denser it may rather AND the GiST and category bitmaps.)
    conn.execute("""
        INSERT INTO issues (category, title, description, geom, area_id, due_at)
        SELECT (ARRAY['litter', 'noise', 'drain'])[1 + n %% 3], 't', 'd',
               ST_SetSRID(ST_MakePoint(116.0 + random() * 0.6, 39.7 + random() * 0.4), 4326), %s, now()
        FROM generate_series(1, 20000) n""", (world.big,))
    conn.execute("ANALYZE issues")
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + issues._NEARBY, {
        "lon": IN_BIG[0], "lat": IN_BIG[1], "category": "litter", "final": list(issues.FINAL),
        "box_deg": 0.0013, "radius": 100, "limit": 5}))
    assert "Index Scan using issues_geom_gist" in plan and "Order By: (geom <->" in plan, plan
    found = issues.nearby(conn, IN_BIG[0], IN_BIG[1], "litter")["features"]
    assert found[0]["id"] == world.canonical and all(f["properties"]["category"] == "litter" for f in found)
    assert all(f["properties"]["distance_m"] <= 100 for f in found)


# ---------------------------------------------------------------- the list


def test_keyset_pagination_walks_every_row_once(world):
    conn = world.conn
    base = datetime(2024, 3, 1, tzinfo=timezone.utc)
    ids = {world.canonical}
    # Imported history shares timestamps (ties broken by id) and is older than its ids suggest.
    for n in range(57):
        ids.add(issues.report(conn, world.actors["admin"], {
            "lon": IN_BIG[0], "lat": IN_BIG[1], "category": "drain", "description": f"old {n}"},
            source="import", external_id=f"x{n}", created_at=base + timedelta(hours=n // 3)).issue.id)
    seen, cursor, pages = [], None, 0
    while True:
        page = issues.list_features(conn, issues.IssueFilter(limit=7, cursor=cursor))
        pages += 1
        seen += [f["id"] for f in page["features"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids) and pages == 9
    times = [issues.load(conn, i).created_at for i in seen]
    assert times == sorted(times, reverse=True)


def test_both_plans_of_a_box_list_the_same_pages(world):
    conn = world.conn
    base = datetime(2024, 3, 1, tzinfo=timezone.utc)
    for n in range(40):
        point = IN_SMALL if n % 3 else IN_FAR
        issues.report(conn, world.actors["admin"], {
            "lon": point[0], "lat": point[1], "category": "drain", "description": f"box {n}"},
            source="import", external_id=f"b{n}", created_at=base + timedelta(hours=n // 4))
    box = {"bbox": "116.30,39.93,116.32,39.95", "limit": "6", "status": "reported"}
    # The estimate is the planner's; without a bbox there is none to make.
    assert issues.box_estimate(conn, box) > 0
    assert issues.box_estimate(conn, {"status": "reported"}) is None

    def pages(box_rows):
        seen, cursor = [], None
        while True:
            query, params, limit = issues.list_query({**box, **({"cursor": cursor} if cursor else {})},
                                                      box_rows=box_rows)
            rows = conn.execute(query, params).fetchall()
            seen.append([r[1] for r in rows[:limit]])
            if len(rows) <= limit:
                return seen, query.as_string(conn)
            cursor = issues._encode_cursor(rows[limit - 1][0], rows[limit - 1][1])

    fenced, fenced_sql = pages(box_rows=10)  # read through the spatial index, then sorted
    walked, walked_sql = pages(box_rows=issues.BOX_FEW)  # left to the planner
    assert "OFFSET 0" in fenced_sql and "OFFSET 0" not in walked_sql
    assert fenced == walked and sum(len(p) for p in fenced) == 26 + 1  # 26 imported in IN_SMALL + world.canonical
    assert sum(fenced, []) == [f["id"] for f in issues.list_features(conn, {**box, "limit": "1000"})["features"]]


def test_list_filters(world):
    conn = world.conn
    a = world.report(point=IN_SMALL, category="street_light", description="lamp").issue.id
    b = world.report(point=IN_FAR, category="noise", description="party").issue.id
    world.walk(b, "confirmed")

    def ids(**args):
        return {f["id"] for f in issues.list_features(conn, args)["features"]}

    assert ids() == {world.canonical, a, b}
    assert ids(status="confirmed") == {b}
    assert ids(status="reported,confirmed") == {world.canonical, a, b}
    assert ids(category="street_light,noise") == {a, b}
    assert ids(bbox="116.304,39.934,116.308,39.938") == {a}
    assert ids(area=str(world.small)) == {a}
    assert ids(area="C-FAR") == {b}
    assert ids(area="S1") == {world.canonical, a}  # a street includes its communities
    assert ids(since="2000-01-01") == {world.canonical, a, b}
    assert ids(until="2000-01-01") == set()
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    assert ids(until=future, since="2000-01-01T00:00:00Z") == {world.canonical, a, b}
    for bad in ({"bbox": "1,2,3"}, {"bbox": "a,b,c,d"}, {"bbox": "nan,1,2,3"}, {"bbox": "0,50,1,40"},
                {"status": "fixed"}, {"since": "yesterday"}, {"limit": "0"}, {"limit": "1001"},
                {"limit": "1e3"}, {"cursor": "not-a-cursor"}):
        with pytest.raises(ValidationError) as info:
            issues.list_features(conn, bad)
        assert set(info.value.fields) == set(bad)


def test_list_never_shows_private_fields(world):
    world.report(contact=PLANTED_CONTACT, description="planted")
    text = json.dumps(issues.list_features(world.conn, {}), ensure_ascii=False)
    assert "planted-contact" not in text and "reporter_" not in text


def test_overdue_lists_pending_issues_past_due(world):
    conn = world.conn
    fresh = world.report(category="illegal_construction", description="shed").issue.id
    resolved = world.report().issue.id
    world.walk(resolved, "confirmed", "assigned", "in_progress", "resolved")
    later = datetime.now(timezone.utc) + timedelta(days=3)
    got = [f["id"] for f in issues.overdue(conn, now=later)["features"]]
    assert world.canonical in got and fresh not in got and resolved not in got
    assert issues.overdue(conn, now=later, area_ids=[world.far])["features"] == []
    assert issues.overdue(conn)["features"] == []


def test_every_pair_is_checked():
    # A guard that the matrix test above covers all 81 (from, to) pairs.
    assert len(list(itertools.product(issues.STATUSES, repeat=2))) == 81
