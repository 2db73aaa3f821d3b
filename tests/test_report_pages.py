"""The resident's pages over HTTP (Flask test client, real PostGIS): /report without scripts, /issues/<id> per visitor."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

import helpers
from geodata import issues
from issues_world import IN_BIG, OUTSIDE, PLANTED_CONTACT, world  # noqa: F401
from webmap import create_app
from webmap import db as webdb

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture
def app(database_url, conn):
    # Rate limits stay on (sign-in needs them); each test starts with fresh counters.
    conn.execute("DELETE FROM rate_limits")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    yield app
    webdb.close_pool(app)
    conn.execute("DELETE FROM rate_limits")


@pytest.fixture
def client(app):
    return app.test_client()


class Controls(HTMLParser):
    """Form controls of a page, the ids that labels point at, and the problem messages by id."""

    def __init__(self, html: str):
        super().__init__()
        self.controls, self.labelled, self.wrapped, self._label_depth = [], set(), 0, 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.labelled.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            self.controls.append((a.get("id"), a.get("name"), self._label_depth > 0))

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_depth -= 1

    def unlabelled(self):
        return [(i, n) for i, n, wrapped in self.controls if not wrapped and i not in self.labelled]


def _csrf(client, path="/report"):
    return helpers.csrf_token(client, path)


def _counts(conn):
    return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ("issues", "issue_events", "comments", "idempotency_keys"))


def _problems(html: str) -> dict:
    return dict(re.findall(r'<p class="problem" id="([\w-]+)-problem">([^<]*)</p>', html))


def _form(client, **fields):
    data = {"csrf_token": _csrf(client), "lat": str(IN_BIG[1]), "lon": str(IN_BIG[0]), "category": "litter",
            "description": "Bags of rubbish by gate 3", "title": "", "contact": ""}
    data.update(fields)
    return client.post("/report", data=data)


# ---------------------------------------------------------------- /report without scripts


def test_the_report_form_has_labelled_fields_and_category_names_per_language(world, client):
    resp = client.get("/report?lat=39.94&lon=116.31&lang=en")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    controls = Controls(html)
    assert controls.unlabelled() == []
    names = {n for _, n, _ in controls.controls}
    assert {"lat", "lon", "category", "description", "title", "contact"} <= names
    assert 'name="idempotency_key"' in html and 'name="csrf_token"' in html
    assert 'value="39.94"' in html and "Litter" in html and "Broken street light" in html
    assert 'action="/report"' in html and 'method="post"' in html
    zh = client.get("/report?lang=zh").get_data(as_text=True)
    assert "垃圾堆放" in zh and "路灯损坏" in zh and "Broken street light" not in zh


def test_missing_fields_show_the_form_again_with_messages_and_store_nothing(world, client):
    before = _counts(world.conn)
    resp = client.post("/report", data={"csrf_token": _csrf(client), "lat": "", "lon": "", "description": "  "},
                       headers={"Accept-Language": "en"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    problems = _problems(html)
    assert set(problems) >= {"lat", "lon", "category", "description"}
    assert "required" in problems["lat"] and "empty" in problems["description"]
    # Each message sits next to its field and the field points at it.
    assert re.search(r'id="description"[^>]*aria-describedby="description-hint description-problem"', html)
    assert _counts(world.conn) == before


def test_invalid_fields_show_messages_keep_what_was_typed_and_store_nothing(world, client):
    before = _counts(world.conn)
    resp = _form(client, lat="north", lon="200", category="volcano", description="x" * 4001, title="t" * 121,
                 contact="Call me")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    problems = _problems(html)
    assert set(problems) == {"lat", "lon", "category", "description", "title"}
    assert re.search(r'id="lat"[^>]*value="north"', html) and 'value="Call me"' in html
    assert _counts(world.conn) == before
    resp = client.post("/report", data={"csrf_token": _csrf(client), "lat": "91", "lon": "116.31",
                                        "category": "litter", "description": "d"}, headers={"Accept-Language": "zh"})
    assert _problems(resp.get_data(as_text=True))["lat"] == "必须在 -90 到 90 之间"
    assert _counts(world.conn) == before


def test_a_place_outside_every_community_is_refused_with_a_message(world, client):
    before = _counts(world.conn)
    resp = _form(client, lat=str(OUTSIDE[1]), lon=str(OUTSIDE[0]))
    assert resp.status_code == 200
    assert "location" in _problems(resp.get_data(as_text=True))
    assert _counts(world.conn) == before


def test_a_valid_report_redirects_to_its_page_with_the_private_link_once(world, client):
    resp = _form(client, title="Rubbish at gate 3", contact=PLANTED_CONTACT)
    assert resp.status_code == 303
    location = resp.headers["Location"]
    found = re.fullmatch(r"/issues/(\d+)\?token=([\w-]+)&reported=1", location)
    assert found, location
    issue = issues.load(world.conn, int(found[1]))
    assert issue.title == "Rubbish at gate 3" and issue.source == "web" and issue.reporter_contact == PLANTED_CONTACT
    assert issues.issues_for_token(world.conn, found[2]) == {issue.id}
    page = client.get(location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="private-link"' in html and found[2] in html
    assert page.headers["Referrer-Policy"] == "no-referrer" and "no-store" in page.headers["Cache-Control"]
    assert PLANTED_CONTACT not in html
    # Without the token the page is public: no private link, no contact.
    public = client.get(f"/issues/{issue.id}").get_data(as_text=True)
    assert found[2] not in public and 'id="private-link"' not in public and PLANTED_CONTACT not in public


def test_the_same_form_sent_twice_makes_one_issue(world, client):
    csrf = _csrf(client)
    data = {"csrf_token": csrf, "idempotency_key": "form-key-1", "lat": str(IN_BIG[1]), "lon": str(IN_BIG[0]),
            "category": "litter", "description": "twice"}
    first, second = client.post("/report", data=data), client.post("/report", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert world.conn.execute("SELECT count(*) FROM issues WHERE description = 'twice'").fetchone()[0] == 1


def test_the_form_needs_its_csrf_token(world, client):
    client.get("/report")
    resp = client.post("/report", data={"lat": "39.94", "lon": "116.31", "category": "litter", "description": "d"})
    assert resp.status_code == 400
    assert world.conn.execute("SELECT count(*) FROM issues WHERE description = 'd'").fetchone()[0] == 0


# ---------------------------------------------------------------- /issues/<id> per visitor


def _sections(html: str) -> set[str]:
    return {s for s in ("workflow", "assignment", "confirm", "private-link", "add-comment", "me-too")
            if f'id="{s}"' in html}


def _options(html: str, select: str) -> list[str]:
    block = re.search(rf'<select id="{select}" name="{select}">(.*?)</select>', html, re.S)
    return re.findall(r'<option value="([^"]*)"', block[1]) if block else []


def test_unknown_issue_is_a_404_page(world, client):
    resp = client.get("/issues/987654321")
    assert resp.status_code == 404 and "987654321" in resp.get_data(as_text=True)


def test_anonymous_visitors_see_details_timeline_and_me_too_but_no_actions(world, client):
    reported = world.report(title="Lamp out", contact=PLANTED_CONTACT)
    resp = client.get(f"/issues/{reported.issue.id}?lang=en")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert _sections(html) == {"add-comment", "me-too"}
    assert "Lamp out" in html and "Litter" in html and "Report made" in html and "Due" in html
    assert PLANTED_CONTACT not in html
    assert Controls(html).unlabelled() == []
    csrf = _csrf(client, f"/issues/{reported.issue.id}")
    resp = client.post(f"/issues/{reported.issue.id}/support", data={"csrf_token": csrf})
    assert resp.status_code == 303
    assert issues.load(world.conn, reported.issue.id).supports_count == 1
    # A staff step from a stranger: sign in first, nothing changes.
    resp = client.post(f"/issues/{reported.issue.id}/transition",
                       data={"csrf_token": csrf, "to": "confirmed", "version": "1"})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert issues.load(world.conn, reported.issue.id).status == "reported"


def test_staff_see_the_steps_the_lifecycle_allows_and_move_the_issue(world, client):
    conn = world.conn
    issue = world.report().issue
    helpers.make_user(conn, "social_worker", areas=[world.big], username="sw-page")
    csrf = helpers.login(client, "sw-page")
    html = client.get(f"/issues/{issue.id}").get_data(as_text=True)
    assert _sections(html) >= {"workflow"} and "assignment" not in _sections(html)
    assert PLANTED_CONTACT not in html
    # Exactly the LIFECYCLE edges out of "reported".
    assert sorted(_options(html, "to")) == sorted(to for (frm, to) in issues.LIFECYCLE if frm == "reported")
    resp = client.post(f"/issues/{issue.id}/transition",
                       data={"csrf_token": csrf, "to": "confirmed", "version": "1", "note": "Seen it"})
    assert resp.status_code == 303
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "assignment" in _sections(html)
    assert sorted(_options(html, "to")) == ["duplicate"]
    assert str(world.party) in _options(html, "party_id")
    resp = client.post(f"/issues/{issue.id}/assign", data={"csrf_token": csrf, "party_id": str(world.party),
                                                         "version": "2"})
    assert resp.status_code == 303
    assert issues.load(conn, issue.id).status == "assigned"
    # A stale version: 409, the page as it is now, nothing changed.
    resp = client.post(f"/issues/{issue.id}/transition", data={"csrf_token": csrf, "to": "in_progress", "version": "2"})
    assert resp.status_code == 409 and 'role="alert"' in resp.get_data(as_text=True)
    assert issues.load(conn, issue.id).status == "assigned"
    # A missing original for a duplicate: the message next to the field.
    resp = client.post(f"/issues/{issue.id}/transition", data={"csrf_token": csrf, "to": "duplicate", "version": "3"})
    assert resp.status_code == 400 and "duplicate_of" in _problems(resp.get_data(as_text=True))


def test_staff_of_another_community_see_no_actions(world, client):
    issue = world.report().issue
    helpers.make_user(world.conn, "social_worker", areas=[world.far], username="sw-far-page")
    helpers.login(client, "sw-far-page")
    assert _sections(client.get(f"/issues/{issue.id}").get_data(as_text=True)) == {"add-comment", "me-too"}


def test_the_reporters_private_link_confirms_a_resolved_issue_with_a_rating(world, client):
    reported = world.report()
    issue_id, token = reported.issue.id, reported.private_token
    assert "confirm" not in _sections(client.get(f"/issues/{issue_id}?token={token}").get_data(as_text=True))
    world.walk(issue_id, "confirmed", "assigned", "in_progress", "resolved")
    assert "confirm" not in _sections(client.get(f"/issues/{issue_id}").get_data(as_text=True))
    html = client.get(f"/issues/{issue_id}?token={token}").get_data(as_text=True)
    assert _sections(html) >= {"confirm", "private-link"} and "workflow" not in _sections(html)
    csrf = _csrf(client, f"/issues/{issue_id}?token={token}")
    resp = client.post(f"/issues/{issue_id}/transition?token={token}",
                       data={"csrf_token": csrf, "to": "closed", "version": "5"})
    assert resp.status_code == 400 and "satisfaction" in _problems(resp.get_data(as_text=True))
    # A wrong token proves nothing.
    resp = client.post(f"/issues/{issue_id}/transition?token=nope",
                       data={"csrf_token": csrf, "to": "closed", "version": "5", "satisfaction": "4"})
    assert resp.status_code == 302 and issues.load(world.conn, issue_id).status == "resolved"
    resp = client.post(f"/issues/{issue_id}/transition?token={token}",
                       data={"csrf_token": csrf, "to": "closed", "version": "5", "satisfaction": "4"})
    assert resp.status_code == 303 and f"token={token}" in resp.headers["Location"]
    closed = issues.load(world.conn, issue_id)
    assert closed.status == "closed" and closed.satisfaction == 4


def test_user_text_is_escaped_on_both_pages(world, client):
    reported = world.report(title=XSS, description=XSS + " description")
    issue_id = reported.issue.id
    csrf = _csrf(client, f"/issues/{issue_id}")
    assert client.post(f"/issues/{issue_id}/comment", data={"csrf_token": csrf, "body": XSS}).status_code == 303
    html = client.get(f"/issues/{issue_id}").get_data(as_text=True)
    assert "window.__pwned" in html  # the text is there ...
    assert "<script>window.__pwned" not in html and "<img src=x" not in html  # ... but never as markup
    assert html.count("&lt;script&gt;window.__pwned=1&lt;/script&gt;") >= 3  # title, description, comment
    resp = _form(client, title=XSS, description=XSS, lat="")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html


def test_hidden_comments_are_hidden_from_the_public_and_shown_to_staff(world, client, app):
    issue = world.report().issue
    issues.comment(world.conn, world.actors["anonymous"], issue.id, "rude words here")
    helpers.make_user(world.conn, "social_worker", areas=[world.big], username="sw-mod")
    staff = app.test_client()
    csrf = helpers.login(staff, "sw-mod")
    html = staff.get(f"/issues/{issue.id}").get_data(as_text=True)
    comment_id = int(re.search(r'data-comment-id="(\d+)"', html)[1])
    resp = staff.post(f"/issues/{issue.id}/comments/{comment_id}/hide", data={"csrf_token": csrf, "reason": "rude"})
    assert resp.status_code == 303
    public = client.get(f"/issues/{issue.id}?lang=en").get_data(as_text=True)
    assert "rude words here" not in public and "hidden by a moderator" in public
    html = staff.get(f"/issues/{issue.id}?lang=en").get_data(as_text=True)
    assert "rude words here" in html and "hidden by a moderator" in html and "Reason: rude" in html


def test_the_form_counts_against_the_report_rate_limit(world, database_url, conn):
    conn.execute("DELETE FROM rate_limits")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                      "RATE_LIMIT_REPORTS": "2 per hour"})
    try:
        client = app.test_client()
        statuses = [_form(client, description=f"limited {n}").status_code for n in range(3)]
    finally:
        webdb.close_pool(app)
        conn.execute("DELETE FROM rate_limits")
    assert statuses == [303, 303, 429]
    assert world.conn.execute("SELECT count(*) FROM issues WHERE description LIKE 'limited %'").fetchone()[0] == 2
