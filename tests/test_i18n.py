"""Languages: every existing page in Chinese and English, the switch, the catalogue, dates and messages."""
from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timezone

import psycopg
import pytest
from babel.messages.mofile import read_mo

import helpers
from webmap import create_app, i18n
from webmap import db as webdb

SQUARE = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# What each page says in its <h2> (or title), in both languages.
PAGES = {
    "/": ("地图", "Map"),
    "/login": ("登录", "Sign in"),
    "/register": ("注册", "Register"),
    "/account": ("我的账户", "My account"),
    "/admin/users": ("用户", "Users"),
    "/admin/users/new": ("新建账户", "New account"),
    "/admin/tokens": ("API 令牌", "API tokens"),
    "/admin/audit": ("审计日志", "Audit log"),
}


@pytest.fixture(scope="module")
def app(database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    yield app
    webdb.close_pool(app)


@pytest.fixture(scope="module")
def admin_name(database_url):
    name = f"i18n-{secrets.token_hex(3)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM rate_limits")
        helpers.make_user(conn, "admin", username=name)
    return name


@pytest.fixture
def admin_client(app, admin_name):
    client = app.test_client()
    helpers.login(client, admin_name)
    return client


def _title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def _visible_text(html: str) -> str:
    """The page's own words: no scripts, no table cells, option lists or details (data other tests may have
    written in Chinese, e.g. party names), no switch link."""
    html = re.sub(r"<(script|style|pre|datalist|select|td)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<a class="lang-switch".*?</a>', " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return html


def test_every_page_renders_in_both_languages_by_accept_language(admin_client):
    for path, (zh, en) in PAGES.items():
        chinese = admin_client.get(path, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
        english = admin_client.get(path, headers={"Accept-Language": "en-GB,en;q=0.8"})
        assert chinese.status_code == english.status_code == 200, path
        c, e = chinese.get_data(as_text=True), english.get_data(as_text=True)
        assert '<html lang="zh-CN"' in c and '<html lang="en"' in e, path
        assert zh in _title(c) and "社区微治理" in _title(c), path
        assert en in _title(e) and "Community issue map" in _title(e), path
        # No inline "中文 English" pairs left: the English page has no Chinese words of its own...
        assert not CJK.findall(_visible_text(e)), (path, CJK.findall(_visible_text(e))[:10])
        # ... and the Chinese page none of the English labels its template translates.
        for word in ("Sign in", "Register", "Password", "Username", "Language"):
            assert word not in _visible_text(c), (path, word)
        # The switch leads to the other language and back to this page.
        assert re.search(r'class="lang-switch" href="/lang/en\?next=' + re.escape(path.replace("/", "%2F")), c), path
        assert re.search(r'class="lang-switch" href="/lang/zh\?next=' + re.escape(path.replace("/", "%2F")), e), path


def test_every_page_follows_the_switch_cookie_over_accept_language(admin_client):
    for code, other, lang_attr in (("en", "zh-CN", "en"), ("zh", "en", "zh-CN")):
        admin_client.get(f"/lang/{code}?next=/")
        for path, words in PAGES.items():
            page = admin_client.get(path, headers={"Accept-Language": other}).get_data(as_text=True)
            assert f'<html lang="{lang_attr}"' in page, (code, path)
            assert words[0 if code == "zh" else 1] in _title(page), (code, path)
    admin_client.delete_cookie("lang")


def test_the_default_is_chinese_and_a_browser_asking_for_neither_gets_chinese(app):
    client = app.test_client()
    assert '<html lang="zh-CN"' in client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN"' in client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="en"' in client.get("/login", headers={"Accept-Language": "fr, en;q=0.5"}).get_data(as_text=True)


def test_the_switch_sets_a_cookie_that_outranks_accept_language(app):
    client = app.test_client()
    resp = client.get("/lang/en?next=/register")
    assert resp.status_code == 302 and resp.headers["Location"] == "/register"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("lang=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age=31536000" in cookie
    page = client.get("/register", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="en"' in page and "Register as a resident" in page
    # ?lang= outranks the cookie for one request, and the switch back works too.
    assert '<html lang="zh-CN"' in client.get("/register?lang=zh").get_data(as_text=True)
    client.get("/lang/zh?next=/")
    assert '<html lang="zh-CN"' in client.get("/register", headers={"Accept-Language": "en"}).get_data(as_text=True)
    # Pages say that they vary by language; files do not.
    vary = client.get("/login").headers["Vary"]
    assert "Cookie" in vary and "Accept-Language" in vary


def test_the_switch_link_drops_lang_and_keeps_the_rest_of_the_query(app):
    page = app.test_client().get("/login?lang=en&next=/account").get_data(as_text=True)
    link = re.search(r'class="lang-switch" href="([^"]+)"', page).group(1)
    assert link == "/lang/zh?next=%2Flogin%3Fnext%3D%252Faccount"


@pytest.mark.parametrize("target", [
    "http://evil.example/", "https://evil.example/x", "//evil.example", "///evil.example", "/\\evil.example",
    "\\\\evil.example", "https:evil.example", "javascript:alert(1)", "evil.example", "/\t/evil.example",
    "/\n/evil.example", " //evil.example", "",
])
def test_the_switch_only_goes_back_to_this_site(app, target):
    resp = app.test_client().get("/lang/en", query_string={"next": target})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/", target
    assert "lang=en" in resp.headers["Set-Cookie"]


def test_an_unknown_language_sets_nothing(app):
    resp = app.test_client().get("/lang/fr?next=/login")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert "Set-Cookie" not in resp.headers


def test_the_compiled_catalogue_translates_every_string_the_code_uses():
    used = i18n.extract_messages()
    # The extraction really sees the templates and the Python code (with N_ and NP_ markers).
    assert "Sign in" in used and "Show where I am" in used and ("popup", "Reported") in used
    assert "must be at least %(n)s characters" in used
    missing = i18n.missing_translations("zh")
    assert not missing, "untranslated (add them to messages.po): " + ", ".join(map(repr, sorted(missing, key=str)))
    # The .mo the app loads holds them too (compiled by the session fixture, as make setup does).
    mo = i18n.TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.mo"
    with mo.open("rb") as fh:
        compiled = read_mo(fh)
    for key in used:
        context, msgid = key if isinstance(key, tuple) else (None, key)
        entry = compiled.get(msgid, context=context)
        assert entry is not None and entry.string, key


def test_the_home_map_speaks_the_page_language(app, database_url):
    code = f"I18N-{secrets.token_hex(3)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO areas (code, name, name_en, level, geom, source) VALUES (%s, '语言社区', "
                     "'Language community', 'community', ST_Multi(ST_GeomFromText(%s, 4326)), 'test')", (code, SQUARE))
        categories = {c: (n, e) for c, n, e in conn.execute("SELECT code, name, name_en FROM categories WHERE active")}

    def config(lang):
        html = app.test_client().get("/", headers={"Accept-Language": lang}).get_data(as_text=True)
        return json.loads(re.search(r"LiveMap\.init\([^,]+, (\{.*\})\);", html).group(1))

    zh, en = config("zh"), config("en")
    assert zh["locale"] == "zh-CN" and en["locale"] == "en"
    assert {c["code"]: c["name"] for c in zh["categories"]} == {c: n for c, (n, _) in categories.items()}
    assert {c["code"]: c["name"] for c in en["categories"]} == {c: e for c, (_, e) in categories.items()}
    assert zh["labels"]["legend"] == "图例" and en["labels"]["legend"] == "Legend"
    assert zh["labels"]["reported"] == "报告于" and zh["statusLabels"]["reported"] == "新报告"
    assert [g["label"] for g in en["statusGroups"]][0] == "New"
    assert [p["label"] for p in zh["periods"]][1] == "最近 7 天"
    for cfg in (zh, en):
        for text in list(cfg["labels"].values()) + [g["label"] for g in cfg["statusGroups"]]:
            assert bool(CJK.search(text)) == (cfg is zh), text


def test_validation_messages_from_geodata_are_translated_where_a_page_shows_them(app):
    def register(lang, **form):
        client = app.test_client()
        token = helpers.csrf_token(client, "/register")
        data = {"username": f"u{secrets.token_hex(3)}", "password": "long-enough-1", "password2": "long-enough-1",
                "csrf_token": token, **form}
        return client.post("/register", data=data, headers={"Accept-Language": lang}).get_data(as_text=True)

    # Checked by the web layer (passwords differ) ...
    assert "两次输入不一致" in register("zh", password2="different")
    assert "does not match" in register("en", password2="different")
    # ... and by geodata (English, with values), translated where the page shows them.
    zh = register("zh", password="short", password2="short", email="not-an-address")
    assert "至少需要 8 个字符" in zh and "不是有效的电子邮件地址" in zh
    assert "must be at least" not in zh and "e-mail address" not in zh
    en = register("en", password="short", password2="short", email="not-an-address")
    assert "must be at least 8 characters" in en and "is not an e-mail address" in en


def test_problem_translates_patterns_and_keeps_unknown_messages(app):
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        assert i18n.problem("must be between -90 and 90") == "必须在 -90 到 90 之间"
        assert i18n.problem("must be at most 2000 characters (got 2001)") == "最多 2000 个字符"
        assert i18n.problem("unknown category 'x'") == "未知的类别 'x'"
        assert i18n.problem("something nobody translated") == "something nobody translated"
        assert i18n.problem(None) == ""
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert i18n.problem("must be between -90 and 90") == "must be between -90 and 90"


def test_dates_are_formatted_for_the_language(admin_client, database_url):
    # In the future, so it is on the audit log's first page (newest first).
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_log (at, actor_label, actor_role, action)"
                     " VALUES (%s, 'test', 'admin', 'language_test.date')",
                     (datetime(2099, 3, 4, 5, 6, 7, tzinfo=timezone.utc),))
    zh = admin_client.get("/admin/audit", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    en = admin_client.get("/admin/audit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    # 05:06:07 UTC is 13:06:07 in Beijing (TIMEZONE, default Asia/Shanghai).
    assert "2099年3月4日 13:06:07" in zh
    assert "Mar 4, 2099, 1:06:07" in en


def test_error_pages_are_the_sites_own_in_the_readers_language(app):
    client = app.test_client()
    zh = client.get("/no-such-page", headers={"Accept-Language": "zh"})
    en = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert zh.status_code == en.status_code == 404
    assert "页面不存在" in zh.get_data(as_text=True) and '<html lang="zh-CN"' in zh.get_data(as_text=True)
    assert "Page not found" in en.get_data(as_text=True) and "返回地图" not in en.get_data(as_text=True)
    # The API keeps its JSON errors.
    assert client.get("/api/no-such-thing").mimetype == "application/json"
    # A refused form says why in the page's language, with the technical reason beside it.
    refused = client.post("/login", data={"username": "x"}, headers={"Accept-Language": "zh"})
    assert refused.status_code == 400 and "无法处理此请求" in refused.get_data(as_text=True)
    assert "CSRF" in refused.get_data(as_text=True)
