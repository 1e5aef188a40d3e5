"""The page view: a self-contained HTML shell (no CDN), its config, and the CSRF cookie."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, RequestFactory

from animation import glb, services
from animation.models import Avatar, VisemeMapping
from animation.visemes import BUILTIN_MAPPING, MOUTH_SHAPES
from conversations.api import tokens
from conversations.domain.validation import MAX_MESSAGE_CHARS
from conversations.web import views
from tests.animation.test_glb import make_glb

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # uploaded GLBs


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


def _config(client: Client, url: str = "/") -> dict[str, Any]:
    html = client.get(url).content.decode()
    config: dict[str, Any] = json.loads(_script(html, r'<script id="avatar-config" type="application/json">'))
    return config


def _upload(name: str = "Аня", mapping: VisemeMapping | None = None) -> Avatar:
    content = make_glb([*glb.OCULUS_NAMES, "customMouth"])
    return services.upload_avatar(name=name, content=content, filename="anya.glb", viseme_mapping=mapping)


def test_without_a_default_avatar_the_page_gets_the_builtin_mapping() -> None:
    _upload()  # uploaded, but not the default
    config = _config(Client())
    assert config["avatar"] is None
    assert config["mapping"] == {shape: dict(morphs) for shape, morphs in BUILTIN_MAPPING.items()}


def test_the_default_avatar_and_its_mapping_are_in_the_config() -> None:
    table = {shape: {"customMouth": 1.0} for shape in MOUTH_SHAPES if shape != "X"} | {"X": {"viseme_sil": 1.0}}
    mapping = VisemeMapping.objects.create(name="custom", mapping=table)
    avatar = _upload(mapping=mapping)
    services.make_default_avatar(avatar)
    config = _config(Client())
    assert config["avatar"] == {
        "id": avatar.pk, "name": "Аня", "url": f"/avatars/{avatar.pk}/model.glb", "standard": "oculus",
        "mapping": {shape: table[shape] for shape in MOUTH_SHAPES},
    }
    # The built-in avatar (the fallback if the GLB does not load) keeps its own table.
    assert config["mapping"]["D"] == {"mouth_D": 1.0}
    response = Client().get(config["avatar"]["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "model/gltf-binary"
    assert b"".join(response.streaming_content).startswith(b"glTF")  # type: ignore[attr-defined]


def test_an_avatar_without_its_own_mapping_gets_its_standards_table() -> None:
    services.make_default_avatar(_upload())
    config = _config(Client())
    assert config["avatar"]["mapping"]["D"] == {"viseme_aa": 1.0}  # the shipped "oculus" table


def test_the_replay_page_gets_the_same_avatar(django_user_model: Any) -> None:
    services.make_default_avatar(_upload())
    sid, _token = tokens.start_session_with_token(title="t", client="web")
    client = Client()
    client.force_login(django_user_model.objects.create_user("staff", password="x", is_staff=True))
    config = _config(client, f"/replay/{sid}/")
    assert config["avatar"] == _config(Client())["avatar"]
    assert config["mapping"]["A"] == {"mouth_A": 1.0}


def test_only_the_default_avatar_is_served_to_visitors(django_user_model: Any) -> None:
    other = _upload("Другой")
    url = f"/avatars/{other.pk}/model.glb"
    assert Client().get(url).status_code == 404
    assert Client().get("/avatars/999999/model.glb").status_code == 404
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("staff", password="x", is_staff=True))
    assert staff.get(url).status_code == 200  # staff may look at any upload
