"""Editing sentences and re-rendering sessions through the real admin views.

The chain runs for real (in-process queues, the offline engines): an edit is
rendered and shown beside the original.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from conversations import eventstore, selectors, services
from conversations.models import StoredEvent, TranscriptRevision
from tests.helpers import wait_for_turn

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
SESSIONS = "/admin/conversations/session/"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def spoken() -> tuple[uuid.UUID, str]:
    session_id = services.start_session(title="правки")
    user = services.receive_user_message(session_id, "Привет! Как дела?", mode="speak")
    wait_for_turn(session_id, user.data["turn_id"])
    return session_id, user.data["turn_id"]


def _edit_url(session_id: uuid.UUID, turn_id: str, index: int) -> str:
    return f"{SESSIONS}{session_id}/sentence/{turn_id}/{index}/"


def _wait(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_edit_form_saves_a_revision_that_is_rendered_and_shown_beside_the_original(
    admin_client: Client, spoken: tuple[uuid.UUID, str]
) -> None:
    session_id, turn_id = spoken
    url = _edit_url(session_id, turn_id, 1)
    form = admin_client.get(url)
    assert form.status_code == 200
    assert "Как дела?" in form.content.decode() and form.context["current_revision"] == 0
    gestures = [value for value, _ in form.context["form"].fields["action"].choices]
    assert "nod" in gestures and "wave" in gestures and "idle" not in gestures  # a loop is no gesture
    reply = admin_client.post(url, {"text": "Как ваши дела сегодня?", "emotion": "happy", "action": "nod"})
    assert reply.status_code == 302 and reply["Location"].startswith(f"{SESSIONS}{session_id}/change/")
    (revised,) = eventstore.read(session_id, types=["SentenceRevised"])
    assert revised.data == {
        "turn_id": turn_id, "index": 1, "revision": 1, "based_on": 0, "text": "Как ваши дела сегодня?",
        "emotion": "happy", "action": "nod", "reason": "edit", "editor": "admin", "render_id": None,
    }
    _wait(lambda: TranscriptRevision.objects.filter(revision=1, rendered_at__isnull=False).exists())
    page = admin_client.get(f"{SESSIONS}{session_id}/change/").content.decode()
    assert "Как дела?" in page and "Как ваши дела сегодня?" in page and "правка 1" in page
    revision = TranscriptRevision.objects.get(revision=1)
    assert revision.motion_preset and revision.chosen_emotion == "happy"
    motion = selectors.sentence_event(selectors.turn_events(session_id, turn_id), "MotionPlanned", 1, 1)
    assert motion is not None and motion.data["keyframes"]["action"] == "nod"  # the chosen gesture plays
    original = revision.sentence
    for sha in (original.audio_sha256, revision.audio_sha256):
        assert f'src="/api/sessions/{session_id}/artifacts/{sha}"' in page
    assert f'href="{url}"' in page  # the edit link, for those who may edit
    side = admin_client.get(url).content.decode()
    assert "Исходная и последняя правка" in side and revision.audio_sha256 in side


@pytest.mark.parametrize(
    ("post", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "а" * 1001}, "text"),
        ({"text": "Да\x00нет"}, "text"),
        ({"text": "Да.", "emotion": "angry"}, "emotion"),
        ({"text": "Да.", "action": "no-such-preset"}, "action"),
    ],
)
def test_bad_edits_show_field_errors_and_store_nothing(
    admin_client: Client, spoken: tuple[uuid.UUID, str], post: dict[str, str], field: str
) -> None:
    session_id, turn_id = spoken
    head = eventstore.head(session_id)
    reply = admin_client.post(_edit_url(session_id, turn_id, 0), post)
    assert reply.status_code == 200
    assert reply.context["form"].errors.get(field), reply.context["form"].errors
    assert eventstore.head(session_id) == head


def test_unknown_session_turn_or_sentence_is_404(admin_client: Client, spoken: tuple[uuid.UUID, str]) -> None:
    session_id, turn_id = spoken
    assert admin_client.get(_edit_url(session_id, turn_id, 7)).status_code == 404
    assert admin_client.get(_edit_url(session_id, "nope", 0)).status_code == 404
    assert admin_client.get(_edit_url(uuid.uuid4(), turn_id, 0)).status_code == 404
    assert admin_client.post(f"{SESSIONS}{uuid.uuid4()}/rerender/").status_code == 404


def test_rerender_runs_in_the_background_with_progress(admin_client: Client, spoken: tuple[uuid.UUID, str]) -> None:
    session_id, _ = spoken
    assert admin_client.get(f"{SESSIONS}{session_id}/rerender/").status_code == 405
    reply = admin_client.post(f"{SESSIONS}{session_id}/rerender/")
    assert reply.status_code == 302
    (requested,) = eventstore.read(session_id, types=["SessionRerenderRequested"])
    assert requested.data["requested_by"] == "admin" and len(requested.data["sentences"]) == 2
    assert set(requested.data["engines"]) == {"sentiment", "tts", "lipsync", "motion"}
    progress_url = f"{SESSIONS}{session_id}/renders/"

    def done() -> bool:
        (render,) = admin_client.get(progress_url).json()["renders"]
        return bool(render["completed"])

    _wait(done)
    (render,) = admin_client.get(progress_url).json()["renders"]
    assert (render["rendered"], render["total"], render["percent"]) == (2, 2, 100)
    page = admin_client.get(f"{SESSIONS}{session_id}/change/").content.decode()
    assert 'id="renders"' in page and "2 / 2" in page and "Перерендерить всю сессию" in page


def test_second_rerender_while_one_runs_is_refused(admin_client: Client, spoken: tuple[uuid.UUID, str]) -> None:
    session_id, _ = spoken
    services.rerender_session(session_id)  # running: its sentences are queued
    if selectors.rerender_in_progress(session_id) is None:
        pytest.skip("the first re-render finished before the second request")  # 2 short sentences, fast engines
    reply = admin_client.post(f"{SESSIONS}{session_id}/rerender/", follow=True)
    assert "Перерендер уже идёт" in reply.content.decode()
    assert len(eventstore.read(session_id, types=["SessionRerenderRequested"])) == 1


def test_who_may_edit(client: Client, django_user_model: Any, spoken: tuple[uuid.UUID, str]) -> None:
    session_id, turn_id = spoken
    urls = {
        "edit": _edit_url(session_id, turn_id, 0),
        "rerender": f"{SESSIONS}{session_id}/rerender/",
        "progress": f"{SESSIONS}{session_id}/renders/",
    }
    head = eventstore.head(session_id)
    for url in urls.values():  # anonymous: to the login page
        for reply in (client.get(url), client.post(url, {"text": "Взлом."})):
            assert reply.status_code == 302 and reply["Location"].startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    reply = client.post(urls["edit"], {"text": "Взлом."})
    assert reply.status_code == 302 and reply["Location"].startswith("/admin/login/")  # not staff
    staff = django_user_model.objects.create_user("operator", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_session", content_type__app_label="conversations"))
    client.force_login(staff)
    assert client.post(urls["edit"], {"text": "Взлом."}).status_code == 403  # may look, may not edit
    assert client.post(urls["rerender"]).status_code == 403
    assert client.get(urls["progress"]).status_code == 200
    page = client.get(f"{SESSIONS}{session_id}/change/").content.decode()
    assert "✎ Править" not in page and "Перерендерить всю сессию" not in page
    assert eventstore.head(session_id) == head and not StoredEvent.objects.filter(type="SentenceRevised").exists()
    staff.user_permissions.add(Permission.objects.get(codename="revise_session"))
    client.force_login(django_user_model.objects.get(pk=staff.pk))  # drop the cached permissions
    assert client.post(urls["edit"], {"text": "Можно."}).status_code == 302


def test_sessions_can_be_filtered_by_revisions(admin_client: Client, spoken: tuple[uuid.UUID, str]) -> None:
    session_id, turn_id = spoken
    plain = services.start_session(title="без правок")

    def listed(value: str) -> set[uuid.UUID]:
        return {s.pk for s in admin_client.get(SESSIONS, {"revised": value}).context["cl"].result_list}

    assert listed("yes") == set() and listed("no") == {session_id, plain}
    services.revise_sentence(session_id, turn_id, 0, text="Здравствуйте!")
    assert listed("yes") == {session_id} and listed("no") == {plain}
