"""The issue API with real accounts (webmap.auth, tests/helpers.py): who may do what, over HTTP."""
from __future__ import annotations

import helpers
import pytest

from issues_world import IN_BIG, PLANTED_CONTACT, world  # noqa: F401
from apps import app_for

REPORT = {"lat": IN_BIG[1], "lon": IN_BIG[0], "category": "litter", "description": "Rubbish by gate 3"}


@pytest.fixture
def app(database_url):
    with app_for(database_url, RATELIMIT_ENABLED=False) as app:
        yield app


@pytest.fixture
def people(world):
    conn = world.conn
    users = {
        "resident": helpers.make_user(conn, "resident"),
        "volunteer": helpers.make_user(conn, "volunteer", party_id=world.party),
        "social_worker": helpers.make_user(conn, "social_worker", areas=[world.big, world.small]),
        "far_worker": helpers.make_user(conn, "social_worker", areas=[world.far]),
        "official": helpers.make_user(conn, "official", areas=[world.big]),
    }
    return {role: helpers.token_headers(conn, uid) for role, uid in users.items()}


def _move(client, issue_id, headers, to, version, **extra):
    return client.post(f"/api/issues/{issue_id}/transitions", json={"to": to, "version": version, **extra},
                       headers=headers)


def test_whole_life_over_http(world, client, people):
    created = client.post("/api/issues", json={**REPORT, "contact": PLANTED_CONTACT})
    assert created.status_code == 201
    issue_id, token = created.get_json()["id"], created.get_json()["private_token"]
    assert _move(client, issue_id, people["far_worker"], "confirmed", 1).status_code == 403
    assert _move(client, issue_id, people["official"], "confirmed", 1).status_code == 403
    assert _move(client, issue_id, people["volunteer"], "confirmed", 1).status_code == 403
    resp = _move(client, issue_id, people["social_worker"], "confirmed", 1, note="seen it")
    assert resp.status_code == 200 and resp.get_json()["properties"]["acknowledged_at"]
    assert _move(client, issue_id, people["social_worker"], "assigned", 2, party_id=world.party).status_code == 200
    assert _move(client, issue_id, people["volunteer"], "in_progress", 3).status_code == 200
    assert _move(client, issue_id, people["volunteer"], "resolved", 4).status_code == 200
    assert _move(client, issue_id, people["resident"], "closed", 5, satisfaction=4).status_code == 403
    resp = _move(client, issue_id, {"X-Reporter-Token": token}, "closed", 5, satisfaction=4)
    assert resp.status_code == 200
    history = resp.get_json()["properties"]["history"]
    assert [e["to_status"] for e in history] == ["reported", "confirmed", "assigned", "in_progress", "resolved",
                                                 "closed"]


def test_contact_only_for_staff_of_the_community(world, client, people):
    issue_id = client.post("/api/issues", json={**REPORT, "contact": PLANTED_CONTACT}).get_json()["id"]
    for role in ("resident", "volunteer", "far_worker"):
        assert PLANTED_CONTACT not in client.get(f"/api/issues/{issue_id}", headers=people[role]).get_data(
            as_text=True)
    for role in ("social_worker", "official"):
        got = client.get(f"/api/issues/{issue_id}", headers=people[role]).get_json()
        assert got["properties"]["reporter_contact"] == PLANTED_CONTACT
    for role in people:
        assert PLANTED_CONTACT not in client.get("/api/issues", headers=people[role]).get_data(as_text=True)


def test_support_once_per_account(world, client, people):
    url = f"/api/issues/{world.canonical}/supports"
    assert client.post(url, headers=people["resident"]).status_code == 201
    again = client.post(url, headers=people["resident"])
    assert again.status_code == 200 and again.get_json() == {"issue_id": world.canonical, "supports_count": 1,
                                                             "created": False}


def test_only_community_staff_hide_comments(world, client, people):
    comment = client.post(f"/api/issues/{world.canonical}/comments", json={"body": "rude"},
                          headers=people["resident"]).get_json()
    url = f"/api/comments/{comment['id']}/hide"
    assert client.post(url, headers=people["resident"]).status_code == 403
    assert client.post(url, headers=people["far_worker"]).status_code == 403
    assert client.post(url, json={"reason": "insult"}, headers=people["social_worker"]).status_code == 200
    public = client.get(f"/api/issues/{world.canonical}").get_json()["properties"]["comments"]
    assert public[0]["hidden"] is True and public[0]["body"] is None
