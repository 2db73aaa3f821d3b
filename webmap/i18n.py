"""Languages: Simplified Chinese and English through Flask-Babel, chosen by cookie, then Accept-Language."""
from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, redirect, request, url_for
from flask_babel import Babel, get_locale, gettext, pgettext

log = logging.getLogger(__name__)

bp = Blueprint("i18n", __name__)

LANGUAGES = {"zh": "中文", "en": "English"}
# The community this service was first built for is in Beijing: Chinese unless the browser asks otherwise.
DEFAULT_LANGUAGE = "zh"
COOKIE = "lang"
TRANSLATIONS = Path(__file__).with_name("translations")
# Files that read the same in every language: no Vary on Cookie/Accept-Language, so any cache may share them.
UNTRANSLATED_ENDPOINTS = {"static", "assets.vendored"}


def select_locale() -> str:
    """The language of this request: ?lang=, then the cookie set by the switch, then Accept-Language."""
    for chosen in (request.args.get("lang"), request.cookies.get(COOKIE)):
        if chosen in LANGUAGES:
            return chosen
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT_LANGUAGE)


def language() -> str:
    """The current request's language code (zh or en)."""
    return str(get_locale() or DEFAULT_LANGUAGE).split("_")[0]


def js_locale() -> str:
    """The BCP 47 tag scripts give to Intl / toLocaleString for this request's language."""
    return "zh-CN" if language() == "zh" else "en"


def category_name(category) -> str:
    """A category's name in the request's language: name_en in English, name (Chinese) otherwise."""
    get = category.get if isinstance(category, dict) else lambda k: getattr(category, k, None)
    if language() == "en":
        return get("name_en") or get("name") or get("code") or ""
    return get("name") or get("name_en") or get("code") or ""


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (it is translated where it is shown)."""
    return message


def NP_(context: str, message: str) -> tuple[str, str]:
    """N_ for a message whose translation depends on a context (msgctxt); translate it with translate()."""
    return (context, message)


def translate(marked) -> str:
    """Translate a string marked with N_ or NP_ now."""
    if isinstance(marked, tuple):
        return pgettext(*marked)
    return gettext(marked)


# Validation messages come from geodata in English (geodata never imports Flask). Pages translate them
# here: exact messages through the catalogue, messages with values through these patterns.
_PROBLEM_MESSAGES = (
    N_("is required"), N_("does not match"), N_("is not right"), N_("is taken"), N_("is not a party"),
    N_("is not one of the communities"), N_("is not an e-mail address"), N_("must be a string"),
    N_("must not be empty"), N_("must not be only spaces"), N_("must be a number (not a string)"),
    N_("must be a number"), N_("must not contain control characters"), N_("must be an id (a whole number from 1)"),
    N_("must be valid Unicode (it has half of a surrogate pair)"),
    N_("must be a finite number"), N_("must be a decimal number"), N_("must be an integer"),
    N_("must be an integer (not a string)"), N_("is not a field of a report"),
    N_("must be 3 to 64 letters, digits or _ . @ -"), N_("no active account has this username"),
    N_("must be a number of days from 1 to 3650"),
    N_("you cannot take away your own admin role or deactivate yourself"),
    N_("must be an ISO 8601 date or date-time, e.g. 2024-05-01 or 2024-05-01T08:00:00+08:00"),
    N_("must be a JSON object"), N_("must be another issue, not this one"),
    N_("is required: how satisfied are you, from 1 to 5?"),
    N_("is required: the id of the issue this one repeats"), N_("is required: who is to handle the issue"),
)
_PROBLEM_PATTERNS = (
    (re.compile(r"must be at least (?P<n>\d+) characters"), N_("must be at least %(n)s characters")),
    (re.compile(r"must be at most (?P<n>\d+) characters(?: \(got (?P<got>\d+)\))?"),
     N_("must be at most %(n)s characters")),
    (re.compile(r"must be between (?P<low>[-+\d.e]+) and (?P<high>[-+\d.e]+)"),
     N_("must be between %(low)s and %(high)s")),
    (re.compile(r"must be at least (?P<low>[-+\d.e]+)"), N_("must be at least %(low)s")),
    (re.compile(r"must be a date between (?P<low>\d+) and (?P<high>\d+)"),
     N_("must be a date between %(low)s and %(high)s")),
    (re.compile(r"must be at most (?P<high>[-+\d.e]+)"), N_("must be at most %(high)s")),
    (re.compile(r"must be one of (?P<values>.+)"), N_("must be one of %(values)s")),
    (re.compile(r"unknown area code: (?P<codes>.+)"), N_("unknown area code: %(codes)s")),
    (re.compile(r"unknown category (?P<code>.+)"), N_("unknown category %(code)s")),
    (re.compile(r"a (?P<role>\w+)'s token may act as: (?P<roles>.+)"), N_("a %(role)s's token may act as: %(roles)s")),
    (re.compile(r"there is no issue (?P<id>\d+)"), N_("there is no issue %(id)s")),
    (re.compile(r"there is no active party (?P<id>\d+)"), N_("there is no active party %(id)s")),
)


def problem(message) -> str:
    """A validation message from geodata (English) in the request's language; unknown ones stay English."""
    text = str(message or "")
    if not text:
        return ""
    translated = gettext(text)
    if translated != text or language() == "en":
        return translated
    for pattern, msgid in _PROBLEM_PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            return gettext(msgid, **{k: v or "" for k, v in m.groupdict().items()})
    return text


ROLE_LABELS = {
    "anonymous": N_("anonymous"), "resident": N_("resident"), "volunteer": N_("volunteer"),
    "social_worker": N_("social worker"), "official": N_("official"), "admin": N_("administrator"),
}


def role_label(role: str | None) -> str:
    """A role's name in the request's language (unknown roles as they are)."""
    return gettext(ROLE_LABELS[role]) if role in ROLE_LABELS else (role or "")


def switch_url(code: str) -> str:
    """The language switch's link to code, coming back to the page it was clicked on."""
    # Without ?lang=, which would outrank the choice being made.
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    here = request.path + ("?" + urlencode(query) if query else "")
    return url_for("i18n.switch", code=code) + "?" + urlencode({"next": here})


def init_app(app) -> None:
    """Install Flask-Babel, the switch route and the template helpers."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", os.environ.get("TIMEZONE") or "Asia/Shanghai")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)

    app.jinja_env.filters["problem"] = problem
    app.jinja_env.filters["category_name"] = category_name

    @app.context_processor
    def _languages():
        lang = language()
        return {"languages": LANGUAGES, "current_language": lang,
                "html_lang": "zh-CN" if lang == "zh" else lang, "switch_url": switch_url,
                "role_label": role_label}

    @app.after_request
    def _vary(resp):
        # The same URL answers in two languages, so caches must key on what decided it; files do not.
        if request.endpoint in UNTRANSLATED_ENDPOINTS:
            return resp
        resp.vary.add("Accept-Language")
        resp.vary.add("Cookie")
        return resp


def _safe_next(target: str | None) -> str:
    """A same-site path to go back to; anything pointing elsewhere becomes the home page."""
    if not target:
        return url_for("pages.index")
    parts = urlsplit(target)
    # Browsers drop tabs and newlines from URLs and read a backslash as a slash: "/\t/evil" is "//evil".
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target)):
        return url_for("pages.index")
    return target


@bp.get("/lang/<code>")
def switch(code: str):
    """Remember a language choice for a year and go back to the page it was made on."""
    resp = redirect(_safe_next(request.args.get("next")))
    if code in LANGUAGES:
        resp.set_cookie(COOKIE, code, max_age=365 * 86400, samesite="Lax", httponly=True,
                        secure=request.is_secure)
    return resp


def compile_catalogues(force: bool = False) -> list[Path]:
    """Compile every messages.po under webmap/translations whose messages.mo is missing or older."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        tmp = mo.with_name(f"messages.mo.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.replace(tmp, mo)
        written.append(mo)
        log.info("compiled %s (%d messages)", mo, len(catalog))
    return written


# gettext, _, N_ and friends are Babel's defaults; these are Flask-Babel's lazy ones.
KEYWORDS = {"lazy_gettext": None, "_l": None, "lazy_ngettext": (1, 2), "lazy_pgettext": ((1, "c"), 2),
            "NP_": ((1, "c"), 2)}


def extract_messages() -> dict:
    """Every msgid (or (msgctxt, msgid)) the code and templates use (as babel.cfg maps them), and where."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    root = TRANSLATIONS.parent.parent
    with (root / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    # Walk only the folders babel.cfg names (webmap/, geodata/), not .venv and node_modules.
    by_folder: dict[str, list] = {}
    for pattern, method in method_map:
        folder, _, rest = pattern.partition("/")
        by_folder.setdefault(folder, []).append((rest, method, options_map.get(pattern, {})))
    found: dict = {}
    for folder, entries in sorted(by_folder.items()):
        mapping = [(rest, method) for rest, method, _ in entries]
        options = {rest: opts for rest, _, opts in entries}
        for filename, lineno, message, _comments, context in extract_from_dir(
                str(root / folder), mapping, options, keywords={**DEFAULT_KEYWORDS, **KEYWORDS},
                strip_comment_tags=True):
            for msgid in (message if isinstance(message, tuple) else (message,)):
                if msgid:
                    key = (context, msgid) if context else msgid
                    found.setdefault(key, []).append(f"{folder}/{filename}:{lineno}")
    return found


def missing_translations(locale: str = "zh") -> dict:
    """msgids used by the code or templates that the locale's catalogue lacks or leaves empty (or fuzzy)."""
    from babel.messages.pofile import read_po

    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    missing = {}
    for key, where in extract_messages().items():
        context, msgid = key if isinstance(key, tuple) else (None, key)
        entry = catalog.get(msgid, context=context)
        text = entry.string if entry is not None else None
        if isinstance(text, tuple):
            text = text[0]
        if entry is None or not text or entry.fuzzy:
            missing[key] = where
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webmap.i18n", description=__doc__)
    parser.add_argument("command", choices=["compile", "missing"],
                        help="compile the catalogues, or list strings the Chinese catalogue lacks")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "missing":
        missing = missing_translations()
        for key, where in sorted(missing.items(), key=lambda kv: str(kv[0])):
            print(f"{where[0]}: {key!r}")
        return 1 if missing else 0
    for mo in compile_catalogues(force=args.force):
        print(f"compiled {mo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
