"""Browser tests: the app served by gunicorn against the test database, driven by Playwright in Debian's chromium."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from geodata.config import PROJECT_ROOT
from tests.helpers import DEFAULT_PASSWORD
from tests.processes import die_with_parent

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
# Flags for a closed network: without the background-networking ones chromium keeps calling home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# A basemap host that does not exist: tiles fail quietly, and the tests can tell them from other requests.
BASEMAP_HOST = "basemap.invalid"


# A blank 1x1 PNG served for every basemap tile, so pages look the same offline and log no errors.
BLANK_TILE = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea73581e40000000049454e44ae426082"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gunicorn(database_url: str, log: Path, **extra_env: str) -> tuple[subprocess.Popen, str]:
    """gunicorn (2 workers) serving the app on a free port; returns the process and its base URL once healthy."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "browser-tests-only",
        "BASEMAP_URL": f"http://{BASEMAP_HOST}/{{z}}/{{x}}/{{y}}.png",
        "BASEMAP_ATTRIBUTION": "test basemap",
        **extra_env,
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(gunicorn), "--workers", "2", "--bind", f"127.0.0.1:{port}", "--no-control-socket", "webmap:create_app()"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        )
    base = f"http://127.0.0.1:{port}"
    # Workers import folium, pandas and the app: on two busy shared cores that can take well over 30 s.
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                break
        # OSError also covers a read timeout while the workers are still importing on a busy machine.
        except (urllib.error.URLError, ConnectionError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    return proc, base


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def live_server(database_url, tmp_path_factory):
    """Base URL of the app under gunicorn (2 workers) on a free port, for the whole session."""
    proc, base = _start_gunicorn(database_url, tmp_path_factory.mktemp("gunicorn") / "server.log")
    yield base
    _stop(proc)


@pytest.fixture(scope="session")
def start_server(database_url, tmp_path_factory):
    """Start another gunicorn of the app with extra settings (e.g. BASEMAP_CRS=gcj02); stopped after the session."""
    started = []

    def start(**extra_env: str) -> str:
        proc, base = _start_gunicorn(database_url, tmp_path_factory.mktemp("gunicorn") / "server.log", **extra_env)
        started.append(proc)
        return base

    yield start
    for proc in started:
        _stop(proc)


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the session (Debian's package; no downloaded browser)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: make setup installs the chromium package")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class RecordedPage:
    """A page plus every request it made, split into local, basemap and external."""

    def __init__(self, page, base: str):
        self.page = page
        self.base = base
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        # On the context, so requests of workers and other pages or frames it opens are recorded too.
        page.context.on("request", lambda req: self.requests.append(req.url))
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))

    @property
    def external(self) -> list[str]:
        """Requests that left the machine, other than basemap tiles."""
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname in ("127.0.0.1", "localhost", BASEMAP_HOST):
                continue
            out.append(url)
        return out

    def sign_in(self, username: str, target: str, arrive: str | None = None):
        """Sign in through the login form (DEFAULT_PASSWORD), landing on target; returns the page."""
        page = self.page
        page.goto(f"{self.base}/login?next={target}")
        page.fill("#username", username)
        page.fill("#password", DEFAULT_PASSWORD)
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_url(arrive or f"**{target}")
        return page

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path


def _blank_tile(route):
    route.fulfill(status=200, content_type="image/png", body=BLANK_TILE)


@pytest.fixture
def desktop(browser, live_server):
    """A desktop-sized page that records its requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    context.route(f"http://{BASEMAP_HOST}/**", _blank_tile)
    page = context.new_page()
    yield RecordedPage(page, live_server)
    context.close()


@pytest.fixture
def phone(browser, live_server):
    """A 375x667 touch page (an ordinary phone) that records its requests."""
    context = browser.new_context(viewport={"width": 375, "height": 667}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    context.route(f"http://{BASEMAP_HOST}/**", _blank_tile)
    page = context.new_page()
    yield RecordedPage(page, live_server)
    context.close()


@pytest.fixture
def make_page(browser):
    """Pages with other context settings (geolocation, permissions, another server): make(base, **options)."""
    contexts = []

    def make(base: str, **options) -> RecordedPage:
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, "locale": "zh-CN", **options})
        context.route(f"http://{BASEMAP_HOST}/**", _blank_tile)
        contexts.append(context)
        return RecordedPage(context.new_page(), base)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def demo_areas(empty_areas, database_url, monkeypatch):
    """The demo street and its three pilot communities, loaded into the test database."""
    from etl.__main__ import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["demo"]) == 0
    return empty_areas


def pytest_sessionfinish(session, exitstatus):
    # Keep only this run's screenshots beside the tests (they are build artifacts, not sources).
    if ARTIFACTS.exists() and not any(ARTIFACTS.iterdir()):
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
