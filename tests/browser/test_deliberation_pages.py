"""Deliberations in a real browser: a resident votes on a phone and sees the vote counted, then refused with its
reason on a second try; a social worker places the meeting by tapping the map."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from geodata import accounts, deliberations, issues
from geodata.permissions import Actor
from tests.helpers import make_user


def _iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _world(conn):
    """A demo community, an issue in it, its social worker, a resident, and an open deliberation."""
    area_id, lon, lat = conn.execute(
        "SELECT id, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM areas"
        " WHERE level = 'community' ORDER BY code LIMIT 1").fetchone()
    issue = issues.report(conn, Actor(client_key="dl-browser"), {"lon": lon, "lat": lat, "category": "fire_lane",
                                                                 "description": "车辆堵住消防通道"}).issue
    tag = conn.info.backend_pid
    sw = make_user(conn, "social_worker", areas=[area_id], username=f"dl-sw-{tag}")
    resident = f"dl-res-{tag}"
    make_user(conn, "resident", areas=[area_id], username=resident)
    now = datetime.now(timezone.utc)
    d = deliberations.open_deliberation(conn, accounts.actor_for(conn, accounts.load_user(conn, sw)), {
        "area_id": area_id, "title": "3号院停车 <b>怎么办</b>", "issue_ids": [issue.id],
        "options": ["划定车位", "晚上10点后禁止停车", "维持现状"], "lat": lat, "lon": lon, "address": "3号院活动室",
        "meeting_at": _iso(now + timedelta(days=2)), "votes_open_at": _iso(now - timedelta(minutes=5)),
        "votes_close_at": _iso(now + timedelta(days=1))})
    return d, resident, f"dl-sw-{tag}", (lat, lon)


def test_a_resident_votes_on_a_phone_and_a_second_vote_is_refused(demo_areas, phone):
    conn = demo_areas
    d, resident, _, _ = _world(conn)
    target = f"/deliberations/{d['id']}"
    page = phone.sign_in(resident, target)
    # The title is text, not markup.
    assert page.locator("#deliberation-title").inner_text() == "3号院停车 <b>怎么办</b>"
    assert page.locator("#phase").inner_text() == "投票中"
    buttons = page.locator("#options button.dl-vote")
    assert buttons.count() == 3
    box = buttons.nth(1).bounding_box()
    # Big enough for a thumb, and inside the phone's width.
    assert box["height"] >= 40 and box["x"] + box["width"] <= 375
    buttons.nth(1).click()
    page.wait_for_selector("#vote-notice")
    assert "您的投票已计入" in page.locator("#vote-notice").inner_text()
    assert "晚上10点后禁止停车" in page.locator("#your-vote").inner_text()
    assert "1" in page.locator("#votes-total").inner_text()
    # Per-choice counts stay hidden from residents until voting closes.
    assert page.locator("#options .dl-count").count() == 0

    page.locator("#options button.dl-vote").nth(0).click()
    page.wait_for_selector("#vote-notice.bad")
    assert "您已经投过票了" in page.locator("#vote-notice").inner_text()
    page.locator("#vote").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('vote').scrollIntoView()")
    phone.screenshot("deliberation-phone")
    assert conn.execute("SELECT count(*) FROM deliberation_votes WHERE deliberation_id = %s",
                        (d["id"],)).fetchone()[0] == 1
    # The refused vote's page is answered 409, which chromium logs; nothing else may be.
    assert phone.external == []
    assert [e for e in phone.console_errors if "409" not in e] == []


def test_a_social_worker_places_the_meeting_by_tapping_the_map(demo_areas, desktop):
    conn = demo_areas
    _, _, sw, (lat, lon) = _world(conn)
    page = desktop.sign_in(sw, "/deliberations")
    page.wait_for_function("window.deliberationMap && window.deliberationMap.outlinesLoaded")
    page.locator("#place-map").scroll_into_view_if_needed()
    page.evaluate("([lat, lon]) => window.deliberationMap.map.setView([lat, lon], 17, {animate: false})", [lat, lon])
    # Tap where (lat, lon) is drawn, as a person would.
    x, y = page.evaluate(
        """([lat, lon]) => { var map = window.deliberationMap.map;
             var p = map.latLngToContainerPoint(L.latLng(lat, lon));
             var r = map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }""", [lat, lon])
    page.mouse.click(x, y)
    page.wait_for_function("document.getElementById('place-lat').value !== ''")
    picked = float(page.locator("#place-lat").input_value()), float(page.locator("#place-lon").input_value())
    assert abs(picked[0] - lat) < 0.0001 and abs(picked[1] - lon) < 0.0001
    assert "会议地点已设定" in page.locator("#place-status").inner_text()
    assert desktop.external == [] and desktop.console_errors == []
