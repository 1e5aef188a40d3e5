"""Browser tests of the avatar page: headless Chromium (system binary) driven by Playwright.

Two kinds of fixtures:

* ``module_page``: the page's ES modules served from a throwaway static server (no Django),
  for unit-level checks of the avatar, lip-sync and motion code in a real WebGL browser.
* ``daphne``: a real daphne on a free loopback port with its own AVATAR_HOME (SQLite,
  in-process task queues, the offline engines), for end-to-end tests of the page; it yields
  the URL and the home, and runs ``tests/web/seeding.py`` functions against that home.
  ``daphne_server`` is its URL alone.

Both need Chromium (``apt-get install -y chromium``) and the ``playwright`` package;
without them the tests are skipped. Screenshots go to ``$AVATAR_SCREENSHOTS`` (default
``/tmp/avatar-screenshots``).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("AVATAR_CHROMIUM", "/usr/bin/chromium")
# Flags that work for headless Chromium with software WebGL here (see ../shared/OFFLINE.md).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SCREENSHOTS = Path(os.environ.get("AVATAR_SCREENSHOTS", "/tmp/avatar-screenshots"))
STAFF_PASSWORD = "replay-test-password"

try:  # the browser tests need it; the others in this folder do not
    from playwright import sync_api as _playwright_api

    playwright_api: Any = _playwright_api
except ImportError:  # pragma: no cover - depends on the environment
    playwright_api = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if playwright_api is None:
        pytest.fail("the playwright package is not installed: run scripts/setup.sh --dev")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/setup.sh --dev (apt-get install -y chromium)")
    if not (ROOT / "node_modules" / "three" / "build" / "three.module.js").exists():
        pytest.fail("three.js is not installed: run scripts/setup.sh (it runs `npm ci`)")
    with playwright_api.sync_playwright() as pw:
        # Playwright gives every launch a fresh temporary profile (no --user-data-dir needed).
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


HARNESS = """<!doctype html>
<html><head><meta charset="utf-8">
<script type="importmap">{"imports": {"three": "/vendor/three/build/three.module.js",
  "three/addons/": "/vendor/three/addons/"}}</script>
<style>html,body{margin:0;height:100%;background:#e9e6f0}#wrap{position:absolute;inset:0}</style>
</head><body><div id="wrap"><canvas id="c" style="width:100%;height:100%;display:block"></canvas></div>
<script type="module">
import * as THREE from "three";
import * as rig from "/static/avatar/rig.js";
import * as avatar from "/static/avatar/avatar.js";
import * as driver from "/static/avatar/driver.js";
import * as lipsync from "/static/avatar/lipsync.js";
import * as motion from "/static/avatar/motion.js";
import * as scene from "/static/avatar/scene.js";
import * as player from "/static/avatar/player.js";
import * as conversation from "/static/avatar/conversation.js";
import * as revisions from "/static/avatar/revisions.js";
window.mods = { THREE, rig, avatar, driver, lipsync, motion, scene, player, conversation, revisions };
window.ready = true;
</script></body></html>
"""


@pytest.fixture(scope="session")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page's modules and three.js on a static server, with a blank harness page."""
    root = tmp_path_factory.mktemp("modules")
    (root / "static").symlink_to(ROOT / "static")
    (root / "vendor" / "three").mkdir(parents=True)
    (root / "vendor" / "three" / "build").symlink_to(ROOT / "node_modules" / "three" / "build")
    (root / "vendor" / "three" / "addons").symlink_to(ROOT / "node_modules" / "three" / "examples" / "jsm")
    (root / "harness.html").write_text(HARNESS, encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def module_page(browser: Any, module_server: str) -> Iterator[Any]:
    """One harness page per test module: shader programs compile once (slow in SwiftShader)."""
    context = browser.new_context(viewport={"width": 800, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{module_server}/harness.html")
    page.wait_for_function("window.ready === true", timeout=30_000)
    page.errors = errors
    yield page
    context.close()
    assert not errors, errors


def _engine_config(path: Path) -> Path:
    """The default engine config with room for a slow shared CPU (Chromium renders in software)."""
    raw = yaml.safe_load((ROOT / "avatar_project" / "models_config.yaml").read_text(encoding="utf-8"))
    raw["llm"]["timeout_s"] = 120
    raw["llm"]["max_sentences"] = 3
    raw["llm"].setdefault("options", {})["max_tokens"] = 90
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Daphne:
    """The live server under test: its base URL, its AVATAR_HOME, and the environment it runs in."""

    url: str
    home: Path
    env: dict[str, str]

    def call(self, function: str, timeout: float = 180, **kwargs: Any) -> Any:
        """Run ``tests.web.seeding.<function>(**kwargs)`` against this server's home; its JSON output."""
        code = f"import json; from tests.web import seeding; seeding.{function}(**json.loads({json.dumps(kwargs)!r}))"
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        lines = done.stdout.strip().splitlines()
        return json.loads(lines[-1]) if lines else None


def _server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        AVATAR_HOME=str(home),
        AVATAR_MODELS_DIR=os.environ.get("AVATAR_MODELS_DIR", str(ROOT / "var" / "models")),
        AVATAR_CONFIG_FILE=str(_engine_config(home / "models_config.yaml")),
        AVATAR_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


def staff_context(browser: Any, daphne: Daphne) -> Any:
    """A browser context logged in to the admin as a staff user of the live daphne (close it when done)."""
    username = daphne.call("create_staff", username="replayer", password=STAFF_PASSWORD)["username"]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
    page = context.new_page()
    page.goto(daphne.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url("**/admin/")
    page.close()
    return context


@pytest.fixture(scope="session")
def daphne_server(daphne: Daphne) -> str:
    """The live server's base URL."""
    return daphne.url


@pytest.fixture(scope="session")
def daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daphne]:
    """daphne on loopback with a fresh AVATAR_HOME; yields its URL and home."""
    home = tmp_path_factory.mktemp("avatar-home")
    env = _server_env(home)
    # Another ASGI app / settings module (e.g. a wrapper during development) may be named here.
    asgi_app = os.environ.get("AVATAR_E2E_ASGI", "avatar_project.asgi:application")
    if os.environ.get("AVATAR_E2E_SETTINGS"):
        env["DJANGO_SETTINGS_MODULE"] = os.environ["AVATAR_E2E_SETTINGS"]
    venv_bin = Path(sys.executable).parent
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    port = free_port()
    log_path = home / "daphne.log"
    daphne_bin = shutil.which("daphne", path=str(venv_bin)) or str(venv_bin / "daphne")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [daphne_bin, "-b", "127.0.0.1", "-p", str(port), asgi_app],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("daphne did not serve the page:\n" + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        for asset in (
            "/static/avatar/app.js",
            "/static/vendor/three/build/three.module.js",
            "/static/vendor/three/addons/loaders/GLTFLoader.js",  # uploaded GLB avatars
        ):
            try:
                urllib.request.urlopen(base + asset, timeout=5).close()
            except OSError as exc:
                pytest.fail(
                    f"daphne does not serve {asset} ({exc}): the ASGI app must serve static files "
                    "(e.g. ASGIStaticFilesHandler around the HTTP app in avatar_project/asgi.py), "
                    "and `npm ci` must have installed three.js"
                )
        yield Daphne(url=base, home=home, env=env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if os.environ.get("AVATAR_E2E_SHOW_LOG"):
            print(log_path.read_text(errors="replace")[-5000:])
