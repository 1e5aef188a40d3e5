"""A whole turn end to end in the embedded mode: SQLite, tasks on in-process queues."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conversations import eventstore, projections, selectors, services
from conversations.domain.validation import InvalidMessage
from conversations.models import StoredEvent
from synthesis import pipeline
from tests.helpers import EngineConfig, assert_complete_turn, wait_for_turn

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SCRIPT = "Привет! В 2024 г. я прочитала 15 книг. Хотите, расскажу о них?"


def _speak(text: str = SCRIPT) -> tuple[Any, str, list[eventstore.RecordedEvent]]:
    session_id = services.start_session(client="test")
    user = services.receive_user_message(session_id, text, mode="speak")
    turn_id = user.data["turn_id"]
    return session_id, turn_id, wait_for_turn(session_id, turn_id)


def test_spoken_turn_goes_through_every_stage() -> None:
    session_id, _, events = _speak()
    completed = assert_complete_turn(events)
    sentences = [e.data["text"] for e in events if e.type == "SentenceGenerated"]
    assert sentences == ["Привет!", "В 2024 г. я прочитала 15 книг.", "Хотите, расскажу о них?"]
    spoken = next(e for e in events if e.type == "SpeechSynthesized" and e.data["index"] == 1)
    assert not re.search(r"\d", spoken.data["spoken_text"]), spoken.data["spoken_text"]
    assert "пятнадцать" in spoken.data["spoken_text"]
    assert 0 < completed["timings"]["first_audio_ms"] <= completed["timings"]["total_ms"]
    seqs = [e.seq for e in eventstore.read(session_id)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_transcript_rebuilt_from_the_log_equals_the_live_one() -> None:
    session_id, _, _ = _speak()
    live = projections.snapshot(session_id)
    assert len(live) == 1 and len(live[0]["sentences"]) == 3
    assert all(s["audio_sha256"] and s["emotion"] for s in live[0]["sentences"])
    projections.rebuild(session_id)
    assert projections.snapshot(session_id) == live


def test_rerunning_stages_appends_nothing() -> None:
    session_id, turn_id, _ = _speak("Раз. Два.")
    before = StoredEvent.objects.filter(session_id=session_id).count()
    for index in range(2):
        pipeline.analyze_sentiment(str(session_id), turn_id, index, 0.0)
        pipeline.synthesize_speech(str(session_id), turn_id, index, 0.0)
        pipeline.generate_lipsync(str(session_id), turn_id, index, 0.0)
        pipeline.plan_motion(str(session_id), turn_id, index, 0.0)
    pipeline.generate_reply(str(session_id), turn_id, 0.0, on_sentence=lambda i: None)
    assert StoredEvent.objects.filter(session_id=session_id).count() == before


def test_same_client_message_id_starts_one_turn() -> None:
    session_id = services.start_session()
    a = services.receive_user_message(session_id, "Скажи да.", client_msg_id="m-1", mode="speak")
    b = services.receive_user_message(session_id, "Скажи да.", client_msg_id="m-1", mode="speak")
    assert a == b
    wait_for_turn(session_id, a.data["turn_id"])
    assert len(eventstore.read(session_id, types=["UserMessageReceived"])) == 1
    assert len(eventstore.read(session_id, types=["ReplyGenerated"])) == 1


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("   \n\t  ", "empty"),
        ("а" * 100_000, "too_long"),
        ("Привет\x00мир", "control_characters"),
        ("Привет\x1b[31m", "control_characters"),
        (b"\xd0\x9f", "not_text"),
        (None, "not_text"),
    ],
)
def test_bad_messages_are_refused_and_store_nothing(text: object, code: str) -> None:
    session_id = services.start_session()
    head = eventstore.head(session_id)
    with pytest.raises(InvalidMessage) as info:
        services.receive_user_message(session_id, text)
    assert info.value.code == code and info.value.message
    assert eventstore.head(session_id) == head


def test_message_to_unknown_session_is_refused() -> None:
    import uuid

    with pytest.raises(eventstore.SessionNotFound):
        services.receive_user_message(uuid.uuid4(), "Привет!")


def test_failed_tts_degrades_to_a_text_only_sentence(engine_config: EngineConfig) -> None:
    engine_config["tts"] = {
        "engine": "festival", "fallbacks": [], "timeout_s": 30,
        "options": {"festival_path": "/nonexistent/festival"},
    }
    engine_config.apply()
    _, _, events = _speak("Это предложение останется без звука.")
    types = [e.type for e in events]
    assert "SpeechSynthesized" not in types and "LipSyncGenerated" not in types
    failed = [e.data for e in events if e.type == "StageFailed"]
    assert [(f["stage"], f["engine"], f["fallback"]) for f in failed] == [("tts", "festival", "text-only")]
    assert "MotionPlanned" in types and types[-1] == "TurnCompleted"


def test_unavailable_tts_falls_back_to_the_next_engine(engine_config: EngineConfig) -> None:
    engine_config["tts"] = {
        "engine": "festival", "fallbacks": ["espeak-ng"], "timeout_s": 30,
        "options": {"festival_path": "/nonexistent/festival"},
    }
    engine_config.apply()
    _, _, events = _speak("Запасной голос тоже умеет говорить.")
    failed = next(e.data for e in events if e.type == "StageFailed")
    assert (failed["stage"], failed["engine"], failed["fallback"]) == ("tts", "festival", "espeak-ng")
    assert failed["error"].startswith("unavailable:")
    speech = next(e.data for e in events if e.type == "SpeechSynthesized")
    assert speech["engine"] == "espeak-ng"
    assert_complete_turn(events, allow_failures=True)


def test_tts_stage_timeout_is_recorded_for_each_engine(engine_config: EngineConfig) -> None:
    engine_config["tts"] = {"engine": "festival", "fallbacks": ["espeak-ng"], "timeout_s": 0.001}
    engine_config.apply()
    _, _, events = _speak("Этот голос не успеет ничего сказать за одну миллисекунду.")
    failed = [e.data for e in events if e.type == "StageFailed"]
    assert [(f["engine"], f["fallback"]) for f in failed] == [("festival", "espeak-ng"), ("espeak-ng", "text-only")]
    assert all(f["stage"] == "tts" and "Timeout" in f["error"] for f in failed)
    assert "SpeechSynthesized" not in [e.type for e in events]
    assert events[-1].type == "TurnCompleted"


@pytest.mark.model
def test_llm_turn_answers_in_russian_with_history() -> None:
    session_id = services.start_session()
    first = services.receive_user_message(session_id, "Привет! Меня зовут Аня. Как дела?")
    events = wait_for_turn(session_id, first.data["turn_id"])
    assert_complete_turn(events)
    reply = " ".join(e.data["text"] for e in events if e.type == "SentenceGenerated")
    assert re.search(r"[а-яё]{3,}", reply.lower()), reply
    second = services.receive_user_message(session_id, "Как меня зовут?")
    history = selectors.chat_history(session_id, second.seq, max_turns=6)
    assert history[0] == ("user", "Привет! Меня зовут Аня. Как дела?")
    assert history[1] == ("assistant", reply)
    assert_complete_turn(wait_for_turn(session_id, second.data["turn_id"]))


def test_a_gesture_tag_is_played_and_never_spoken() -> None:
    _, _, events = _speak("[жест: помахать] Привет! [эмоция: грусть] Мне жаль, что ты уходишь.")
    assert_complete_turn(events)
    sentences = [e.data for e in events if e.type == "SentenceGenerated"]
    assert [(s["text"], s["action"], s["emotion"]) for s in sentences] == [
        ("Привет!", "wave", None), ("Мне жаль, что ты уходишь.", None, "sad"),
    ]
    spoken = " ".join(e.data["spoken_text"] for e in events if e.type == "SpeechSynthesized")
    assert "жест" not in spoken and "[" not in spoken
    motion = {e.data["index"]: e.data for e in events if e.type == "MotionPlanned"}
    assert any(layer["preset"] == "wave" for layer in motion[0]["layers"])
    assert motion[1]["preset"] == "sad_gesture"
