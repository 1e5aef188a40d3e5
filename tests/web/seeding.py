"""Data for the browser tests, written into the live daphne's own AVATAR_HOME.

The daphne under test has its own database and media folder, so these functions run in a
``manage.py shell`` with that home (``Daphne.call`` in conftest) and print JSON. They write
through the real services and event store: synthetic turns whose sentences have a tone for
audio, cues and a planned motion (no engines run), sentence revisions, and GLB avatars.
"""

from __future__ import annotations

import io
import json
import math
import time
import uuid
import wave
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from animation import services as animation_services
from animation.models import Avatar, VisemeMapping
from animation.motion import PresetMotionGenerator
from conversations import eventstore, services
from conversations.domain.events import (
    DomainEvent,
    LipSyncGenerated,
    MotionPlanned,
    ReplyGenerated,
    SentenceGenerated,
    SentenceRevised,
    SentimentAnalyzed,
    SpeechSynthesized,
    TurnCompleted,
    UserMessageReceived,
)
from synthesis import artifacts

SAMPLE_RATE = 16000
CUE_S = 0.12  # one mouth shape this long, cycling through open shapes
KEYFRAME_KEYS = ("duration", "fps", "interpolation", "tracks", "idle_phase_end", "emotion", "action")  # as the pipeline


def emit(value: Any) -> None:
    """What the test reads back: one JSON line on stdout."""
    print(json.dumps(value, ensure_ascii=False))


def tone_wav(seconds: float, hz: float) -> bytes:
    """A mono 16-bit WAV of a soft tone: audible length, nothing to decode but PCM."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    samples = (0.3 * np.sin(2 * math.pi * hz * t) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.tobytes())
    return buffer.getvalue()


def mouth_cues(seconds: float) -> list[dict[str, Any]]:
    """Cues that keep the mouth moving over the whole sentence, closing at the end."""
    cues: list[dict[str, Any]] = []
    start, shapes = 0.0, "BCDEFC"
    while start < seconds - 1e-6:
        end = min(seconds, start + CUE_S)
        cues.append({"start": round(start, 3), "end": round(end, 3), "shape": shapes[len(cues) % len(shapes)]})
        start = end
    cues[-1]["shape"] = "X"
    return cues


def _append(session_id: str, events: list[DomainEvent]) -> None:
    eventstore.append(session_id, events, expected_seq=None)


def rendered(turn_id: str, index: int, seconds: float, hz: float, revision: int = 0) -> list[DomainEvent]:
    """A sentence's stage events (sentiment, speech, lip-sync, motion) for one revision."""
    audio = artifacts.store(tone_wav(seconds, hz), "audio", "audio/wav", "wav")
    plan = PresetMotionGenerator().plan("happy", None, seconds).to_dict()
    keyframes = {k: plan[k] for k in KEYFRAME_KEYS}
    return [
        SentimentAnalyzed(turn_id=turn_id, index=index, label="happy", scores={"happy": 1.0}, engine="test",
                          revision=revision),
        SpeechSynthesized(turn_id=turn_id, index=index, audio=audio, duration_ms=round(seconds * 1000),
                          sample_rate=SAMPLE_RATE, engine="test", voice="tone", spoken_text=f"{hz} Hz",
                          revision=revision),
        LipSyncGenerated(turn_id=turn_id, index=index, cues=mouth_cues(seconds), generator="test", revision=revision),
        MotionPlanned(turn_id=turn_id, index=index, preset=plan["preset"], preset_version=plan["version"] or 0,
                      keyframes=keyframes, engine="test", revision=revision),
    ]


def start_turn(session_id: str, text: str) -> str:
    """The user's message of a new turn (no pipeline starts: the test supplies the reply)."""
    turn_id = str(uuid.uuid4())
    _append(session_id, [UserMessageReceived(turn_id=turn_id, text=text, mode="speak")])
    return turn_id


def reply(session_id: str, turn_id: str, sentences: list[str], *, seconds: float = 1.0, pause_s: float = 0.0) -> None:
    """Every sentence of the reply, rendered, then the end of the turn; `pause_s` between sentences."""
    for index, text in enumerate(sentences):
        time.sleep(pause_s)
        _append(session_id, [SentenceGenerated(turn_id=turn_id, index=index, text=text)])
        _append(session_id, rendered(turn_id, index, seconds, 220.0 + 40 * index))
    _append(session_id, [
        ReplyGenerated(turn_id=turn_id, sentence_count=len(sentences), engine="test", finish_reason="speak"),
        TurnCompleted(turn_id=turn_id, sentence_count=len(sentences), timings={"stages": {}}),
    ])


def session(title: str, replies: list[list[str]], open_question: str | None = None) -> None:
    """A session of whole turns (one reply each) and, if `open_question`, a last turn still waiting for its reply."""
    session_id = str(services.start_session(title=title, client="test"))
    turns = []
    for number, sentences in enumerate(replies, 1):
        turns.append(start_turn(session_id, f"Вопрос {number}"))
        reply(session_id, turns[-1], sentences)
        time.sleep(0.5)
    if open_question is not None:
        turns.append(start_turn(session_id, open_question))
    emit({"session": session_id, "turns": turns})


def finish_turn(session_id: str, turn_id: str, sentences: list[str], pause_s: float) -> None:
    """The reply of a waiting turn, one sentence every `pause_s` seconds, as a live pipeline would store it."""
    reply(session_id, turn_id, sentences, pause_s=pause_s)
    emit({"done": True})


def create_staff(username: str, password: str) -> None:
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = True
    user.set_password(password)
    user.save()
    emit({"username": username})


def create_editor(username: str, password: str) -> None:
    """A staff user who may look at sessions and edit/re-render them (not a superuser)."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = True
    user.set_password(password)
    user.save()
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="conversations", codename__in=["view_session", "revise_session"]
    ))
    emit({"username": username})


def revise(session_id: str, turn_id: str, index: int, text: str, *, seconds: float, complete: bool = True) -> None:
    """A staff edit of one sentence (the next revision), rendered unless `complete` is False."""
    revision = 1 + sum(
        1 for e in eventstore.read(session_id)
        if e.type == "SentenceRevised" and e.data["turn_id"] == turn_id and e.data["index"] == index
    )
    edit = SentenceRevised(turn_id=turn_id, index=index, revision=revision, based_on=revision - 1, text=text,
                           editor="tester")
    stages = rendered(turn_id, index, seconds, 660.0, revision)
    _append(session_id, [edit, *(stages if complete else stages[:2])])
    emit({"revision": revision})


def install_avatar(glb_path: str, name: str, mapping: dict[str, dict[str, float]] | None) -> None:
    """Upload a GLB avatar (with its own viseme mapping, if given) and make it the default."""
    table = None
    if mapping is not None:
        table, _ = VisemeMapping.objects.update_or_create(name=f"test-{name}", defaults={"mapping": mapping})
    avatar = animation_services.upload_avatar(
        name=name, content=Path(glb_path).read_bytes(), filename=Path(glb_path).name, viseme_mapping=table
    )
    animation_services.make_default_avatar(avatar)
    emit({"id": avatar.pk, "standard": avatar.standard})


def use_builtin_avatar() -> None:
    """Back to the built-in avatar (other tests of the same daphne expect it)."""
    animation_services.make_default_avatar(None)
    emit({"avatars": Avatar.objects.count()})
