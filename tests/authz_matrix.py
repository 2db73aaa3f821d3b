"""The authorization matrix: what each role may do (written by hand) and the endpoints that check it.

Two hand-written tables, both checked by tests/test_auth_matrix.py:

- EXPECTED: for every action of geodata.permissions.PERMISSIONS, what each role may do. The test compares
  it with what permissions.may() answers, so a change to either table fails until the other agrees.
- ENDPOINTS: (method, path, action, ...) entries. Each is requested as every role, through a signed-in
  session and through an API token, and must answer the status that EXPECTED implies.

To register your endpoints, append Endpoint(...) entries to ENDPOINTS. Paths and bodies may use these
placeholders, filled by the test's world:
  {area_in} {area_out}      a community in / outside every staff actor's areas (ids)
  {issue_in} {issue_out}    ids of issues in those communities (need the issues schema)
  {comment_out}             a comment on {issue_out}
  {user_id}                 an account admins may edit; {token_id} one of its API tokens
  {n}                       a number unique to each request (for names that must not repeat)
"""
from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("anonymous", "resident", "volunteer", "social_worker", "official", "admin")

# What a role may do, judged on objects: "any" every object; "area" objects in the actor's areas;
# "own" the actor's own report; "assigned" issues assigned to the actor's party; "own|area" either;
# "-" nothing.
#                         anonymous   resident    volunteer   social_worker  official    admin
EXPECTED: dict[str, tuple[str, ...]] = {
    "issue.report":         ("any",     "any",      "any",      "any",         "any",      "any"),
    "issue.view":           ("any",     "any",      "any",      "any",         "any",      "any"),
    "issue.support":        ("any",     "any",      "any",      "any",         "any",      "any"),
    "issue.comment":        ("any",     "any",      "any",      "any",         "any",      "any"),
    "issue.confirm":        ("own",     "own",      "own",      "own|area",    "own",      "any"),
    "issue.transition":     ("-",       "-",        "assigned", "area",        "-",        "any"),
    "issue.assign":         ("-",       "-",        "-",        "area",        "-",        "any"),
    "comment.hide":         ("-",       "-",        "-",        "area",        "-",        "any"),
    "issue.view_contact":   ("-",       "-",        "-",        "area",        "area",     "any"),
    "user.view_email":      ("-",       "-",        "-",        "area",        "area",     "any"),
    "dashboard.view":       ("-",       "-",        "-",        "area",        "area",     "any"),
    "hotspots.view":        ("-",       "-",        "-",        "area",        "area",     "any"),
    "issues.export":        ("-",       "-",        "-",        "area",        "area",     "any"),
    "walkabout.plan":       ("-",       "-",        "-",        "area",        "-",        "any"),
    "walkabout.record_visit": ("-",     "-",        "-",        "area",        "-",        "any"),
    "deliberation.manage":  ("-",       "-",        "-",        "area",        "-",        "any"),
    "deliberation.vote":    ("-",       "area",     "area",     "area",        "area",     "any"),
    "party.manage":         ("-",       "-",        "-",        "area",        "-",        "any"),
    "party.report_work":    ("-",       "-",        "assigned", "-",           "-",        "any"),
    "users.manage":         ("-",       "-",        "-",        "-",           "-",        "any"),
    "tokens.manage":        ("-",       "-",        "-",        "-",           "-",        "any"),
    "audit.read":           ("-",       "-",        "-",        "-",           "-",        "any"),
}

# The objects an action is judged on, and which kinds of expectation allow each.
OBJECTS = ("in_area", "out_of_area", "own", "assigned")
ALLOWS = {
    "any": {"in_area", "out_of_area", "own", "assigned"},
    "area": {"in_area"},
    "own": {"own"},
    "assigned": {"assigned"},
    "own|area": {"own", "in_area"},
    "-": set(),
}


def expected(action: str, role: str) -> str:
    """The hand-written expectation of a role for an action."""
    return EXPECTED[action][ROLES.index(role)]


def allowed(action: str, role: str, obj: str) -> bool:
    """Whether EXPECTED lets the role do the action to that kind of object ("none": no object, a list page)."""
    kind = expected(action, role)
    if obj == "none":
        # Without an object, area scope means "serves some area"; every actor of the test world serves one.
        return kind in ("any", "area", "own|area")
    return obj in ALLOWS[kind]


# Objects some endpoints need, made once per matrix world: placeholder name -> make(conn, world) -> id.
# A JSON body's string that is exactly "{name}" becomes the id itself (an integer).
WORLD_OBJECTS: dict = {}


def _deliberation(area: str):
    def make(conn, world):
        area_id = getattr(world, area)
        issue_id = world.issue_in if area == "area_in" else world.issue_out
        did = conn.execute(
            "INSERT INTO deliberations (area_id, title, opened_by_label, place, meeting_at, votes_open_at, votes_close_at)"
            " SELECT %s, 'matrix', 'matrix', ST_PointOnSurface(geom), now() + interval '2 days', now() - interval '1 hour',"
            " now() + interval '1 day' FROM areas WHERE id = %s RETURNING id", (area_id, area_id)).fetchone()[0]
        conn.execute("INSERT INTO deliberation_options (deliberation_id, position, label) VALUES (%s, 1, 'a'), (%s, 2, 'b')",
                     (did, did))
        conn.execute("INSERT INTO deliberation_issues (deliberation_id, issue_id) VALUES (%s, %s)", (did, issue_id))
        return did
    return make


def _group(area: str):
    def make(conn, world):
        return conn.execute("INSERT INTO parties (kind, name, area_id, capabilities) VALUES ('volunteer_group', %s, %s,"
                            " '{litter}') RETURNING id", (f"matrix {area} {world.tag}", getattr(world, area))).fetchone()[0]
    return make


def _issue_assigned_to_volunteers(conn, world):
    """An issue (far from every staff area) assigned to the matrix volunteer's group."""
    party = conn.execute("SELECT party_id FROM users WHERE id = %s", (world.users["volunteer"],)).fetchone()[0]
    return conn.execute(
        "INSERT INTO issues (category, title, description, geom, area_id, status, version, due_at, assigned_party_id)"
        " SELECT 'litter', 't', 'd', geom, area_id, 'assigned', 3, now(), %s FROM issues WHERE id = %s RETURNING id",
        (party, world.issue_out)).fetchone()[0]


WORLD_OBJECTS.update(deliberation_in=_deliberation("area_in"), deliberation_out=_deliberation("area_out"),
                     group_in=_group("area_in"), group_out=_group("area_out"),
                     issue_assigned=_issue_assigned_to_volunteers)


@dataclass(frozen=True)
class Endpoint:
    """One protected route, the action it checks and the statuses it answers."""

    method: str
    path: str
    action: str
    obj: str = "none"  # which object the action is judged on: none, in_area, out_of_area, own, assigned
    ok: int = 200  # the status when allowed
    page: bool = False  # an HTML page: strangers are sent to /login (302) rather than answered 401
    form: dict = field(default_factory=dict)  # sent as a form (pages) ...
    json: dict | None = None  # ... or as JSON (API)
    denied: int = 403  # the status for a signed-in actor who may not

    def status_for(self, role: str) -> int:
        """What the endpoint must answer to this role, from EXPECTED."""
        if allowed(self.action, role, self.obj):
            return self.ok
        if role == "anonymous":
            return 302 if self.page else 401
        return self.denied

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS: list[Endpoint] = [
    # Accounts (webmap/admin.py, webmap/accounts_api.py).
    Endpoint("GET", "/admin/users", "users.manage", page=True),
    Endpoint("GET", "/admin/users/new", "users.manage", page=True),
    Endpoint("POST", "/admin/users/new", "users.manage", page=True, ok=302,
             form={"username": "matrix-new-{n}", "role": "resident", "password": "pw-Secret-123", "active": "on"}),
    Endpoint("GET", "/admin/users/{user_id}", "users.manage", page=True),
    Endpoint("POST", "/admin/users/{user_id}", "users.manage", page=True, ok=302,
             form={"role": "official", "areas": "", "active": "on", "display_name": "edited {n}"}),
    Endpoint("POST", "/admin/users/{user_id}/password", "users.manage", page=True, ok=302,
             form={"password": "another-Secret-{n}"}),
    Endpoint("GET", "/admin/tokens", "tokens.manage", page=True),
    Endpoint("POST", "/admin/tokens", "tokens.manage", page=True, ok=201,
             form={"username": "{username}", "role": "", "name": "matrix {n}", "expires_days": "30"}),
    Endpoint("POST", "/admin/tokens/{token_id}/revoke", "tokens.manage", page=True, ok=302),
    Endpoint("GET", "/admin/audit", "audit.read", page=True),
    Endpoint("GET", "/api/audit", "audit.read"),
    Endpoint("GET", "/api/audit?limit=5", "audit.read"),
    # Issues (webmap/issues_api.py). {issue_in}/{issue_out} are confirmed at version 2. The changing requests
    # are built to be refused after the permission check (an unknown party, an unknown original), so an
    # allowed role gets 400 and nothing changes between roles.
    Endpoint("GET", "/api/issues", "issue.view"),
    Endpoint("GET", "/api/issues/{issue_in}", "issue.view", obj="in_area"),
    Endpoint("GET", "/api/issues/{issue_out}", "issue.view", obj="out_of_area"),
    Endpoint("POST", "/api/issues", "issue.report", ok=201,
             json={"lat": 39.94, "lon": 116.31, "category": "litter", "description": "matrix"}),
    Endpoint("POST", "/api/issues/{issue_in}/comments", "issue.comment", obj="in_area", ok=201,
             json={"body": "matrix"}),
    Endpoint("POST", "/api/issues/{issue_in}/transitions", "issue.transition", obj="in_area", ok=400,
             json={"to": "duplicate", "version": 2, "duplicate_of": 2**62}),
    Endpoint("POST", "/api/issues/{issue_out}/transitions", "issue.transition", obj="out_of_area", ok=400,
             json={"to": "duplicate", "version": 2, "duplicate_of": 2**62}),
    Endpoint("POST", "/api/issues/{issue_in}/transitions", "issue.assign", obj="in_area", ok=400,
             json={"to": "assigned", "version": 2, "party_id": 2**62}),
    Endpoint("POST", "/api/issues/{issue_out}/transitions", "issue.assign", obj="out_of_area", ok=400,
             json={"to": "assigned", "version": 2, "party_id": 2**62}),
    Endpoint("POST", "/api/issues/{issue_in}/assignment", "issue.assign", obj="in_area", ok=400,
             json={"party_id": 2**62, "version": 2}),
    Endpoint("POST", "/api/issues/{issue_out}/assignment", "issue.assign", obj="out_of_area", ok=400,
             json={"party_id": 2**62, "version": 2}),
    # Out of area only: the test below expects only the admin's requests to leave audit entries.
    Endpoint("POST", "/api/comments/{comment_out}/hide", "comment.hide", obj="out_of_area", json={}),
    # The dashboard (webmap/dashboard.py): staff of the area, admins everywhere.
    Endpoint("GET", "/dashboard", "dashboard.view", page=True),
    Endpoint("GET", "/api/hotspots?area={area_in}", "hotspots.view", obj="in_area"),
    Endpoint("GET", "/api/hotspots?area={area_out}", "hotspots.view", obj="out_of_area"),
    Endpoint("GET", "/api/heatmap?zoom=12", "dashboard.view"),
    Endpoint("GET", "/api/choropleth?area={area_in}", "dashboard.view", obj="in_area"),
    Endpoint("GET", "/api/choropleth?area={area_out}", "dashboard.view", obj="out_of_area"),
    Endpoint("GET", "/api/issues/export?format=csv&area={area_in}", "issues.export", obj="in_area"),
    Endpoint("GET", "/api/issues/export?format=geojson&area={area_out}", "issues.export", obj="out_of_area"),
    # Walkabouts (webmap/walkabouts.py). Plans name a category that does not exist, so an allowed role gets
    # 422 no_open_issues and nothing is stored; walkabout 0 does not exist (404 once the role may look).
    Endpoint("GET", "/walkabouts", "walkabout.plan", page=True),
    Endpoint("POST", "/api/walkabouts", "walkabout.plan", obj="in_area", ok=422,
             json={"polygon": {"type": "Polygon", "coordinates": [[[116.305, 39.935], [116.315, 39.935],
                   [116.315, 39.945], [116.305, 39.945], [116.305, 39.935]]]}, "filters": {"category": ["none"]}}),
    Endpoint("POST", "/api/walkabouts", "walkabout.plan", obj="out_of_area", ok=422,
             json={"polygon": {"type": "Polygon", "coordinates": [[[116.405, 39.935], [116.415, 39.935],
                   [116.415, 39.945], [116.405, 39.945], [116.405, 39.935]]]}, "filters": {"category": ["none"]}}),
    Endpoint("GET", "/api/walkabouts/0", "walkabout.plan", ok=404),
    Endpoint("GET", "/walkabouts/0.gpx", "walkabout.plan", ok=404),
    Endpoint("POST", "/api/walkabouts/0/stops/1/visit", "walkabout.record_visit", ok=404, json={"outcome": "visited"}),
    # Deliberations and volunteer groups (webmap/deliberations.py, webmap/groups.py): every allowed request is
    # refused after the permission check (a bad field, a stale version), so nothing changes between roles.
    Endpoint("POST", "/deliberations", "deliberation.manage", obj="in_area", page=True, ok=400,
             form={"area_id": "{area_in}", "title": "matrix", "options": "only one"}),
    Endpoint("POST", "/deliberations", "deliberation.manage", obj="out_of_area", page=True, ok=400,
             form={"area_id": "{area_out}", "title": "matrix", "options": "only one"}),
    Endpoint("POST", "/api/deliberations", "deliberation.manage", obj="in_area", ok=400,
             json={"area_id": "{area_in}", "title": "matrix", "options": ["only one"]}),
    Endpoint("POST", "/api/deliberations", "deliberation.manage", obj="out_of_area", ok=400,
             json={"area_id": "{area_out}", "title": "matrix", "options": ["only one"]}),
    Endpoint("POST", "/api/deliberations/{deliberation_in}/votes", "deliberation.vote", obj="in_area", ok=400,
             json={"option_id": 2**62}),
    Endpoint("POST", "/api/deliberations/{deliberation_out}/votes", "deliberation.vote", obj="out_of_area", ok=400,
             json={"option_id": 2**62}),
    Endpoint("POST", "/api/deliberations/{deliberation_in}/comments", "deliberation.vote", obj="in_area", ok=400,
             json={"body": " "}),
    Endpoint("POST", "/api/deliberations/{deliberation_out}/comments", "deliberation.vote", obj="out_of_area", ok=400,
             json={"body": " "}),
    Endpoint("POST", "/api/deliberations/{deliberation_in}/record", "deliberation.manage", obj="in_area", ok=400,
             json={"attendance": -1}),
    Endpoint("POST", "/api/deliberations/{deliberation_out}/record", "deliberation.manage", obj="out_of_area", ok=400,
             json={"attendance": -1}),
    Endpoint("POST", "/groups", "party.manage", obj="in_area", page=True, ok=400, form={"area_id": "{area_in}", "name": " "}),
    Endpoint("POST", "/api/groups", "party.manage", obj="in_area", ok=400, json={"area_id": "{area_in}", "name": " "}),
    Endpoint("POST", "/api/groups", "party.manage", obj="out_of_area", ok=400,
             json={"area_id": "{area_out}", "name": " "}),
    Endpoint("POST", "/api/groups/{group_in}/members", "party.manage", obj="in_area", ok=400,
             json={"user": "nobody-{n}"}),
    Endpoint("POST", "/api/groups/{group_out}/members", "party.manage", obj="out_of_area", ok=400,
             json={"user": "nobody-{n}"}),
    Endpoint("POST", "/api/groups/{group_in}/issues", "issue.assign", obj="in_area", ok=409,
             json={"issue_id": "{issue_in}", "version": 99}),
    Endpoint("POST", "/api/issues/{issue_in}/work-reports", "party.report_work", obj="in_area", ok=400,
             json={"note": " "}),
    Endpoint("POST", "/api/issues/{issue_assigned}/work-reports", "party.report_work", obj="assigned", ok=400,
             json={"note": " "}),
    # The resident's pages (webmap/report_pages.py): HTML forms, so strangers are sent to sign in. Staff steps
    # name an original or a party that does not exist, so an allowed role gets the page again (400).
    Endpoint("GET", "/issues/{issue_in}", "issue.view", obj="in_area", page=True),
    Endpoint("POST", "/report", "issue.report", page=True, ok=303,
             form={"lat": "39.94", "lon": "116.31", "category": "litter", "description": "matrix {n}"}),
    Endpoint("POST", "/issues/{issue_in}/comment", "issue.comment", obj="in_area", page=True, ok=303,
             form={"body": "matrix {n}"}),
    Endpoint("POST", "/issues/{issue_in}/support", "issue.support", obj="in_area", page=True, ok=303),
    Endpoint("POST", "/issues/{issue_in}/transition", "issue.transition", obj="in_area", page=True, ok=400,
             form={"to": "duplicate", "version": "2", "duplicate_of": "999999999"}),
    Endpoint("POST", "/issues/{issue_out}/transition", "issue.transition", obj="out_of_area", page=True, ok=400,
             form={"to": "duplicate", "version": "2", "duplicate_of": "999999999"}),
    Endpoint("POST", "/issues/{issue_in}/assign", "issue.assign", obj="in_area", page=True, ok=400,
             form={"party_id": "999999999", "version": "2"}),
    Endpoint("POST", "/issues/{issue_out}/assign", "issue.assign", obj="out_of_area", page=True, ok=400,
             form={"party_id": "999999999", "version": "2"}),
    Endpoint("POST", "/issues/{issue_out}/comments/{comment_out}/hide", "comment.hide", obj="out_of_area",
             page=True, ok=303),
    # Dashboard statistics (webmap/stats_api.py).
    Endpoint("GET", "/api/stats", "dashboard.view"),
    Endpoint("GET", "/api/stats?area={area_in}", "dashboard.view", obj="in_area"),
    Endpoint("GET", "/api/stats?area={area_out}", "dashboard.view", obj="out_of_area"),
]
