"""The transcripts admin, through the real admin views, on sessions written to the real store."""

from __future__ import annotations

import io
import uuid
import wave
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from animation import selectors as animation_selectors
from conversations import eventstore, services
from conversations.domain import events as ev
from conversations.models import Session
from synthesis import artifacts

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
SESSIONS = "/admin/conversations/session/"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def wav_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes([seed % 256, 0]) * 1600)
    return buffer.getvalue()


def timing(queued: int, compute: int) -> dict[str, Any]:
    return {"queued_ms": queued, "compute_ms": compute, "task_ms": queued + compute, "started_at": 0}


def record_session(title: str, *, llm: str, tts: str, fail: bool) -> tuple[uuid.UUID, list[dict[str, Any]]]:
    """A finished two-sentence turn, appended event by event as the pipeline would."""
    sid = services.start_session(title=title)
    turn = str(uuid.uuid4())
    texts = ["Привет!", "Как дела?"]
    # Appended directly (not receive_user_message): no pipeline may start in these tests.
    eventstore.append(sid, [ev.UserMessageReceived(turn_id=turn, text="Здравствуй")], None)
    audio = []
    for index, text in enumerate(texts):
        ref = artifacts.store(wav_bytes(index + len(title)), "audio", "audio/wav", "wav")
        audio.append(ref)
        eventstore.append(sid, [
            ev.SentenceGenerated(turn_id=turn, index=index, text=text, timing=timing(0, 120)),
            ev.SentimentAnalyzed(turn_id=turn, index=index, label="happy", scores={"happy": 0.9}, engine="e5",
                                 timing=timing(3, 40)),
            ev.SpeechSynthesized(turn_id=turn, index=index, audio=ref, duration_ms=100, sample_rate=16000,
                                 engine=tts, voice="v", spoken_text=text, timing=timing(5, 321)),
            ev.LipSyncGenerated(turn_id=turn, index=index, cues=[{"start": 0, "end": 0.1, "shape": "X"}],
                                generator="phones", timing=timing(1, 7)),
            ev.MotionPlanned(turn_id=turn, index=index, preset="nod", preset_version=1,
                             keyframes={"duration": 0.1, "tracks": []}, timing=timing(2, 9)),
        ], None)
    if fail:
        eventstore.append(sid, [ev.StageFailed(stage="tts", engine="festival", error="boom", fallback="espeak-ng",
                                               turn_id=turn, index=1)], None)
    eventstore.append(sid, [
        ev.ReplyGenerated(turn_id=turn, sentence_count=2, engine=llm, finish_reason="stop"),
        ev.TurnCompleted(turn_id=turn, sentence_count=2, timings={"total_ms": 900, "stages": {}},
                         failures=int(fail)),
    ], None)
    return sid, audio


@pytest.fixture
def recorded() -> dict[str, Any]:
    failed, audio = record_session("со сбоем", llm="llama-cpp", tts="festival", fail=True)
    clean, _ = record_session("чистая", llm="ollama", tts="espeak-ng", fail=False)
    return {"failed": failed, "clean": clean, "audio": audio}


def listed(client: Client, **params: str) -> set[uuid.UUID]:
    response = client.get(SESSIONS, params)
    assert response.status_code == 200
    return {s.pk for s in response.context["cl"].result_list}


def test_list_shows_counts_engines_and_failures(admin_client: Client, recorded: dict[str, Any]) -> None:
    response = admin_client.get(SESSIONS)
    rows = {s.pk: s for s in response.context["cl"].result_list}
    failed = rows[recorded["failed"]]
    assert (failed.n_turns, failed.n_sentences, failed.n_failures) == (1, 2, 1)
    assert rows[recorded["clean"]].n_failures == 0
    page = response.content.decode()
    assert "llama-cpp / festival" in page and "ollama / espeak-ng" in page


def test_filters_by_engine_failures_and_date(admin_client: Client, recorded: dict[str, Any]) -> None:
    failed, clean = recorded["failed"], recorded["clean"]
    assert listed(admin_client, llm="ollama") == {clean}
    assert listed(admin_client, tts="festival") == {failed}
    assert listed(admin_client, failures="yes") == {failed}
    assert listed(admin_client, failures="no") == {clean}
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    assert listed(admin_client, created_at__gte=str(midnight)) == {failed, clean}
    assert listed(admin_client, created_at__gte=str(midnight + timedelta(days=1))) == set()
    assert listed(admin_client, q="Как дела") == {failed, clean}


def test_session_page_shows_turns_sentences_timings_audio_and_the_log(
    admin_client: Client, recorded: dict[str, Any]
) -> None:
    sid = recorded["failed"]
    page = admin_client.get(f"{SESSIONS}{sid}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for fragment in ("Здравствуй", "Привет!", "Как дела?", "happy", "festival", "llama-cpp", "phones",
                     "tts: 5 / 321", "total_ms: 900", "festival: boom → espeak-ng"):
        assert fragment in html, fragment
    nod = animation_selectors.preset_versions("nod").last()
    assert nod is not None and nod.version == 1
    assert f'href="/admin/animation/animationpreset/{nod.pk}/change/">nod v1</a>' in html
    # The raw log: every stored event, in order.
    assert html.count('<tr id="event-') == eventstore.head(sid)
    for event_type in ("SessionStarted", "StageFailed", "TurnCompleted"):
        assert event_type in html
    # One player per sentence, and staff can fetch what it plays.
    for ref in recorded["audio"]:
        url = f"/api/sessions/{sid}/artifacts/{ref['sha256']}"
        assert f'<audio controls preload="none" src="{url}">' in html
        audio = admin_client.get(url)
        assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"
        assert audio.content == artifacts.read(ref)


def test_everything_is_read_only(admin_client: Client, recorded: dict[str, Any]) -> None:
    sid = recorded["clean"]
    head = eventstore.head(sid)
    assert admin_client.post(f"{SESSIONS}{sid}/change/", {"title": "x"}).status_code == 403
    assert admin_client.get(f"{SESSIONS}{sid}/delete/").status_code == 403
    assert admin_client.get(f"{SESSIONS}add/").status_code == 403
    assert Session.objects.get(pk=sid).title == "чистая" and eventstore.head(sid) == head


@pytest.mark.parametrize("page", ["list", "change", "turns"])
def test_only_staff_may_see_transcripts(
    client: Client, django_user_model: Any, recorded: dict[str, Any], page: str
) -> None:
    url = {
        "list": SESSIONS,
        "change": f"{SESSIONS}{recorded['failed']}/change/",
        "turns": "/admin/conversations/transcriptturn/",
    }[page]
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    refused = client.get(url)
    assert refused.status_code == 302 and refused["Location"].startswith("/admin/login/")
    staff = django_user_model.objects.create_user("operator", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403, "staff without the view permission"
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_session", "view_transcriptturn"]))
    assert client.get(url).status_code == 200
    # Audio for non-staff: the artifact endpoint refuses a plain login too.
    sha = recorded["audio"][0]["sha256"]
    client.force_login(django_user_model.objects.get(username="visitor"))
    assert client.get(f"/api/sessions/{recorded['failed']}/artifacts/{sha}").status_code == 403
