"""The live map in a real browser: issues from vector tiles, popups, filters, locate me, GCJ-02 basemaps."""
from __future__ import annotations

import numpy as np
import pytest

from geodata import chinacrs, issues
from geodata.permissions import Actor

ANON = Actor()
XSS_TITLE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">标题'


def _inside_points(conn, n: int) -> list[tuple[float, float]]:
    """n points spread over the demo communities (inside them, so that reports are accepted)."""
    rows = conn.execute(
        """SELECT ST_X(p), ST_Y(p) FROM (
               SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(geom::geography, -40)::geometry, %s, 7))).geom AS p
               FROM (SELECT geom FROM areas WHERE level = 'community' ORDER BY code LIMIT 1) a) s
           LIMIT %s""",
        (n + 20, n),
    ).fetchall()
    assert len(rows) == n
    return [(float(x), float(y)) for x, y in rows]


def _report(conn, lon, lat, category="litter", **extra):
    body = {"lon": lon, "lat": lat, "category": category, "description": "有垃圾 rubbish", **extra}
    return issues.report(conn, ANON, body).issue


def _open_map(rec, min_issues: int = 1):
    page = rec.page
    page.goto(rec.base + "/")
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane path').length >= 1", timeout=15000)
    if min_issues:
        # Counted either as single issues or inside clusters (a phone's first view is zoomed out further).
        page.wait_for_function("(n) => { var d = window.liveMap && window.liveMap.drawn();"
                               " return d && d.issues.length + d.clustered >= n; }", arg=min_issues, timeout=15000)
    return page


def _drawn(page) -> set[int]:
    return set(page.evaluate("window.liveMap.drawn().issues"))


def _wait_redrawn(page, expected: set[int]):
    page.wait_for_function(
        "(want) => { var got = window.liveMap.drawn().issues; return got.length === want.length &&"
        " want.every(function (id) { return got.indexOf(id) >= 0; }); }",
        arg=sorted(expected), timeout=15000)


def _click_issue(page, issue):
    """Click where the issue is drawn (its display position), as a person would."""
    x, y = page.evaluate(
        """([lat, lon]) => { var map = window.liveMap.layer._map;
             var p = map.latLngToContainerPoint(window.liveMap.toDisplay(lat, lon));
             var r = map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }""",
        [issue.lat, issue.lon])
    page.mouse.click(x, y)


def test_the_map_draws_the_issues_of_the_visible_area(demo_areas, desktop):
    conn = demo_areas
    points = _inside_points(conn, 6)
    near = [_report(conn, lon, lat) for lon, lat in points]
    area_id = near[0].area_id
    # One issue far outside the view (Shanghai): its tiles are never asked for.
    far_id = conn.execute(
        """INSERT INTO issues (category, title, description, geom, area_id, due_at)
           VALUES ('litter', 'far', 'far away', ST_SetSRID(ST_MakePoint(121.47, 31.23), 4326), %s, now())
           RETURNING id""", (area_id,)).fetchone()[0]
    page = _open_map(desktop, len(near))
    _wait_redrawn(page, {i.id for i in near})
    drawn = _drawn(page)
    assert {i.id for i in near} <= drawn
    assert far_id not in drawn
    # The page itself carries no issue data: the ids only arrive with the tiles.
    html = page.content()
    tile_requests = [u for u in desktop.requests if "/tiles/issues/" in u]
    assert tile_requests and all(u.endswith(".pbf") for u in tile_requests)
    desktop.screenshot("live-map-desktop")
    assert desktop.external == []
    assert desktop.console_errors == []
    assert "far away" not in html


def test_a_popup_shows_the_issue_and_user_text_only_as_text(demo_areas, desktop):
    conn = demo_areas
    (lon, lat), = _inside_points(conn, 1)
    issue = _report(conn, lon, lat, "street_light", title=XSS_TITLE)
    issues.support(conn, Actor(client_key="neighbour-1"), issue.id)
    page = _open_map(desktop)
    _click_issue(page, issue)
    popup = page.locator(f'.lm-popup[data-issue-id="{issue.id}"][data-loaded="1"]')
    popup.wait_for(timeout=10000)
    assert popup.locator(".lm-title").inner_text() == XSS_TITLE
    assert popup.locator("img, script").count() == 0
    assert page.evaluate("window.__pwned") is None
    text = popup.inner_text()
    # The page is in Chinese (the browser asks for zh-CN): the category's Chinese name, the status's label.
    assert popup.locator(".lm-category .lm-value").inner_text() == "路灯损坏"
    assert popup.locator(".lm-status .lm-value").inner_text() == "新报告"
    assert "报告于" in text and "Reported" not in text
    assert popup.locator(".lm-supports .lm-value").inner_text() == "1"
    assert popup.locator(".lm-age .lm-value").inner_text()  # e.g. "现在" / "1分钟前"
    assert popup.locator("a.lm-link").get_attribute("href") == f"/issues/{issue.id}"
    desktop.screenshot("live-map-popup")
    assert desktop.external == []


def test_filters_change_what_is_drawn(demo_areas, desktop):
    conn = demo_areas
    pts = _inside_points(conn, 4)
    litter = _report(conn, *pts[0], "litter")
    light = _report(conn, *pts[1], "street_light")
    old = _report(conn, *pts[2], "litter")
    handled = _report(conn, *pts[3], "drain")
    conn.execute("UPDATE issues SET created_at = now() - interval '40 days' WHERE id = %s", (old.id,))
    conn.execute("UPDATE issues SET status = 'confirmed', version = version + 1 WHERE id = %s", (handled.id,))
    everything = {litter.id, light.id, old.id, handled.id}
    page = _open_map(desktop, 4)
    _wait_redrawn(page, everything)

    page.locator(".lm-filters select[name=category]").select_option("street_light")
    _wait_redrawn(page, {light.id})
    page.locator(".lm-filters select[name=category]").select_option("")
    _wait_redrawn(page, everything)

    page.locator(".lm-filters select[name=days]").select_option("30")
    _wait_redrawn(page, everything - {old.id})
    page.locator(".lm-filters select[name=days]").select_option("")
    _wait_redrawn(page, everything)

    # "New" unticked: only the confirmed one (being handled) stays.
    page.locator(".lm-filters input[value=new]").uncheck()
    _wait_redrawn(page, {handled.id})
    assert any("status=" in u for u in desktop.requests if "/tiles/issues/" in u)
    desktop.screenshot("live-map-filtered")
    assert desktop.external == []


def test_the_live_map_fits_a_phone_without_sideways_scrolling(demo_areas, phone):
    conn = demo_areas
    for lon, lat in _inside_points(conn, 5):
        _report(conn, lon, lat)
    page = _open_map(phone, 5)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("document.body.scrollWidth <= window.innerWidth")
    # The panels start folded on a phone, so the map stays visible.
    assert page.locator(".lm-filters details[open]").count() == 0
    phone.screenshot("live-map-phone")
    page.locator(".lm-filters summary").tap()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot("live-map-phone-filters")
    assert phone.external == []
    assert phone.console_errors == []


def test_locate_me_centres_the_map_on_the_device_position(demo_areas, live_server, make_page):
    rec = make_page(live_server, geolocation={"latitude": 39.9435, "longitude": 116.3105},
                    permissions=["geolocation"])
    page = _open_map(rec, 0)
    page.locator(".lm-locate button").click()
    page.wait_for_function("document.querySelector('.lm-notice') && !document.querySelector('.lm-notice').hidden"
                           " && window.liveMap.layer._map.getZoom() >= 16", timeout=10000)
    lat, lng = page.evaluate("(() => { var c = window.liveMap.layer._map.getCenter(); return [c.lat, c.lng]; })()")
    assert abs(lat - 39.9435) < 1e-4 and abs(lng - 116.3105) < 1e-4
    assert rec.external == []


def test_locate_me_without_permission_says_so_politely(demo_areas, desktop):
    page = _open_map(desktop, 0)
    center = page.evaluate("(() => { var c = window.liveMap.layer._map.getCenter(); return [c.lat, c.lng]; })()")
    page.locator(".lm-locate button").click()
    notice = page.locator(".lm-notice")
    page.wait_for_function("document.querySelector('.lm-notice').textContent.indexOf('定位权限') >= 0",
                           timeout=10000)
    assert notice.get_attribute("role") == "status"
    assert "直接拖动地图" in notice.inner_text()
    assert page.evaluate("(() => { var c = window.liveMap.layer._map.getCenter(); return [c.lat, c.lng]; })()") == center


def test_browser_gcj02_conversion_matches_geodata_chinacrs(demo_areas, desktop):
    page = _open_map(desktop, 0)
    lons, lats = np.meshgrid(np.linspace(73.6, 134.9, 15), np.linspace(18.2, 53.4, 15))
    lons, lats = lons.ravel().tolist(), lats.ravel().tolist()
    got = page.evaluate(
        """([lons, lats]) => lons.map(function (lon, i) {
               var g = ChinaCRS.wgs84ToGcj02(lon, lats[i]);
               return g.concat(ChinaCRS.gcj02ToWgs84(g[0], g[1]));
           })""", [lons, lats])
    got = np.array(got)
    want_lon, want_lat = chinacrs.wgs84_to_gcj02(np.array(lons), np.array(lats))
    assert np.max(np.abs(got[:, 0] - want_lon)) < 1e-11
    assert np.max(np.abs(got[:, 1] - want_lat)) < 1e-11
    back_lon, back_lat = chinacrs.gcj02_to_wgs84(want_lon, want_lat)
    assert np.max(np.abs(got[:, 2] - back_lon)) < 1e-10
    assert np.max(np.abs(got[:, 3] - back_lat)) < 1e-10
    # Round trip to the WGS84 input within 1 mm (1e-8 degrees).
    assert np.max(np.abs(got[:, 2] - np.array(lons))) < 1e-8
    assert np.max(np.abs(got[:, 3] - np.array(lats))) < 1e-8
    # Outside China nothing moves.
    assert page.evaluate("ChinaCRS.wgs84ToGcj02(2.35, 48.85)") == [2.35, 48.85]


@pytest.fixture
def gcj02_server(start_server):
    return start_server(BASEMAP_CRS="gcj02")


def test_on_a_gcj02_basemap_issues_and_outlines_are_shifted_and_taps_come_back_as_wgs84(
        demo_areas, gcj02_server, make_page):
    conn = demo_areas
    (lon, lat), = _inside_points(conn, 1)
    issue = _report(conn, lon, lat, title="GCJ-02 issue")
    rec = make_page(gcj02_server)
    page = _open_map(rec, 1)
    assert any("crs=gcj02" in u for u in rec.requests if "/tiles/issues/" in u)
    assert any("crs=gcj02" in u for u in rec.requests if "/api/areas" in u)
    # Clicking where the GCJ-02 basemap has the issue's street opens its popup.
    _click_issue(page, issue)
    page.locator(f'.lm-popup[data-issue-id="{issue.id}"][data-loaded="1"]').wait_for(timeout=10000)
    shifted = page.evaluate(f"(() => {{ var p = window.liveMap.toDisplay({lat}, {lon}); return [p.lng, p.lat]; }})()")
    want = chinacrs.wgs84_to_gcj02(lon, lat)
    assert abs(shifted[0] - want[0]) < 1e-11 and abs(shifted[1] - want[1]) < 1e-11
    # A long press (context menu) at a displayed place offers a report at the WGS84 position.
    x, y = page.evaluate(
        """([lat, lon]) => { var map = window.liveMap.layer._map;
             var p = map.latLngToContainerPoint([lat, lon]); var r = map.getContainer().getBoundingClientRect();
             return [p.x + r.left, p.y + r.top]; }""", [want[1], want[0]])
    page.mouse.click(x, y, button="right")
    link = page.locator(".lm-report a.lm-link")
    link.wait_for(timeout=5000)
    href = link.get_attribute("href")
    query = dict(part.split("=") for part in href.split("?", 1)[1].split("&"))
    tapped = page.evaluate("([x, y]) => { var map = window.liveMap.layer._map;"
                           " var r = map.getContainer().getBoundingClientRect();"
                           " var ll = map.containerPointToLatLng([x - r.left, y - r.top]); return [ll.lng, ll.lat]; }",
                           [x, y])
    back = chinacrs.gcj02_to_wgs84(*tapped)
    assert abs(float(query["lon"]) - back[0]) < 2e-7 and abs(float(query["lat"]) - back[1]) < 2e-7
    # ... which is the issue's own WGS84 place, give or take the pixel the click landed on.
    assert abs(float(query["lon"]) - lon) < 5e-5 and abs(float(query["lat"]) - lat) < 5e-5
    page.wait_for_timeout(400)  # let the popup finish fading in
    rec.screenshot("live-map-gcj02")
    assert rec.external == []


def test_the_issues_in_view_are_a_keyboard_reachable_list_of_links(demo_areas, desktop):
    conn = demo_areas
    pts = _inside_points(conn, 3)
    shown = [_report(conn, *pts[0], "street_light", title=XSS_TITLE), _report(conn, *pts[1], "litter")]
    # Shanghai: outside the view, so not listed.
    far_id = conn.execute(
        """INSERT INTO issues (category, title, description, geom, area_id, due_at)
           VALUES ('litter', 'far', 'far away', ST_SetSRID(ST_MakePoint(121.47, 31.23), 4326), %s, now())
           RETURNING id""", (shown[0].area_id,)).fetchone()[0]
    page = _open_map(desktop, 2)
    summary = page.locator(".lm-list summary")
    assert summary.inner_text() == "当前视野内的问题"
    # Reached with Tab and opened with Enter, as a keyboard user would.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.matches('.lm-list summary')"):
            break
    else:
        raise AssertionError("the list's summary is not in the tab order")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('.lm-list-items li').length >= 2", timeout=10000)
    items = page.locator(".lm-list-items li")
    ids = [int(i) for i in items.evaluate_all("els => els.map(e => e.getAttribute('data-issue-id'))")]
    assert {i.id for i in shown} <= set(ids) and far_id not in ids
    xss = page.locator(f'.lm-list-items li[data-issue-id="{shown[0].id}"]')
    assert xss.locator("a").inner_text() == XSS_TITLE
    assert xss.locator("a").get_attribute("href") == f"/issues/{shown[0].id}"
    assert "新报告" in xss.inner_text() and "路灯损坏" in xss.inner_text()
    assert page.locator(".lm-list img, .lm-list script").count() == 0
    assert page.evaluate("window.__pwned") is None
    # The filters apply to the list too.
    page.locator(".lm-filters select[name=category]").select_option("litter")
    page.wait_for_function("(id) => !document.querySelector('.lm-list-items li[data-issue-id=\"' + id + '\"]')",
                           arg=shown[0].id, timeout=10000)
    assert page.locator(f'.lm-list-items li[data-issue-id="{shown[1].id}"]').count() == 1
    page.keyboard.press("Tab")
    desktop.screenshot("live-map-list")
    assert desktop.external == []
    assert desktop.console_errors == []
