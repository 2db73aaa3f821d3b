"""The issue page in a real browser: user text stays text, the reporter's private link, staff moving an issue on."""
from __future__ import annotations

from geodata import issues
from geodata.permissions import Actor
from tests.helpers import DEFAULT_PASSWORD, make_user

PAYLOAD = '<script>window.__pwned=1;alert(1)</script><img src=x onerror="window.__pwned=2;alert(2)">'


def _community(conn) -> tuple[int, float, float]:
    row = conn.execute("SELECT id, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM areas"
                       " WHERE level = 'community' ORDER BY code LIMIT 1").fetchone()
    return row[0], float(row[1]), float(row[2])


def _report(conn, **extra):
    area_id, lon, lat = _community(conn)
    body = {"lon": lon, "lat": lat, "category": "street_light", "description": "灯不亮 The lamp is out", **extra}
    return issues.report(conn, Actor(client_key="reporter-browser"), body)


def _watch_dialogs(page) -> list[str]:
    seen: list[str] = []

    def on_dialog(dialog):
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen


def _status(page) -> str:
    return page.locator("#issue-status").get_attribute("data-status")


def test_script_in_title_description_comment_and_notes_is_shown_as_text(demo_areas, desktop):
    conn = demo_areas
    issue = _report(conn, title=PAYLOAD, description=PAYLOAD).issue
    issues.comment(conn, Actor(client_key="someone"), issue.id, PAYLOAD)
    admin = Actor(role="admin", user_id=make_user(conn, "admin"), username="admin-x")
    issues.transition(conn, admin, issue.id, "confirmed", 1, PAYLOAD)
    page = desktop.page
    dialogs = _watch_dialogs(page)
    page.goto(f"{desktop.base}/issues/{issue.id}?lang=en")
    page.wait_for_function("window.issuePage !== undefined", timeout=10000)
    assert page.locator("#issue-title").inner_text() == PAYLOAD
    assert page.locator("#issue-description").inner_text() == PAYLOAD
    assert page.locator(".ip-comment").inner_text() == PAYLOAD
    assert page.locator(".ev-transition .ip-note").inner_text() == PAYLOAD
    desktop.screenshot("issue-desktop")
    # The comment sent from the page itself.
    page.fill("#body", PAYLOAD + " again")
    page.locator("#send-comment").click()
    page.wait_for_url("**#comments")
    assert page.locator(".ip-comment").nth(1).inner_text() == PAYLOAD + " again"
    assert page.locator(".ip-timeline img, .ip-timeline script, #issue-title *, #issue-description *").count() == 0
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert page.title().startswith(PAYLOAD)
    assert desktop.external == []


def test_the_reporters_private_link_confirms_the_fix_with_a_rating(demo_areas, phone):
    conn = demo_areas
    reported = _report(conn)
    admin = Actor(role="admin", user_id=make_user(conn, "admin"), username="admin-y")
    party = conn.execute("INSERT INTO parties (kind, name) VALUES ('government', '街道城管') RETURNING id").fetchone()[0]
    version = 1
    for to, extra in (("confirmed", {}), ("assigned", {"party_id": party}), ("in_progress", {}), ("resolved", {})):
        version = issues.transition(conn, admin, reported.issue.id, to, version, **extra).version
    page = phone.page
    page.goto(f"{phone.base}/issues/{reported.issue.id}")
    assert page.locator("#confirm").count() == 0  # not without the private link
    page.goto(f"{phone.base}/issues/{reported.issue.id}?token={reported.private_token}")
    assert page.locator("#private-link").is_visible() and _status(page) == "resolved"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Sending without a rating asks for one, next to the rating.
    page.locator("#confirm button[value=closed]").tap()
    page.locator("#satisfaction-problem").wait_for(timeout=10000)
    page.locator("#confirm .ip-rating label", has_text="4").tap()
    page.locator("#confirm button[value=closed]").tap()
    page.wait_for_url("**#timeline", timeout=10000)
    assert _status(page) == "closed" and page.locator("#issue-rating").is_visible()
    assert page.locator("#confirm").count() == 0
    stored = issues.load(conn, reported.issue.id)
    assert stored.status == "closed" and stored.satisfaction == 4
    phone.screenshot("issue-phone-confirmed")
    assert phone.external == []
    # The one refused send (no rating) answered 400, which chromium logs; nothing else went wrong.
    assert len(phone.console_errors) == 1 and "400" in phone.console_errors[0]


def test_a_social_worker_moves_an_issue_along_the_workflow(demo_areas, desktop):
    conn = demo_areas
    area_id, _, _ = _community(conn)
    issue = _report(conn).issue
    party = conn.execute("INSERT INTO parties (kind, name, name_en, area_id) VALUES ('volunteer_group', '楼门志愿队',"
                         " 'Stairwell volunteers', %s) RETURNING id", (area_id,)).fetchone()[0]
    make_user(conn, "social_worker", areas=[area_id], username="sw-browser")
    page = desktop.page
    page.goto(f"{desktop.base}/lang/en?next=/login%3Fnext%3D/issues/{issue.id}")
    page.fill("#username", "sw-browser")
    page.fill("#password", DEFAULT_PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"**/issues/{issue.id}")
    assert _status(page) == "reported"
    page.select_option("#to", "confirmed")
    page.fill("#note", "Checked on site")
    page.locator("#do-transition").click()
    page.wait_for_url("**#timeline")
    assert _status(page) == "confirmed"
    page.select_option("#party_id", str(party))
    page.locator("#do-assign").click()
    page.wait_for_url("**#timeline")
    assert _status(page) == "assigned" and page.locator("#issue-party").inner_text() == "Stairwell volunteers"
    for to in ("in_progress", "resolved"):
        page.select_option("#to", to)
        page.locator("#do-transition").click()
        page.wait_for_url("**#timeline")
        assert _status(page) == to
    # Staff see the reporter's confirmation steps too (issue.confirm for their community).
    assert sorted(page.locator("#to option").evaluate_all("os => os.map(o => o.value)")) == ["closed", "reopened"]
    timeline = page.locator(".ip-timeline").inner_text()
    assert "Checked on site" in timeline and "Stairwell volunteers" in timeline
    stored = issues.load(conn, issue.id)
    assert stored.status == "resolved" and stored.assigned_party_id == party
    assert conn.execute("SELECT count(*) FROM issue_events WHERE issue_id = %s AND kind IN ('transition', 'assigned')",
                        (issue.id,)).fetchone()[0] == 4
    desktop.screenshot("issue-desktop-staff")
    assert desktop.external == []
