"""Languages: Simplified Chinese and English through Flask-Babel, chosen by cookie, then Accept-Language."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, request, url_for
from flask_babel import Babel, get_locale

log = logging.getLogger(__name__)

bp = Blueprint("i18n", __name__)

LANGUAGES = {"zh": "中文", "en": "English"}
# The community this service was first built for is in Beijing: Chinese unless the browser asks otherwise.
DEFAULT_LANGUAGE = "zh"
COOKIE = "lang"
TRANSLATIONS = Path(__file__).with_name("translations")


def select_locale() -> str:
    """The language of this request: ?lang=, then the cookie set by the switch, then Accept-Language."""
    for chosen in (request.args.get("lang"), request.cookies.get(COOKIE)):
        if chosen in LANGUAGES:
            return chosen
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT_LANGUAGE)


def language() -> str:
    """The current request's language code (zh or en)."""
    return str(get_locale() or DEFAULT_LANGUAGE).split("_")[0]


def init_app(app) -> None:
    """Install Flask-Babel, the switch route and the template helpers."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", os.environ.get("TIMEZONE") or "Asia/Shanghai")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)

    @app.context_processor
    def _languages():
        lang = language()
        return {"languages": LANGUAGES, "current_language": lang,
                "html_lang": "zh-CN" if lang == "zh" else lang}

    @app.after_request
    def _vary(resp):
        # The same URL answers in two languages, so caches must key on what decided it.
        resp.vary.add("Accept-Language")
        resp.vary.add("Cookie")
        return resp


def _safe_next(target: str | None) -> str:
    """A same-site path to go back to; anything pointing elsewhere becomes the home page."""
    if not target:
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webmap.i18n", description=__doc__)
    parser.add_argument("command", choices=["compile"])
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    for mo in compile_catalogues(force=args.force):
        print(f"compiled {mo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
