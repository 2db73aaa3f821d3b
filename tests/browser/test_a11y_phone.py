"""Phone fit and keyboard use of the existing pages: 375x667 without sideways scrolling, labelled controls,
every control reachable with Tab, and the focus always visible."""
from __future__ import annotations

import pytest

# Every visible form control must have a name a screen reader can say: a <label>, aria-label(ledby) or title.
UNLABELLED_JS = """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
    .filter(el => el.type !== 'hidden' && el.getClientRects().length > 0)
    .filter(el => {
        var byLabel = el.labels ? Array.from(el.labels).map(l => l.textContent).join('') : '';
        var byRef = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
            .map(id => (document.getElementById(id) || {}).textContent || '').join('');
        var own = el.tagName === 'BUTTON' ? el.textContent : '';
        return !(byLabel + byRef + own + (el.getAttribute('aria-label') || '') + (el.title || '')).trim();
    })
    .map(el => el.outerHTML.slice(0, 160))"""

# Every control the page shows, for the tab walk.
CONTROLS_JS = """() => Array.from(document.querySelectorAll('a[href], input, select, textarea, button, summary'))
    .filter(el => el.type !== 'hidden' && !el.disabled && el.getClientRects().length > 0
                  && getComputedStyle(el).visibility !== 'hidden' && el.tabIndex >= 0
                  && !el.closest('.leaflet-control-attribution'))
    .map((el, i) => { el.setAttribute('data-a11y', String(i)); return String(i); })"""


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= 375 && document.body.scrollWidth <= 375")


def _wait_ready(page, path: str) -> None:
    if path == "/":
        page.wait_for_function("window.liveMap && document.querySelector('.lm-legend')", timeout=15000)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_pages_fit_a_375_wide_phone_without_sideways_scrolling(demo_areas, live_server, make_page, lang):
    rec = make_page(live_server, viewport={"width": 375, "height": 667}, device_scale_factor=2, is_mobile=True,
                    has_touch=True, locale=lang)
    page = rec.page
    for path in ("/", "/login", "/register"):
        page.goto(live_server + path)
        _wait_ready(page, path)
        assert page.evaluate("window.innerWidth") == 375
        assert _fits(page), (path, lang, page.evaluate("document.documentElement.scrollWidth"))
        if path == "/register":
            # With every problem message shown, too.
            page.fill("#username", "x")
            page.fill("#password", "short-pw1")
            page.fill("#password2", "other-pw1")
            page.fill("#email", "a@b.example")
            page.locator("button.primary").click()
            page.wait_for_selector(".problem")
            assert _fits(page), (path, lang, "with problems")
        if lang == "en":
            rec.screenshot(f"{path.strip('/') or 'home'}-phone-en")
    assert rec.external == []


@pytest.mark.parametrize("path", ["/login", "/register", "/"])
def test_controls_are_labelled_reachable_by_keyboard_and_show_their_focus(demo_areas, desktop, path):
    page = desktop.page
    page.goto(desktop.base + path)
    _wait_ready(page, path)
    assert page.evaluate(UNLABELLED_JS) == []
    wanted = set(page.evaluate(CONTROLS_JS))
    assert len(wanted) >= 4
    reached, unseen_focus = set(), []
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(len(wanted) + 30):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => { var el = document.activeElement; if (!el || el === document.body) return null;
            var s = getComputedStyle(el);
            return {id: el.getAttribute('data-a11y'), outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
                    html: el.outerHTML.slice(0, 120)}; }""")
        if info is None or info["id"] is None:
            continue
        if info["id"] in reached:
            break  # round the page once
        reached.add(info["id"])
        if not info["outline"]:
            unseen_focus.append(info["html"])
    missing = page.evaluate("(ids) => ids.map(i => document.querySelector('[data-a11y=\"' + i + '\"]').outerHTML.slice(0, 120))",
                            sorted(wanted - reached))
    assert not missing, f"not reachable with Tab on {path}: {missing}"
    assert not unseen_focus, f"focus not visible on {path}: {unseen_focus}"
