"""Walkabouts in a real browser: a social worker draws an area and plans a walk on /walkabouts, then marks a
stop on the walk page on a phone; the marks reach the issue's history."""
from __future__ import annotations

from geodata import issues
from geodata.permissions import Actor
from tests.helpers import make_user

N_ISSUES = 5


def _world(conn):
    """A demo community with N_ISSUES reports inside it and a social worker who serves it."""
    area_id = conn.execute("SELECT id FROM areas WHERE level = 'community' ORDER BY code LIMIT 1").fetchone()[0]
    points = conn.execute(
        """SELECT ST_X(p), ST_Y(p) FROM (
               SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(geom::geography, -40)::geometry, %s, 11))).geom AS p
               FROM areas WHERE id = %s) s LIMIT %s""", (N_ISSUES + 10, area_id, N_ISSUES)).fetchall()
    ids = [issues.report(conn, Actor(client_key="walk-browser"),
                         {"lon": lon, "lat": lat, "category": "litter", "title": f"垃圾 {i} <b>x</b>",
                          "description": "有垃圾 rubbish"}).issue.id
           for i, (lon, lat) in enumerate(points)]
    username = f"sw-walk-{conn.info.backend_pid}"
    make_user(conn, "social_worker", areas=[area_id], username=username)
    return area_id, ids, points, username


def _click_at(page, lat, lon):
    """Click the map where (lat, lon) is drawn, as a person would."""
    x, y = page.evaluate(
        """([lat, lon]) => { var map = window.walkabouts.map;
             var p = map.latLngToContainerPoint(L.latLng(lat, lon));
             var r = map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }""",
        [lat, lon])
    page.mouse.click(x, y)


def test_plan_on_the_map_then_mark_a_stop_on_a_phone(demo_areas, desktop, phone):
    conn = demo_areas
    area_id, ids, points, username = _world(conn)

    # Desktop: draw an area round the issues with leaflet-draw, plan, see the numbered route and legs.
    page = desktop.sign_in(username, "/walkabouts")
    page.wait_for_function("window.walkabouts && window.walkabouts.map")
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    pad = 0.0005
    corners = [(min(lats) - pad, min(lons) - pad), (min(lats) - pad, max(lons) + pad),
               (max(lats) + pad, max(lons) + pad), (max(lats) + pad, min(lons) - pad)]
    # Not animated: the corners are clicked where the map shows them once it stands still.
    page.evaluate("(c) => window.walkabouts.map.fitBounds(c, {padding: [40, 40], animate: false})", corners)
    page.locator("#wk-draw").click()
    for lat, lon in corners + corners[:1]:
        _click_at(page, lat, lon)
        page.wait_for_timeout(150)
    page.wait_for_function("window.walkabouts.state.polygon !== null")
    assert page.locator('input[name="where"][value="polygon"]').is_checked()
    page.locator("#wk-plan").click()
    page.wait_for_selector("#wk-result:not([hidden])")
    result = page.evaluate("window.walkabouts.result()")
    assert result["selection"] == "polygon" and sorted(s["issue_id"] for s in result["stops"]) == sorted(ids)
    items = page.locator("#wk-stops li.walk-stop")
    assert items.count() == N_ISSUES
    # Titles are text, not markup; each leg shows metres and minutes.
    assert items.first.locator("strong").inner_text() == result["stops"][0]["title"]
    assert "米" in items.first.locator(".leg").inner_text()
    assert page.locator(".wk-route").count() == 1 and page.locator(".wk-num").count() == N_ISSUES + 1
    assert page.locator("#wk-share").input_value().endswith(result["page_url"])
    desktop.screenshot("walkabout-planner")

    # The community instead of the polygon, with a limit of two stops.
    page.locator('input[name="where"][value="area"]').check()
    page.select_option("#wk-area", str(area_id))
    page.locator('input[name="limit"][value="stops"]').check()
    page.fill("#wk-limit", "2")
    page.locator("#wk-plan").click()
    page.wait_for_function("(id) => window.walkabouts.result().id !== id", arg=result["id"])
    assert page.locator("#wk-stops li.walk-stop").count() == 2
    assert not desktop.external and not desktop.console_errors, (desktop.external, desktop.console_errors)

    # Phone: the walk page of the first plan; mark stop 1 confirmed with a note.
    ppage = phone.sign_in(username, result["page_url"])
    ppage.wait_for_function("window.walkabouts && window.walkabouts.layer")
    first = ppage.locator("#stop-1")
    assert first.locator(".stop-title strong").inner_text() == result["stops"][0]["title"]
    first.locator("textarea.note").fill("垃圾还在 still there")
    first.locator('button.mark[data-outcome="confirmed"]').click()
    ppage.wait_for_function("document.querySelector('#stop-1 .status').dataset.status === 'confirmed'")
    assert "垃圾还在" in first.locator(".outcome").inner_text()
    # Stop 2: "fixed" is not a step from "reported": the page says why, and nothing changes.
    second = ppage.locator("#stop-2")
    second.locator('button.mark[data-outcome="fixed"]').click()
    ppage.wait_for_function("document.querySelector('#stop-2 .outcome').classList.contains('bad')")
    assert "Mark it visited" in second.locator(".outcome").get_attribute("title")
    ppage.locator(".walk-map").scroll_into_view_if_needed()
    phone.screenshot("walkabout-phone")
    # Printed, the sheet keeps the list with a box per stop and drops the buttons.
    ppage.emulate_media(media="print")
    assert first.locator(".tick").is_visible() and first.locator(".visit").is_hidden()
    assert ppage.locator(".site-header").is_hidden() and first.locator(".leg").is_visible()
    ppage.emulate_media(media="screen")
    # The refused mark is the only error the console saw (chromium logs every 4xx answer).
    assert not phone.external and [e for e in phone.console_errors if "422" not in e] == [], phone.console_errors

    issue_id = result["stops"][0]["issue_id"]
    events = conn.execute("SELECT kind, to_status, note FROM issue_events WHERE issue_id = %s ORDER BY id",
                          (issue_id,)).fetchall()
    assert events[-2:] == [("visited", None, "垃圾还在 still there"), ("transition", "confirmed", None)]
    second_id = result["stops"][1]["issue_id"]
    assert conn.execute("SELECT status FROM issues WHERE id = %s", (second_id,)).fetchone()[0] == "reported"
    assert conn.execute("SELECT outcome FROM walkabout_stops WHERE walkabout_id = %s AND seq = 1",
                        (result["id"],)).fetchone()[0] == "confirmed"
