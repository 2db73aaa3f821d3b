"""The officials' dashboard in a real browser: layers and charts draw, filters live in the URL."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.helpers import make_user


def _seed(conn) -> tuple[int, str]:
    """120 issues of the last four weeks in the first pilot community, half of them in a tight cluster; some closed."""
    area_id, code = conn.execute("SELECT id, code FROM areas WHERE level = 'community' ORDER BY code LIMIT 1").fetchone()
    conn.execute(
        """INSERT INTO issues (category, title, description, geom, area_id, status, created_at, due_at,
                               acknowledged_at, resolved_at, closed_at, satisfaction)
           SELECT CASE WHEN n %% 3 = 0 THEN 'litter' ELSE 'noise' END, '问题 ' || n, 'd', p.geom, %(area)s,
                  CASE WHEN n %% 4 = 0 THEN 'closed' ELSE 'reported' END,
                  now() - ((n %% 28) || ' days')::interval, now() - ((n %% 28) || ' days')::interval + interval '2 days',
                  CASE WHEN n %% 2 = 0 THEN now() - ((n %% 28) || ' days')::interval + interval '2 hours' END,
                  CASE WHEN n %% 4 = 0 THEN now() - ((n %% 28) || ' days')::interval + interval '1 day' END,
                  CASE WHEN n %% 4 = 0 THEN now() - ((n %% 28) || ' days')::interval + interval '1 day' END,
                  CASE WHEN n %% 4 = 0 THEN 5 END
           FROM (SELECT row_number() OVER () AS n, geom FROM (
                   SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(geom::geography, -30)::geometry, 60, 3))).geom FROM areas WHERE id = %(area)s
                   UNION ALL
                   SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(ST_PointOnSurface(geom)::geography, 60)::geometry, 60, 4))).geom
                   FROM areas WHERE id = %(area)s) s) p""",
        {"area": area_id})
    return area_id, code


def _wait_ready(page, after: int = 0) -> int:
    page.wait_for_function(
        "(n) => { var d = document.getElementById('dashboard');"
        " return d.dataset.state === 'ready' && Number(d.dataset.generation || 0) > n; }", arg=after, timeout=45000)
    return int(page.get_attribute("#dashboard", "data-generation"))


def test_official_sees_layers_and_charts_and_filters_stay_in_the_url(demo_areas, desktop):
    conn = demo_areas
    conn.execute("TRUNCATE issues CASCADE")
    area_id, code = _seed(conn)
    make_user(conn, "official", areas=[area_id], username="official-dash")
    page = desktop.sign_in("official-dash", "/dashboard%3Flang%3Den%26resolution%3D10", arrive="**/dashboard**")
    gen = _wait_ready(page)
    # Hot spot hexagons and the heatmap's canvas are on the map; the layer control lists the three layers.
    drawn = page.evaluate("window.dashboard.layers.hotspots.getLayers().length")
    assert drawn > 10, (drawn, page.inner_text("#dash-message"), desktop.console_errors)
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert page.locator(".leaflet-control-layers-overlays label").count() == 3
    assert page.locator("#legend-hotspots li").count() == 7
    summary = page.evaluate("fetch('/api/hotspots?lang=en&resolution=10').then(r => r.json()).then(b => b.summary)")
    assert "Hot spot, 99% confidence" in page.locator("#legend-hotspots").inner_text(), summary
    hot = page.evaluate("window.dashboard.layers.hotspots.getLayers().filter(l => "
                        "l.feature.properties['class'] === 'hot_99').length")
    assert hot > 0, summary
    # Charts drawn by Chart.js from /api/stats, key figures and the oldest open issues with links.
    assert page.evaluate("!!Chart.getChart(document.getElementById('chart-weekly'))")
    assert page.evaluate("!!Chart.getChart(document.getElementById('chart-kinds'))")
    assert page.locator("#dash-cards .dash-card").count() >= 9
    first = page.locator("#oldest-open a").first
    assert first.get_attribute("href").startswith("/issues/")
    # Everything came from this server.
    assert desktop.external == []
    path = desktop.screenshot("dashboard-desktop")
    page.screenshot(path=str(path.with_name("dashboard-desktop-full.png")), full_page=True)

    # A filter change goes into the URL and reloads the data.
    page.select_option("select[name=category]", "litter")
    gen = _wait_ready(page, gen)
    query = parse_qs(urlsplit(page.url).query)
    assert query["category"] == ["litter"] and query["lang"] == ["en"]
    litter = page.evaluate("window.dashboard.layers.hotspots.getLayers()"
                           ".reduce((s, l) => s + l.feature.properties.count, 0)")
    # Without dates: the last 30 days (today included) in the statistics' time zone, as GET /api/stats.
    assert litter == conn.execute(
        "SELECT count(*) FROM issues WHERE category = 'litter' AND created_at >="
        " (((now() AT TIME ZONE 'Asia/Shanghai')::date - 29)::timestamp AT TIME ZONE 'Asia/Shanghai')").fetchone()[0]
    assert "category=litter" in page.get_attribute("#export-csv", "href")
    page.fill("input[name=since]", "2020-01-01")
    page.locator("input[name=since]").dispatch_event("change")
    _wait_ready(page, gen)
    assert parse_qs(urlsplit(page.url).query)["since"] == ["2020-01-01"]
    # Reloading the bookmarked URL keeps the filters.
    page.reload()
    _wait_ready(page)
    assert page.input_value("select[name=category]") == "litter"
    assert page.input_value("input[name=since]") == "2020-01-01"
    assert page.evaluate("window.dashboard.layers.hotspots.getLayers()"
                         ".reduce((s, l) => s + l.feature.properties.count, 0)") == \
        conn.execute("SELECT count(*) FROM issues WHERE category = 'litter'").fetchone()[0]
    # A period ending before it starts is explained, not drawn.
    page.fill("input[name=until]", "2019-01-01")
    page.locator("input[name=until]").dispatch_event("change")
    page.wait_for_function("document.getElementById('dash-message').textContent.indexOf('before') >= 0")


def test_dashboard_fits_a_phone(demo_areas, phone):
    conn = demo_areas
    area_id, _ = conn.execute("SELECT id, code FROM areas WHERE level = 'community' ORDER BY code LIMIT 1").fetchone()
    make_user(conn, "social_worker", areas=[area_id], username="sw-dash-phone")
    page = phone.sign_in("sw-dash-phone", "/dashboard", arrive="**/dashboard**")
    _wait_ready(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    box = page.locator(".dash-map-wrap").bounding_box()
    assert box["width"] <= 375 and box["height"] >= 300
    phone.screenshot("dashboard-phone")
