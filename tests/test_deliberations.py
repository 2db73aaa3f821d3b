"""geodata.deliberations against a real PostGIS: opening rules, voting rules (window, once, community,
concurrency), comments, the meeting record with follow-up actions, and the linked issues' timelines."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

import helpers
from geodata import accounts, deliberations as dl, issues, permissions
from geodata.validation import ValidationError
from issues_world import IN_BIG, IN_FAR, world  # noqa: F401

# Later modules list every account and party (the admin pages): none of this module's stay.
pytestmark = pytest.mark.usefixtures("leave_no_people_behind")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _actor(conn, user_id):
    return accounts.actor_for(conn, accounts.load_user(conn, user_id))


@pytest.fixture
def place(world):
    """The world plus residents of the big community, a resident elsewhere, and two issues of the big one."""
    conn = world.conn
    world.people = {
        "resident": helpers.make_user(conn, "resident", areas=[world.big]),
        "resident2": helpers.make_user(conn, "resident", areas=[world.big]),
        "far_resident": helpers.make_user(conn, "resident", areas=[world.far]),
        "volunteer": helpers.make_user(conn, "volunteer", areas=[world.big], party_id=world.party),
    }
    world.people_actors = {k: _actor(conn, v) for k, v in world.people.items()}
    world.issue_a = world.report(description="Cars block the courtyard gate").issue.id
    world.issue_b = world.report(description="Bikes pile up by the stairs", category="stairwell_clutter").issue.id
    world.far_issue = world.report(point=IN_FAR, description="Far away").issue.id
    return world


def _payload(w, **changes):
    now = datetime.now(timezone.utc)
    body = {
        "area_id": w.big, "title": "Parking in courtyard 3", "description": "Who parks where?",
        "issue_ids": [w.issue_a, w.issue_b], "options": ["Marked bays", "No cars after 22:00", "Keep as is"],
        "lat": IN_BIG[1], "lon": IN_BIG[0], "address": "Courtyard 3 hall <b>",
        "meeting_at": _iso(now + timedelta(days=3)), "votes_open_at": _iso(now - timedelta(minutes=1)),
        "votes_close_at": _iso(now + timedelta(days=2)),
    }
    body.update(changes)
    return body


def _shift(conn, deliberation_id, **window):
    """Move the voting window (the tests' clock)."""
    for name, delta in window.items():
        conn.execute(f"UPDATE deliberations SET {name} = now() + %s WHERE id = %s", (delta, deliberation_id))


# ---------------------------------------------------------------- opening


def test_open_links_issues_and_writes_their_timeline(place):
    w = place
    # The audit log outlives the test's world (and its ids restart), so only entries from now on count.
    audit_start = w.conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]
    d = dl.open_deliberation(w.conn, w.actors["social_worker"], _payload(w))
    assert d["status"] == "open" and d["phase"] == "voting"
    assert [o["label"] for o in d["options"]] == ["Marked bays", "No cars after 22:00", "Keep as is"]
    assert [i["id"] for i in d["issues"]] == [w.issue_a, w.issue_b]
    assert d["place"]["address"] == "Courtyard 3 hall <b>"
    for issue_id in (w.issue_a, w.issue_b):
        history = issues.get(w.conn, issue_id)["properties"]["history"]
        event = history[-1]
        assert event["kind"] == "deliberation"
        assert event["data"]["deliberation_id"] == d["id"] and event["data"]["stage"] == "opened"
        assert event["data"]["title"] == "Parking in courtyard 3"
    audit = w.conn.execute("SELECT action FROM audit_log WHERE id > %s AND object_type = 'deliberation'"
                           " AND object_id = %s", (audit_start, str(d["id"]))).fetchall()
    assert audit == [("deliberation.open",)]


def test_only_a_social_worker_of_the_area_opens(place):
    for who in ("far_worker", "official", "resident", "volunteer"):
        with pytest.raises(permissions.PermissionDenied) as refused:
            dl.open_deliberation(place.conn, place.actors[who], _payload(place))
        assert not isinstance(refused.value, permissions.AuthenticationRequired), who
    with pytest.raises(permissions.AuthenticationRequired):
        dl.open_deliberation(place.conn, place.actors["anonymous"], _payload(place))
    assert place.conn.execute("SELECT count(*) FROM deliberations").fetchone()[0] == 0


BAD_OPENINGS = [
    ({"issue_ids": []}, "issue_ids"),
    ({"issue_ids": "far"}, "issue_ids"),
    ({"options": ["Only one"]}, "options"),
    ({"options": ["Same", " same "]}, "options"),
    ({"votes_close_at": "2020-01-01T00:00:00Z"}, "votes_close_at"),
    ({"lat": 39.94, "lon": 116.41}, "place"),
    ({"lat": None}, "place"),
    ({"title": "  "}, "title"),
    ({"meeting_at": "tomorrow"}, "meeting_at"),
    ({"area_id": None}, "area_id"),
    ({"colour": "red"}, "colour"),
]


def test_opening_refuses_bad_input(place):
    w = place
    for change, field in BAD_OPENINGS:
        if change.get("issue_ids") == "far":
            change = {"issue_ids": [w.issue_a, w.far_issue]}
        with pytest.raises(ValidationError) as refused:
            dl.open_deliberation(w.conn, w.actors["social_worker"], _payload(w, **change))
        assert field in refused.value.fields, (change, refused.value.fields)
    now = datetime.now(timezone.utc)
    with pytest.raises(ValidationError) as refused:
        dl.open_deliberation(w.conn, w.actors["social_worker"], _payload(
            w, votes_open_at=_iso(now + timedelta(days=2)), votes_close_at=_iso(now + timedelta(days=1))))
    assert refused.value.fields["votes_close_at"] == "must be after the voting opens"
    # A finished issue cannot be deliberated.
    w.walk(w.issue_b, "rejected")
    with pytest.raises(ValidationError) as refused:
        dl.open_deliberation(w.conn, w.actors["social_worker"], _payload(w))
    assert "rejected" in refused.value.fields["issue_ids"]
    assert w.conn.execute("SELECT count(*) FROM deliberations").fetchone()[0] == 0


# ---------------------------------------------------------------- voting


@pytest.fixture
def opened(place):
    place.d = dl.open_deliberation(place.conn, place.actors["social_worker"], _payload(place))
    place.options = [o["id"] for o in place.d["options"]]
    return place


def test_a_resident_votes_once(opened):
    w = opened
    me = w.people_actors["resident"]
    result = dl.vote(w.conn, me, w.d["id"], w.options[1])
    assert result["votes_total"] == 1 and result["option_id"] == w.options[1]
    with pytest.raises(dl.AlreadyVoted) as refused:
        dl.vote(w.conn, me, w.d["id"], w.options[0])
    assert refused.value.reason == "already_voted"
    assert w.conn.execute("SELECT option_id FROM deliberation_votes").fetchall() == [(w.options[1],)]
    seen = dl.get(w.conn, w.d["id"], me)
    assert seen["your_vote"] == w.options[1] and seen["vote_refusal"] == "already_voted"
    # While the window is open, residents see how many voted, not how.
    assert seen["votes_total"] == 1 and not seen["results_visible"]
    assert all("votes" not in o for o in seen["options"])
    staff = dl.get(w.conn, w.d["id"], w.actors["social_worker"])
    assert [o["votes"] for o in staff["options"]] == [0, 1, 0]


def test_votes_outside_the_window_are_refused(opened):
    w = opened
    me = w.people_actors["resident"]
    _shift(w.conn, w.d["id"], votes_open_at=timedelta(hours=1))
    with pytest.raises(dl.VotingNotOpenYet) as before:
        dl.vote(w.conn, me, w.d["id"], w.options[0])
    assert before.value.reason == "before_window"
    assert dl.get(w.conn, w.d["id"], me)["vote_refusal"] == "before_window"
    _shift(w.conn, w.d["id"], votes_open_at=timedelta(hours=-2), votes_close_at=timedelta(seconds=-1))
    with pytest.raises(dl.VotingClosed) as after:
        dl.vote(w.conn, me, w.d["id"], w.options[0])
    assert after.value.reason == "after_window"
    assert w.conn.execute("SELECT count(*) FROM deliberation_votes").fetchone()[0] == 0
    # Once the window is over, everyone sees the counts.
    seen = dl.get(w.conn, w.d["id"])
    assert seen["results_visible"] and [o["votes"] for o in seen["options"]] == [0, 0, 0]


def test_voters_from_another_community_and_strangers_are_refused(opened):
    w = opened
    with pytest.raises(dl.NotOfThisCommunity) as other:
        dl.vote(w.conn, w.people_actors["far_resident"], w.d["id"], w.options[0])
    assert other.value.reason == "not_of_this_community"
    assert isinstance(other.value, permissions.PermissionDenied)
    with pytest.raises(permissions.AuthenticationRequired):
        dl.vote(w.conn, w.actors["anonymous"], w.d["id"], w.options[0])
    with pytest.raises(dl.NotOfThisCommunity):
        dl.vote(w.conn, w.actors["far_worker"], w.d["id"], w.options[0])
    assert w.conn.execute("SELECT count(*) FROM deliberation_votes").fetchone()[0] == 0
    assert dl.get(w.conn, w.d["id"])["vote_refusal"] == "not_signed_in"
    # A choice of another deliberation, and a deliberation that does not exist.
    other = dl.open_deliberation(w.conn, w.actors["social_worker"], _payload(w, title="Another"))
    with pytest.raises(ValidationError) as refused:
        dl.vote(w.conn, w.people_actors["resident"], w.d["id"], other["options"][0]["id"])
    assert "option_id" in refused.value.fields
    with pytest.raises(dl.DeliberationNotFound):
        dl.vote(w.conn, w.people_actors["resident"], 2**62, w.options[0])


def test_concurrent_double_vote_stores_exactly_one(opened, database_url):
    w = opened
    me = w.people_actors["resident"]
    barrier = threading.Barrier(8)
    outcomes = []

    def cast(n):
        with psycopg.connect(database_url, autocommit=True) as c:
            barrier.wait()
            try:
                dl.vote(c, me, w.d["id"], w.options[n % 3])
                outcomes.append("stored")
            except dl.AlreadyVoted:
                outcomes.append("refused")

    threads = [threading.Thread(target=cast, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["stored"]
    assert w.conn.execute("SELECT count(*) FROM deliberation_votes WHERE user_id = %s",
                          (me.user_id,)).fetchone()[0] == 1


def test_comments_from_the_community_only(opened):
    w = opened
    c = dl.comment(w.conn, w.people_actors["resident"], w.d["id"], "  <script>alert(1)</script> bays please ")
    assert c["body"] == "<script>alert(1)</script> bays please" and c["author_label"] == "resident"
    with pytest.raises(dl.NotOfThisCommunity):
        dl.comment(w.conn, w.people_actors["far_resident"], w.d["id"], "hello")
    with pytest.raises(permissions.AuthenticationRequired):
        dl.comment(w.conn, w.actors["anonymous"], w.d["id"], "hello")
    with pytest.raises(ValidationError):
        dl.comment(w.conn, w.people_actors["resident"], w.d["id"], "   ")
    assert [x["body"] for x in dl.get(w.conn, w.d["id"])["comments"]] == [c["body"]]


# ---------------------------------------------------------------- the meeting


def test_meeting_record_with_actions_ends_voting_and_reaches_the_timelines(opened):
    w = opened
    dl.vote(w.conn, w.people_actors["resident"], w.d["id"], w.options[0])
    due = (datetime.now(timezone.utc) + timedelta(days=14)).date().isoformat()
    record = {"attendance": 23, "minutes": "Discussed bays; volunteers will paint.",
              "decision": "Paint marked bays; no cars after 22:00",
              "actions": [{"description": "Paint the bays", "party_id": w.party, "due_on": due},
                          {"description": "Put up a notice", "party_id": w.other_party, "due_on": due}]}
    with pytest.raises(permissions.PermissionDenied):
        dl.record_meeting(w.conn, w.actors["far_worker"], w.d["id"], record)
    with pytest.raises(permissions.PermissionDenied):
        dl.record_meeting(w.conn, w.people_actors["resident"], w.d["id"], record)
    with pytest.raises(ValidationError) as bad:
        dl.record_meeting(w.conn, w.actors["social_worker"], w.d["id"],
                          {**record, "actions": [{"description": "x", "party_id": 2**62, "due_on": "soon"}]})
    assert "actions[1]" in bad.value.fields
    d = dl.record_meeting(w.conn, w.actors["social_worker"], w.d["id"], record)
    assert d["status"] == "decided" and d["phase"] == "decided"
    assert d["meeting"]["attendance"] == 23 and d["meeting"]["decision"] == record["decision"]
    assert d["meeting"]["decided_at"]
    assert [(a["description"], a["party_id"], a["due_on"]) for a in d["actions"]] == [
        ("Paint the bays", w.party, due), ("Put up a notice", w.other_party, due)]
    # The results are public now, and voting is over.
    public = dl.get(w.conn, w.d["id"])
    assert public["results_visible"] and [o["votes"] for o in public["options"]] == [1, 0, 0]
    with pytest.raises(dl.VotingClosed) as closed:
        dl.vote(w.conn, w.people_actors["resident2"], w.d["id"], w.options[0])
    assert closed.value.reason == "closed"
    with pytest.raises(dl.AlreadyRecorded):
        dl.record_meeting(w.conn, w.actors["social_worker"], w.d["id"], record)
    for issue_id in (w.issue_a, w.issue_b):
        last = issues.get(w.conn, issue_id)["properties"]["history"][-1]
        assert last["kind"] == "deliberation" and last["data"]["stage"] == "decided"
        assert last["data"]["decision"] == record["decision"] and last["note"] == record["decision"]
    # A member of the party an action went to marks it done; a stranger may not.
    action = d["actions"][0]["id"]
    with pytest.raises(permissions.PermissionDenied):
        dl.complete_action(w.conn, w.people_actors["resident"], action)
    assert dl.complete_action(w.conn, w.actors["volunteer"], action, "Painted")["done"]
    assert dl.get(w.conn, w.d["id"])["actions"][0]["done_at"]


def test_a_meeting_without_decision_closes_it(opened):
    w = opened
    d = dl.record_meeting(w.conn, w.actors["social_worker"], w.d["id"], {"attendance": 4, "minutes": "Too few."})
    assert d["status"] == "closed" and d["meeting"]["decision"] is None
    last = issues.get(w.conn, w.issue_a)["properties"]["history"][-1]
    assert last["data"]["stage"] == "closed"
    # Lists by area.
    assert [d["id"] for d in dl.list_deliberations(w.conn, [w.big])] == [w.d["id"]]
    assert dl.list_deliberations(w.conn, [w.far]) == []
    assert dl.list_deliberations(w.conn)[0]["issues_count"] == 2
