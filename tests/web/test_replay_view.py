"""The replay page's permission rules and shell, and its links from the Session admin."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client

from conversations.api import tokens

pytestmark = [pytest.mark.django_db]


def _client(django_user_model: Any, **flags: bool) -> Client:
    user = django_user_model.objects.create_user(f"u{uuid.uuid4().hex[:8]}", password="x", **flags)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def session_id() -> uuid.UUID:
    sid, _token = tokens.start_session_with_token(title="Проверка повтора", client="web")
    return sid


def test_anonymous_is_sent_to_the_admin_login(session_id: uuid.UUID) -> None:
    response = Client().get(f"/replay/{session_id}/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next=/replay/{session_id}/"


def test_non_staff_is_refused(django_user_model: Any, session_id: uuid.UUID) -> None:
    assert _client(django_user_model).get(f"/replay/{session_id}/").status_code == 403


def test_inactive_staff_is_treated_as_anonymous(django_user_model: Any, session_id: uuid.UUID) -> None:
    user = django_user_model.objects.create_user("gone", password="x", is_staff=True, is_active=False)
    client = Client()
    client.force_login(user)  # the auth backend rejects inactive users: no login
    assert client.get(f"/replay/{session_id}/").status_code == 302


def test_staff_gets_the_replay_page(django_user_model: Any, session_id: uuid.UUID) -> None:
    response = _client(django_user_model, is_staff=True).get(f"/replay/{session_id}/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert '<html lang="ru">' in html and "Проверка повтора" in html
    assert "static/avatar/replay.js" in html
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not url.startswith(("http:", "https:", "//")), url
    match = re.search(r'<script id="avatar-config" type="application/json">(.*?)</script>', html, re.S)
    assert match
    config = json.loads(match.group(1))
    assert config["sessionId"] == str(session_id)
    assert config["adminUrl"] == f"/admin/conversations/session/{session_id}/change/"


def test_unknown_session_is_404_for_staff(django_user_model: Any) -> None:
    assert _client(django_user_model, is_staff=True).get(f"/replay/{uuid.uuid4()}/").status_code == 404


def test_replay_answers_only_get(django_user_model: Any, session_id: uuid.UUID) -> None:
    assert _client(django_user_model, is_staff=True).post(f"/replay/{session_id}/").status_code == 405


def test_admin_links_to_the_replay(django_user_model: Any, session_id: uuid.UUID) -> None:
    client = _client(django_user_model, is_staff=True, is_superuser=True)
    link = f'href="/replay/{session_id}/"'
    assert link in client.get("/admin/conversations/session/").content.decode()
    assert link in client.get(f"/admin/conversations/session/{session_id}/change/").content.decode()
