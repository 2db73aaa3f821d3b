"""A small world for the issue tests: a street, overlapping communities, parties, people and their actors."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from geodata import issues
from geodata.permissions import Actor

# A big community, a small one inside it (overlapping boundaries: the smallest wins), one far away,
# and the street over the first two.
BIG = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"
SMALL = "POLYGON((116.305 39.935, 116.307 39.935, 116.307 39.937, 116.305 39.937, 116.305 39.935))"
FAR = "POLYGON((116.40 39.93, 116.42 39.93, 116.42 39.95, 116.40 39.95, 116.40 39.93))"
STREET = "POLYGON((116.29 39.92, 116.33 39.92, 116.33 39.96, 116.29 39.96, 116.29 39.92))"

# A point inside BIG only, one inside SMALL (and BIG), one in FAR, one outside everything.
IN_BIG = (116.31, 39.94)
IN_SMALL = (116.306, 39.936)
IN_FAR = (116.41, 39.94)
OUTSIDE = (116.50, 40.10)

PLANTED_CONTACT = "13800138000 planted-contact@example.org"


@dataclass
class World:
    conn: object
    street: int
    big: int
    small: int
    far: int
    party: int
    other_party: int
    users: dict
    actors: dict

    def report(self, actor=None, point=IN_BIG, **payload) -> issues.Reported:
        body = {"lon": point[0], "lat": point[1], "category": "litter", "description": "Bags of rubbish by gate 3"}
        body.update(payload)
        return issues.report(self.conn, actor or self.actors["anonymous"], body)

    def walk(self, issue_id: int, *statuses: str) -> issues.Issue:
        """Drive an issue through statuses as admin, with whatever each step needs."""
        issue = issues.load(self.conn, issue_id)
        for to in statuses:
            issue = issues.transition(self.conn, self.actors["admin"], issue_id, to, issue.version,
                                      **step_extras(to, self))
        return issue


def step_extras(to: str, world: World) -> dict:
    if to == "assigned":
        return {"party_id": world.party}
    if to == "duplicate":
        return {"duplicate_of": world.canonical}
    if to == "closed":
        return {"satisfaction": 4}
    return {}


def _area(conn, code, level, wkt, parent=None):
    return conn.execute(
        "INSERT INTO areas (code, name, name_en, level, parent_id, geom, source)"
        " VALUES (%s, %s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'test') RETURNING id",
        (code, f"社区{code}", code, level, parent, wkt)).fetchone()[0]


def _user(conn, username, role, party=None, areas=()):
    uid = conn.execute(
        "INSERT INTO users (username, role, password_hash, party_id, email) VALUES (%s, %s, 'x', %s, %s) RETURNING id",
        (username, role, party, f"{username}@example.org")).fetchone()[0]
    for a in areas:
        conn.execute("INSERT INTO user_areas (user_id, area_id) VALUES (%s, %s)", (uid, a))
    return uid


@pytest.fixture
def world(empty_areas) -> World:
    conn = empty_areas
    # TRUNCATE of areas cascades to issues and their history (and to parties and users through areas).
    conn.execute("TRUNCATE issues, issue_events, supports, comments, idempotency_keys, parties, users "
                 "RESTART IDENTITY CASCADE")
    street = _area(conn, "S1", "street", STREET)
    big = _area(conn, "C-BIG", "community", BIG, street)
    small = _area(conn, "C-SMALL", "community", SMALL, street)
    far = _area(conn, "C-FAR", "community", FAR)
    party = conn.execute("INSERT INTO parties (kind, name, area_id) VALUES ('volunteer_group', '楼门志愿队', %s)"
                         " RETURNING id", (big,)).fetchone()[0]
    other = conn.execute("INSERT INTO parties (kind, name, area_id) VALUES ('social_work', '社工站', %s)"
                         " RETURNING id", (big,)).fetchone()[0]
    users = {
        "resident": _user(conn, "resident1", "resident"),
        "resident2": _user(conn, "resident2", "resident"),
        "volunteer": _user(conn, "volunteer1", "volunteer", party),
        "social_worker": _user(conn, "sw1", "social_worker", other, (big, small)),
        "far_worker": _user(conn, "sw_far", "social_worker", other, (far,)),
        "official": _user(conn, "official1", "official", None, (big, small)),
        "admin": _user(conn, "admin1", "admin"),
    }
    actors = {
        "anonymous": Actor(client_key="client-a"),
        "anonymous2": Actor(client_key="client-b"),
        "resident": Actor(role="resident", user_id=users["resident"], username="resident1"),
        "resident2": Actor(role="resident", user_id=users["resident2"], username="resident2"),
        "volunteer": Actor(role="volunteer", user_id=users["volunteer"], username="volunteer1",
                           party_ids=frozenset({party})),
        "social_worker": Actor(role="social_worker", user_id=users["social_worker"], username="sw1",
                               area_ids=frozenset({big, small}), party_ids=frozenset({other})),
        "far_worker": Actor(role="social_worker", user_id=users["far_worker"], username="sw_far",
                            area_ids=frozenset({far})),
        "official": Actor(role="official", user_id=users["official"], username="official1",
                          area_ids=frozenset({big, small})),
        "admin": Actor(role="admin", user_id=users["admin"], username="admin1"),
    }
    w = World(conn, street, big, small, far, party, other, users, actors)
    w.canonical = w.report(description="The first report of the rubbish").issue.id
    return w
