"""The page view: a self-contained HTML shell (no CDN), its config, and the CSRF cookie."""

from __future__ import annotations

import json
import re

from django.test import RequestFactory

from conversations.domain.validation import MAX_MESSAGE_CHARS
from conversations.web import views


def _script(html: str, opening: str) -> str:
    match = re.search(opening + r"(.*?)</script>", html, re.S)
    assert match, opening
    return match.group(1)


def test_page_renders_the_app_shell_without_any_cdn() -> None:
    response = views.page(RequestFactory().get("/"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ru">' in html
    importmap = json.loads(_script(html, r'<script type="importmap">'))
    assert importmap["imports"]["three"].endswith("vendor/three/build/three.module.js")
    assert importmap["imports"]["three/addons/"].endswith("vendor/three/addons/")
    # Everything the page loads comes from this server.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not url.startswith(("http:", "https:", "//")), url
    assert "static/avatar/app.js" in html and "static/avatar/avatar.css" in html
    config = json.loads(_script(html, r'<script id="avatar-config" type="application/json">'))
    assert config["maxChars"] == MAX_MESSAGE_CHARS
    assert f'maxlength="{MAX_MESSAGE_CHARS}"' in html
    assert "csrftoken" in response.cookies  # sent back on POST /api/sessions
    assert response["Cache-Control"] == "no-store"


def test_page_only_answers_get() -> None:
    assert views.page(RequestFactory().post("/")).status_code == 405
