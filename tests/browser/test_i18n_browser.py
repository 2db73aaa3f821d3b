"""Languages in a real browser: the header's switch (by keyboard) changes the home map's legend, filters and popups."""
from __future__ import annotations

import re

from geodata import issues
from geodata.permissions import Actor

CJK = re.compile(r"[\u3400-\u9fff]")


def _inside_point(conn) -> tuple[float, float]:
    return conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM areas WHERE level = 'community'"
        " ORDER BY code LIMIT 1) s").fetchone()


def _controls_text(page) -> dict:
    """What the legend and the filter panel say, as a person reads them."""
    return page.evaluate("""() => ({
        lang: document.documentElement.lang,
        legend: document.querySelector('.lm-legend summary').textContent,
        groups: Array.from(document.querySelectorAll('.lm-legend li')).map(li => li.textContent.trim()),
        filters: document.querySelector('.lm-filters summary').textContent,
        fieldLabels: Array.from(document.querySelectorAll('.lm-filters legend, .lm-field > span')).map(e => e.textContent),
        categories: Array.from(document.querySelectorAll('.lm-filters select[name=category] option')).map(o => o.textContent),
        periods: Array.from(document.querySelectorAll('.lm-filters select[name=days] option')).map(o => o.textContent),
        locate: document.querySelector('.lm-locate button').getAttribute('aria-label'),
        zoomIn: document.querySelector('.leaflet-control-zoom-in').getAttribute('title'),
    })""")


def _tab_to(page, selector: str, limit: int = 25) -> None:
    """Press Tab until the element matching selector has the focus (fails if it is not in the tab order)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} was not reached with {limit} presses of Tab")


def _wait_map(page) -> None:
    page.wait_for_function("window.liveMap && document.querySelector('.lm-legend summary')"
                           " && document.querySelectorAll('.leaflet-overlay-pane path').length >= 1", timeout=15000)


def test_switching_language_on_the_home_map_changes_legend_filters_and_popups(demo_areas, desktop):
    conn = demo_areas
    lon, lat = _inside_point(conn)
    issue = issues.report(conn, Actor(), {"lon": lon, "lat": lat, "category": "street_light",
                                          "description": "灯坏了 the light is out"}).issue
    page = desktop.page
    page.goto(desktop.base + "/")  # the browser asks for zh-CN
    _wait_map(page)
    zh = _controls_text(page)
    assert zh["lang"] == "zh-CN"
    assert zh["legend"] == "图例" and zh["filters"] == "筛选"
    assert zh["groups"][0] == "新报告" and "全部类别" in zh["categories"] and "路灯损坏" in zh["categories"]
    assert zh["periods"][1] == "最近 7 天" and zh["locate"] == "定位到我的位置" and zh["zoomIn"] == "放大"
    desktop.screenshot("home-desktop-zh")

    # The switch is in the tab order and works from the keyboard.
    _tab_to(page, "a.lang-switch")
    assert page.evaluate("document.activeElement.textContent.trim()") == "English"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    with page.expect_navigation():
        page.keyboard.press("Enter")
    _wait_map(page)
    en = _controls_text(page)
    assert en["lang"] == "en"
    assert en["legend"] == "Legend" and en["filters"] == "Filter"
    assert en["groups"][0] == "New" and "All categories" in en["categories"] and "Broken street light" in en["categories"]
    assert en["periods"][1] == "Last 7 days" and en["locate"] == "Show where I am" and en["zoomIn"] == "Zoom in"
    for key in ("legend", "groups", "filters", "fieldLabels", "categories", "periods", "locate"):
        assert not CJK.search(str(en[key])), (key, en[key])
    assert page.url == desktop.base + "/"
    assert any(c["name"] == "lang" and c["value"] == "en" for c in page.context.cookies())

    # Popups speak the page's language too (category, status, relative age).
    page.wait_for_function("(id) => window.liveMap.drawn().issues.indexOf(id) >= 0", arg=issue.id, timeout=15000)
    x, y = page.evaluate(
        """([lat, lon]) => { var map = window.liveMap.layer._map;
             var p = map.latLngToContainerPoint(window.liveMap.toDisplay(lat, lon));
             var r = map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }""", [lat, lon])
    page.mouse.click(x, y)
    popup = page.locator(f'.lm-popup[data-issue-id="{issue.id}"][data-loaded="1"]')
    popup.wait_for(timeout=10000)
    assert popup.locator(".lm-category .lm-value").inner_text() == "Broken street light"
    assert popup.locator(".lm-status .lm-value").inner_text() == "Reported"
    age = popup.locator(".lm-age .lm-value").inner_text()
    assert age and not CJK.search(age)
    assert not CJK.search(popup.locator(".lm-age .lm-value").get_attribute("title"))
    desktop.screenshot("home-desktop-en")

    # And back.
    page.locator("a.lang-switch").click()
    _wait_map(page)
    assert _controls_text(page)["legend"] == "图例"
    assert desktop.external == []
    assert desktop.console_errors == []


def test_an_english_browser_gets_english_until_it_switches(demo_areas, live_server, make_page):
    rec = make_page(live_server, locale="en-US")
    page = rec.page
    page.goto(live_server + "/login")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("h2").inner_text() == "Sign in"
    assert page.locator("label[for=username]").inner_text() == "Username"
    page.locator("a.lang-switch").click()
    page.wait_for_url(live_server + "/login")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.locator("h2").inner_text() == "登录"
    assert rec.external == []
