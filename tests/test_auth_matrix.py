"""Authorization matrix: the permission table against the hand-written expectations, then every registered
endpoint requested as every role, through a session and through an API token (tests/authz_matrix.py)."""
from __future__ import annotations

import itertools
import secrets

import psycopg
import pytest

import helpers
from authz_matrix import ENDPOINTS, EXPECTED, OBJECTS, ROLES, WORLD_OBJECTS, Endpoint, allowed
from geodata import permissions, tokens
from geodata.permissions import Actor
from webmap import create_app
from webmap import db as webdb

# ---------------------------------------------------------------- the table itself

ME, MY_AREA, MY_PARTY = 100, 1, 10
SAMPLE_OBJECTS = {
    "in_area": {"id": 1, "area_id": MY_AREA, "reporter_id": 999, "assigned_party_id": 99},
    "out_of_area": {"id": 2, "area_id": 2, "reporter_id": 999, "assigned_party_id": 99},
    "own": {"id": 3, "area_id": 2, "reporter_id": ME, "assigned_party_id": 99},
    "assigned": {"id": 4, "area_id": 2, "reporter_id": 999, "assigned_party_id": MY_PARTY},
}


def _sample_actor(role: str) -> Actor:
    if role == "anonymous":
        # An anonymous reporter owns their report through its private link.
        return Actor(client_key="c", reporter_of=frozenset({SAMPLE_OBJECTS["own"]["id"]}))
    return Actor(role=role, user_id=ME, username=role, area_ids=frozenset({MY_AREA}),
                 party_ids=frozenset({MY_PARTY}))


def test_every_action_has_an_expectation_and_the_other_way_round():
    assert set(EXPECTED) == set(permissions.PERMISSIONS), (
        "geodata.permissions.PERMISSIONS and tests/authz_matrix.py EXPECTED list different actions: "
        f"only in PERMISSIONS {sorted(set(permissions.PERMISSIONS) - set(EXPECTED))}, "
        f"only in EXPECTED {sorted(set(EXPECTED) - set(permissions.PERMISSIONS))}")
    assert permissions.ROLES == ROLES


@pytest.mark.parametrize("action", sorted(permissions.PERMISSIONS))
def test_permission_table_matches_expectations(action):
    wrong = []
    for role in ROLES:
        actor = _sample_actor(role)
        for kind in (*OBJECTS, "none"):
            obj = SAMPLE_OBJECTS.get(kind)
            got = permissions.may(actor, action, obj)
            if got != allowed(action, role, kind):
                wrong.append(f"{role} on {kind}: may() says {got}")
    assert not wrong, f"{action}: PERMISSIONS and EXPECTED disagree: " + "; ".join(wrong)


def test_require_tells_strangers_to_sign_in_and_others_no():
    with pytest.raises(permissions.AuthenticationRequired):
        permissions.require(Actor(), "users.manage")
    with pytest.raises(permissions.PermissionDenied) as denied:
        permissions.require(_sample_actor("official"), "users.manage")
    assert not isinstance(denied.value, permissions.AuthenticationRequired)


def test_token_roles_never_exceed_the_users_role():
    for role in ROLES[1:]:
        within = permissions.roles_within(role)
        assert role in within
        for other in within:
            for action in permissions.PERMISSIONS:
                for kind in (*OBJECTS, "none"):
                    if allowed(action, other, kind):
                        assert allowed(action, role, kind), f"a {role}'s {other} token could {action} on {kind}"
    assert permissions.roles_within("resident") == ("resident",)
    assert "social_worker" not in permissions.roles_within("volunteer")
    assert "social_worker" not in permissions.roles_within("official")


# ---------------------------------------------------------------- over HTTP

SQUARE = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"
FAR_SQUARE = "POLYGON((116.40 39.93, 116.42 39.93, 116.42 39.95, 116.40 39.95, 116.40 39.93))"


def _area(conn, code, level, wkt, parent=None) -> int:
    return conn.execute(
        "INSERT INTO areas (code, name, level, parent_id, geom, source)"
        " VALUES (%s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'test') RETURNING id",
        (code, f"区域{code}", level, parent, wkt)).fetchone()[0]


class MatrixWorld:
    """Areas, one account per role, a target account with a token, and a client per role and way in."""

    def __init__(self, conn, app):
        tag = secrets.token_hex(3)
        self.tag = tag
        street = _area(conn, f"MX-S-{tag}", "street", SQUARE)
        self.area_in = _area(conn, f"MX-C1-{tag}", "community", SQUARE, street)
        self.area_out = _area(conn, f"MX-C2-{tag}", "community", FAR_SQUARE)
        party = conn.execute("INSERT INTO parties (kind, name, area_id) VALUES ('volunteer_group', %s, %s)"
                             " RETURNING id", (f"志愿队{tag}", self.area_in)).fetchone()[0]
        # The social worker serves the street, and so its community through areas.parent_id.
        areas = {"resident": [self.area_in], "volunteer": [self.area_in], "social_worker": [street],
                 "official": [self.area_in], "admin": []}
        self.users = {role: helpers.make_user(conn, role, areas=areas[role], username=f"mx-{role}-{tag}",
                                              party_id=party if role == "volunteer" else None)
                      for role in ROLES[1:]}
        self.username = f"mx-target-{tag}"
        self.user_id = helpers.make_user(conn, "official", areas=[self.area_in], username=self.username,
                                         email=f"target-{tag}@example.org")
        token = helpers.make_token(conn, self.user_id)
        self.token_id = conn.execute("SELECT id FROM api_tokens WHERE token_hash = %s",
                                     (tokens.hash_token(token),)).fetchone()[0]
        # A confirmed issue in each community, and a comment on the far one (written directly: the area is
        # given, whatever other communities the session's database holds).
        self.issue_in, self.issue_out = (conn.execute(
            "INSERT INTO issues (category, title, description, geom, area_id, status, version, due_at)"
            " VALUES ('litter', 't', 'd', ST_Centroid(ST_GeomFromText(%s, 4326)), %s, 'confirmed', 2, now())"
            " RETURNING id", (wkt, area)).fetchone()[0]
            for wkt, area in ((SQUARE, self.area_in), (FAR_SQUARE, self.area_out)))
        self.comment_out = conn.execute(
            "INSERT INTO comments (issue_id, author_label, body) VALUES (%s, 'anonymous', 'matrix') RETURNING id",
            (self.issue_out,)).fetchone()[0]
        # Objects the endpoints of other modules need ({name} placeholders), made by authz_matrix.WORLD_OBJECTS.
        self.objects = {name: make(conn, self) for name, make in WORLD_OBJECTS.items()}
        self.audit_start = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]
        self.serial = itertools.count(1)
        self.sessions, self.csrf, self.tokens = {}, {}, {}
        for role in ROLES:
            client = app.test_client()
            if role == "anonymous":
                self.csrf[role] = helpers.csrf_token(client)
            else:
                self.csrf[role] = helpers.login(client, f"mx-{role}-{tag}")
                self.tokens[role] = helpers.token_headers(conn, self.users[role])
            self.sessions[role] = client
        # No cookie jar: a page visited anonymously must not leave a session cookie that later requests carry.
        self.bare = app.test_client(use_cookies=False)

    def fill(self, text: str, n: int) -> str:
        return text.format(area_in=self.area_in, area_out=self.area_out, user_id=self.user_id,
                           token_id=self.token_id, username=self.username, n=n,
                           issue_in=getattr(self, "issue_in", ""), issue_out=getattr(self, "issue_out", ""),
                           comment_out=getattr(self, "comment_out", ""), **getattr(self, "objects", {}))

    def fill_json(self, value, n: int):
        """A JSON body with its placeholders filled: a string that is one placeholder becomes the value itself."""
        if isinstance(value, dict):
            return {k: self.fill_json(v, n) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill_json(v, n) for v in value]
        if isinstance(value, str):
            whole = value[1:-1] if value.startswith("{") and value.endswith("}") else None
            if whole in self.objects or whole in ("area_in", "area_out", "issue_in", "issue_out"):
                return self.objects[whole] if whole in self.objects else getattr(self, whole)
            return self.fill(value, n)
        return value

    def request(self, endpoint: Endpoint, role: str, way: str):
        n = next(self.serial)
        path = self.fill(endpoint.path, n)
        form = {k: self.fill(v, n) for k, v in endpoint.form.items()}
        kwargs: dict = {"headers": {}}
        if way == "session":
            client = self.sessions[role]
            if endpoint.method != "GET":
                if endpoint.json is not None:
                    kwargs["headers"]["X-CSRFToken"] = self.csrf[role]
                else:
                    form["csrf_token"] = self.csrf[role]
        else:
            client = self.bare
            if role != "anonymous":
                kwargs["headers"].update(self.tokens[role])
        if endpoint.json is not None:
            kwargs["json"] = self.fill_json(endpoint.json, n)
        elif endpoint.method != "GET":
            kwargs["data"] = form
        return client.open(path, method=endpoint.method, **kwargs)


@pytest.fixture(scope="module")
def matrix(database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM rate_limits")
        yield MatrixWorld(conn, app)
        conn.execute("DELETE FROM rate_limits")
    webdb.close_pool(app)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.label)
def test_endpoint_answers_each_role_as_the_table_says(matrix, endpoint):
    wrong = []
    for role in ROLES:
        for way in ("session", "token"):
            if way == "token" and role == "anonymous" and endpoint.page and endpoint.method != "GET":
                continue  # a cookieless POST to a page is refused by CSRF first (tests/test_auth_csrf.py)
            resp = matrix.request(endpoint, role, way)
            want = endpoint.status_for(role)
            if resp.status_code != want:
                wrong.append(f"{role} via {way}: {resp.status_code}, expected {want}")
            elif want == 302 and not endpoint.ok == 302:
                assert "/login" in resp.headers["Location"]
    assert not wrong, f"{endpoint.label} ({endpoint.action}): " + "; ".join(wrong)


def test_refused_requests_changed_nothing(matrix, conn):
    """Only the admin's requests of the matrix left traces in the audit log."""
    roles = {r[0] for r in conn.execute(
        "SELECT DISTINCT actor_role FROM audit_log WHERE id > %s AND action NOT LIKE 'auth.%%'",
        (matrix.audit_start,)).fetchall()}
    assert roles == {"admin"}
    target = conn.execute("SELECT display_name FROM users WHERE id = %s", (matrix.user_id,)).fetchone()[0]
    assert target and target.startswith("edited ")
