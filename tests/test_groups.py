"""geodata.groups against a real PostGIS: registering a volunteer group, members, assignment, work reports,
and the count of issues resolved by each kind of party."""
from __future__ import annotations

import pytest

import helpers
from geodata import accounts, groups, issues, permissions
from geodata.validation import ValidationError
from issues_world import world  # noqa: F401

# Later modules list every account and party (the admin pages): none of this module's stay.
pytestmark = pytest.mark.usefixtures("leave_no_people_behind")


def _actor(conn, user_id):
    return accounts.actor_for(conn, accounts.load_user(conn, user_id))


@pytest.fixture
def town(world):
    conn = world.conn
    world.locals = [helpers.make_user(conn, "resident", areas=[world.big], username=f"local{n}") for n in range(3)]
    world.far_local = helpers.make_user(conn, "resident", areas=[world.far], username="farlocal")
    return world


def test_register_a_group_with_members(town):
    w = town
    sw = w.actors["social_worker"]
    g = groups.register(w.conn, sw, {"name": "楼门互助队 <i>", "name_en": "Gate 3 helpers", "area_id": w.big,
                                     "capabilities": ["litter", "stairwell_clutter"], "contact": "13900000000",
                                     "members": ["local0", w.locals[1]]})
    assert g["name"] == "楼门互助队 <i>" and g["capabilities"] == ["litter", "stairwell_clutter"]
    assert [(m["user_id"], m["role"]) for m in g["members"]] == [(w.locals[0], "leader"), (w.locals[1], "member")]
    assert g["contact"] == "13900000000"
    # Members now act for the group as volunteers.
    member = accounts.load_user(w.conn, w.locals[0])
    assert member.role == "volunteer" and member.party_id == g["id"]
    assert g["id"] in _actor(w.conn, w.locals[0]).party_ids
    # The public sees no member names and no contact.
    public = groups.get(w.conn, g["id"])
    assert public["members_count"] == 2 and "members" not in public and "contact" not in public
    assert [x["id"] for x in groups.list_groups(w.conn, [w.big]) if x["id"] == g["id"]] == [g["id"]]


def test_registration_rules(town):
    w = town
    body = {"name": "Helpers", "area_id": w.big, "capabilities": ["litter"]}
    for who in ("far_worker", "official", "resident", "volunteer"):
        with pytest.raises(permissions.PermissionDenied):
            groups.register(w.conn, w.actors[who], body)
    with pytest.raises(permissions.AuthenticationRequired):
        groups.register(w.conn, w.actors["anonymous"], body)
    for change, field in (({"capabilities": ["flying"]}, "capabilities"), ({"name": " "}, "name"),
                          ({"area_id": None}, "area_id"), ({"colour": 1}, "colour")):
        with pytest.raises(ValidationError) as bad:
            groups.register(w.conn, w.actors["social_worker"], {**body, **change})
        assert field in bad.value.fields
    # Someone from another community cannot join.
    with pytest.raises(ValidationError) as bad:
        groups.register(w.conn, w.actors["social_worker"], {**body, "members": ["farlocal"]})
    assert "user" in bad.value.fields
    assert w.conn.execute("SELECT count(*) FROM parties WHERE name = 'Helpers'").fetchone()[0] == 0


def test_members_one_group_each_and_removal(town):
    w = town
    sw = w.actors["social_worker"]
    a = groups.register(w.conn, sw, {"name": "A", "area_id": w.big, "members": ["local0"]})
    b = groups.register(w.conn, sw, {"name": "B", "area_id": w.big})
    with pytest.raises(groups.AlreadyInAGroup):
        groups.add_member(w.conn, sw, b["id"], "local0")
    with pytest.raises(permissions.PermissionDenied):
        groups.add_member(w.conn, w.actors["far_worker"], b["id"], "local1")
    groups.add_member(w.conn, sw, b["id"], "local1", "leader")
    groups.remove_member(w.conn, sw, a["id"], w.locals[0])
    back = accounts.load_user(w.conn, w.locals[0])
    assert back.role == "resident" and back.party_id is None
    assert groups.get(w.conn, a["id"], sw)["members"] == []
    groups.add_member(w.conn, sw, b["id"], "local0")
    assert sorted(m["name"] for m in groups.get(w.conn, b["id"], sw)["members"]) == ["local0", "local1"]


def _confirmed(w, category="litter"):
    issue = w.report(category=category).issue
    return w.walk(issue.id, "confirmed")


def test_member_reports_work_and_the_group_resolves(town):
    w = town
    sw = w.actors["social_worker"]
    g = groups.register(w.conn, sw, {"name": "Helpers", "area_id": w.big, "capabilities": ["litter"],
                                     "members": ["local0"]})
    other = groups.register(w.conn, sw, {"name": "Others", "area_id": w.big, "capabilities": ["litter"],
                                         "members": ["local1"]})
    issue = _confirmed(w)
    # Only categories the group said it can handle.
    noisy = _confirmed(w, "noise")
    with pytest.raises(groups.GroupCannotHandle):
        groups.assign_issue(w.conn, sw, g["id"], noisy.id, noisy.version)
    with pytest.raises(permissions.PermissionDenied):
        groups.assign_issue(w.conn, w.actors["far_worker"], g["id"], issue.id, issue.version)
    assigned = groups.assign_issue(w.conn, sw, g["id"], issue.id, issue.version, "Yours")
    assert assigned.status == "assigned" and assigned.assigned_party_id == g["id"]

    member, outsider = _actor(w.conn, w.locals[0]), _actor(w.conn, w.locals[1])
    with pytest.raises(permissions.PermissionDenied):
        groups.report_work(w.conn, outsider, issue.id, {"note": "We did it"})
    with pytest.raises(permissions.PermissionDenied):
        groups.report_work(w.conn, w.actors["resident"], issue.id, {"note": "We did it"})
    with pytest.raises(ValidationError):
        groups.report_work(w.conn, member, issue.id, {"note": " "})
    done = groups.report_work(w.conn, member, issue.id, {"note": "Swept the gate <ok>", "minutes": 40, "people": 3})
    assert done["issue"]["properties"]["status"] == "assigned"
    resolved = groups.report_work(w.conn, member, issue.id, {"note": "Bags taken away", "to": "resolved",
                                                             "version": assigned.version})
    assert resolved["issue"]["properties"]["status"] == "resolved"
    history = issues.get(w.conn, issue.id)["properties"]["history"]
    kinds = [(e["kind"], e["to_status"]) for e in history[-4:]]
    assert kinds == [("work_report", "assigned"), ("work_report", "assigned"), ("transition", "in_progress"),
                     ("transition", "resolved")]
    report = history[-4]
    assert report["note"] == "Swept the gate <ok>" and report["data"] == {"party_id": g["id"], "minutes": 40,
                                                                         "people": 3}
    with pytest.raises(groups.WorkNotExpected):
        groups.report_work(w.conn, member, issue.id, {"note": "more"})
    seen = groups.get(w.conn, g["id"])
    assert [r["note"] for r in seen["work_reports"]] == ["Bags taken away", "Swept the gate <ok>"]
    assert seen["resolved_count"] == 1 and groups.get(w.conn, other["id"])["resolved_count"] == 0

    # The dashboard's count: resolved issues by the kind of the party assigned when resolved.
    gov = w.conn.execute("INSERT INTO parties (kind, name, area_id) VALUES ('government', '城管', %s) RETURNING id",
                         (w.big,)).fetchone()[0]
    by_gov = _confirmed(w)
    by_gov = issues.assign(w.conn, sw, by_gov.id, gov, by_gov.version)
    w.walk(by_gov.id, "in_progress", "resolved", "closed")
    counts = groups.resolved_by_kind(w.conn)
    assert counts == {"volunteer_group": 1, "government": 1}
    assert w.conn.execute(
        "SELECT p.kind FROM issues i JOIN parties p ON p.id = i.assigned_party_id WHERE i.id = %s",
        (issue.id,)).fetchone()[0] == "volunteer_group"
