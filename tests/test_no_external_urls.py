"""No page loads or links anything from outside the app except the configured basemap and its attribution.

Every HTML page the app serves is found by walking app.url_map (GET routes; routes with ids get the ids of
a small seeded world), rendered signed in as an admin, and searched for external URLs in src/href/action/
srcset/poster attributes, inline styles and url(...), and inline scripts. Pages added later are covered
without touching this file.
"""
from __future__ import annotations

import re
import secrets
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

import helpers
from geodata import issues
from geodata.permissions import Actor
from webmap import create_app
from webmap import db as webdb

BASEMAP_URL = "https://tiles.example.test/{z}/{x}/{y}.png"
ATTRIBUTION_URL = "https://attribution.example.test/copyright"
ALLOWED = {BASEMAP_URL, ATTRIBUTION_URL}
SQUARE = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"
# Namespace names are identifiers that are never fetched.
NAMESPACES = ("http://www.w3.org/",)
# Programs' endpoints, not pages.
NOT_PAGES = re.compile(r"^/(api|open311|tiles|static|assets|lang|healthz|readyz)(/|$)|\.(gpx|json|xml|csv|pbf)$")
URL_ATTRS = {"src", "href", "action", "formaction", "poster", "data", "background", "srcset", "imagesrcset",
             "manifest", "ping", "cite", "longdesc", "xlink:href"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)""", re.I)
CSS_IMPORT = re.compile(r"""@import\s+['"]([^'"]+)""", re.I)
SCRIPT_URL = re.compile(r"""(?:https?:)?\\?/\\?/[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'<>\\)]*""")


def external(url: str) -> bool:
    """Whether a URL as written in a page points off this site (absolute, or protocol-relative)."""
    url = url.strip()
    if url.startswith(("data:", "blob:", "mailto:", "tel:", "javascript:", "#")) or not url:
        return False
    parts = urlsplit(url)
    return bool(parts.netloc) or bool(parts.scheme)


class _Collector(HTMLParser):
    """Every URL a page would load or link to, with where it was found."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []
        self._in = None
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("srcset", "imagesrcset"):
                for candidate in value.split(","):
                    if candidate.strip():
                        self.found.append((f"<{tag} {name}>", candidate.split()[0]))
            elif name in URL_ATTRS:
                self.found.append((f"<{tag} {name}>", value))
                if tag == "link" and name == "href" and ("stylesheet" in dict(attrs).get("rel", "")):
                    self.links.append(value)
                if tag == "script" and name == "src":
                    self.links.append(value)
            elif name == "style":
                self.found += [(f"<{tag} style>", u) for u in CSS_URL.findall(value)]
            elif name == "content" and dict(attrs).get("http-equiv", "").lower() == "refresh":
                self.found.append(("<meta refresh>", value.split("url=", 1)[-1]))
        if tag in ("script", "style"):
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self.found += [("<style>", u) for u in CSS_URL.findall(data) + CSS_IMPORT.findall(data)]
        elif self._in == "script":
            for u in SCRIPT_URL.findall(data):
                self.found.append(("<script>", u.replace("\\/", "/")))


def offending(html: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(external URLs other than the allowed ones, local scripts and stylesheets the page loads)."""
    parser = _Collector()
    parser.feed(html)
    bad = [(where, url) for where, url in parser.found
           if external(url) and url not in ALLOWED and not url.startswith(NAMESPACES)]
    return bad, parser.links


@pytest.fixture(scope="module")
def world(database_url):
    """An app with an external basemap configured, an admin signed in, and one community with one issue."""
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test", "BASEMAP_URL": BASEMAP_URL,
                      "BASEMAP_ATTRIBUTION": f'&copy; <a href="{ATTRIBUTION_URL}">Example tiles</a>'})
    import psycopg

    tag = secrets.token_hex(3)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM rate_limits")
        conn.execute("INSERT INTO areas (code, name, name_en, level, geom, source)"
                     " VALUES (%s, '外链测试社区', 'No-CDN community', 'community', ST_Multi(ST_GeomFromText(%s, 4326)),"
                     " 'test')", (f"NOCDN-{tag}", SQUARE))
        issue = issues.report(conn, Actor(), {"lon": 116.31, "lat": 39.94, "category": "litter",
                                              "description": "外链测试 no CDN"}).issue
        admin_id = helpers.make_user(conn, "admin", username=f"offline-{tag}")
        helpers.make_token(conn, admin_id)
        token_id = conn.execute("SELECT max(id) FROM api_tokens").fetchone()[0]
    client = app.test_client()
    helpers.login(client, f"offline-{tag}")
    ids = {"issue_id": issue.id, "id": issue.id, "user_id": admin_id, "token_id": token_id}
    yield app, client, ids
    webdb.close_pool(app)


def _page_urls(app, ids: dict) -> list[str]:
    """Every GET route that may answer with a page, its parameters filled from the seeded world."""
    urls = set()
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or NOT_PAGES.search(rule.rule):
                continue
            values = {}
            for arg in rule.arguments:
                converter = type(rule._converters[arg]).__name__
                if arg in ids:
                    values[arg] = ids[arg]
                elif converter in ("IntegerConverter", "NumberConverter"):
                    values[arg] = 1  # an id of something this world does not have: its "not found" page
                else:
                    values[arg] = "x"
            urls.add(app.url_for(rule.endpoint, **values) if values else rule.rule)
    return sorted(urls)


def test_the_checker_finds_external_urls():
    page = ('<link rel="stylesheet" href="https://cdn.example.org/leaflet.css">'
            '<script src="//cdn.example.org/x.js"></script><div style="background: url(http://x.example/a.png)">'
            "</div><style>@import 'https://fonts.example/x.css';</style>"
            '<script>var s = "https://cdn.example.org/y.js";</script>'
            f'<script>L.tileLayer("{BASEMAP_URL}")</script><a href="{ATTRIBUTION_URL}">ok</a><a href="/local">ok</a>')
    bad, _ = offending(page)
    assert [u for _, u in bad] == ["https://cdn.example.org/leaflet.css", "//cdn.example.org/x.js",
                                   "http://x.example/a.png", "https://fonts.example/x.css",
                                   "https://cdn.example.org/y.js"]


def test_no_page_loads_anything_from_outside(world):
    app, client, ids = world
    urls = _page_urls(app, ids)
    # The pages that exist today are among them; new ones are found the same way.
    for known in ("/", "/login", "/register", "/account", "/admin/users", "/admin/tokens", "/admin/audit",
                  f"/admin/users/{ids['user_id']}"):
        assert known in urls
    checked, problems, loaded = [], {}, set()
    for lang in ("zh", "en"):
        for url in urls:
            resp = client.get(url, headers={"Accept-Language": lang})
            if resp.mimetype != "text/html":
                continue
            checked.append(url)
            bad, links = offending(resp.get_data(as_text=True))
            if bad:
                problems[f"{url} ({lang}, {resp.status_code})"] = bad
            loaded.update(urljoin(url, link) for link in links if not external(link))
    assert "/" in checked and "/login" in checked
    assert not problems, problems
    # The local scripts and stylesheets those pages load fetch nothing from outside either (url(), @import).
    for link in sorted(loaded):
        resp = client.get(link)
        assert resp.status_code == 200, link
        text = resp.get_data(as_text=True) if resp.mimetype == "text/css" else ""
        outside = [u for u in CSS_URL.findall(text) + CSS_IMPORT.findall(text) if external(u)]
        assert not outside, (link, outside)


def test_the_home_page_uses_the_configured_basemap_and_nothing_else_external(world):
    _, client, _ = world
    html = client.get("/").get_data(as_text=True)
    assert BASEMAP_URL in html
    assert "cdn" not in html.lower() and "unpkg" not in html and "jsdelivr" not in html
