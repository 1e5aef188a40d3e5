"""Editing a stored sentence and re-rendering a session: new revisions, nothing overwritten.

Runs the real chain (in-process queues, the offline engines) on SQLite; the services
suite runs the same file on PostgreSQL with Celery workers (marker ``store``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jsonschema
import pytest

from conversations import eventstore, projections, selectors, services
from conversations.domain.schemas import DATA_SCHEMAS
from conversations.domain.validation import InvalidRevision
from conversations.models import StoredEvent, TranscriptRevision, TranscriptSentence
from synthesis import pipeline
from tests.helpers import validate_event, wait_for_turn

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _spoken(text: str = "Привет! Как дела?") -> tuple[uuid.UUID, str]:
    session_id = services.start_session(client="test")
    user = services.receive_user_message(session_id, text, mode="speak")
    wait_for_turn(session_id, user.data["turn_id"])
    return session_id, user.data["turn_id"]


def _stored_rows(session_id: uuid.UUID) -> list[tuple[Any, ...]]:
    return list(
        StoredEvent.objects.filter(session_id=session_id)
        .order_by("seq")
        .values_list("seq", "event_id", "type", "version", "data", "ts")
    )


def _wait_rendered(session_id: uuid.UUID, turn_id: str, index: int, revision: int, timeout: float = 120) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = selectors.turn_events(session_id, turn_id)
        if selectors.sentence_event(events, "MotionPlanned", index, revision) is not None:
            return events
        time.sleep(0.1)
    raise AssertionError(f"revision {revision} of sentence {index} was not rendered in {timeout} s")


def test_edit_appends_a_revision_renders_it_and_changes_nothing_stored() -> None:
    session_id, turn_id = _spoken()
    before = _stored_rows(session_id)
    revised = services.revise_sentence(
        session_id, turn_id, 1, text="Как у вас дела сегодня?", emotion="happy", action="nod", editor="anna",
    )
    assert revised.type == "SentenceRevised" and revised.data["revision"] == 1 and revised.data["based_on"] == 0
    events = _wait_rendered(session_id, turn_id, 1, 1)
    after = _stored_rows(session_id)
    assert after[: len(before)] == before  # earlier events untouched, same positions
    new = [e for e in eventstore.read(session_id) if e.seq > len(before)]
    assert [e.type for e in new][:1] == ["SentenceRevised"]
    assert {e.type for e in new} >= {"SentimentAnalyzed", "SpeechSynthesized", "LipSyncGenerated", "MotionPlanned"}
    for event in new:
        validate_event(event)
        assert event.data.get("revision") == 1, event
    original = selectors.sentence_event(events, "SpeechSynthesized", 1, 0)
    redone = selectors.sentence_event(events, "SpeechSynthesized", 1, 1)
    assert original is not None and redone is not None
    assert redone.data["audio"]["sha256"] != original.data["audio"]["sha256"]  # a new artifact
    assert "сегодня" in redone.data["spoken_text"]
    motion = selectors.sentence_event(events, "MotionPlanned", 1, 1)
    assert motion is not None and motion.data["keyframes"]["emotion"] == "happy"
    # The live turn's own record does not change: still one TurnCompleted, same history.
    assert sum(e.type == "TurnCompleted" for e in events) == 1
    assert selectors.chat_history(session_id, 10**9, 6)[-1] == ("assistant", "Привет! Как дела?")


def test_projection_shows_both_and_rebuilt_equals_live() -> None:
    session_id, turn_id = _spoken()
    services.revise_sentence(session_id, turn_id, 0, text="Здравствуйте!", editor="anna")
    _wait_rendered(session_id, turn_id, 0, 1)
    services.revise_sentence(session_id, turn_id, 0, text="Добрый день!", emotion="sad", editor="boris")
    _wait_rendered(session_id, turn_id, 0, 2)
    sentence = TranscriptSentence.objects.get(turn__turn_id=turn_id, index=0)
    assert sentence.text == "Привет!" and sentence.latest_revision == 2
    rows = list(TranscriptRevision.objects.filter(sentence=sentence).order_by("revision"))
    assert [(r.revision, r.based_on, r.text, r.editor) for r in rows] == [
        (1, 0, "Здравствуйте!", "anna"), (2, 1, "Добрый день!", "boris"),
    ]
    assert all(r.audio_sha256 and r.rendered_at and r.motion_preset for r in rows)
    assert rows[1].chosen_emotion == "sad" and rows[1].audio_sha256 != sentence.audio_sha256
    live = projections.snapshot(session_id)
    projections.rebuild(session_id)
    assert projections.snapshot(session_id) == live


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "а" * 5000}, "text"),
        ({"text": "Да\x00"}, "text"),
        ({"text": b"bytes"}, "text"),
        ({"text": "Да.", "emotion": "angry"}, "emotion"),
        ({"text": "Да.", "action": "../etc"}, "action"),
        ({"text": "Да.", "action": "x" * 65}, "action"),
    ],
)
def test_bad_edits_are_refused_and_store_nothing(fields: dict[str, Any], field: str) -> None:
    session_id, turn_id = _spoken("Да.")
    before = _stored_rows(session_id)
    with pytest.raises(InvalidRevision) as info:
        services.revise_sentence(session_id, turn_id, 0, **fields)
    assert info.value.field == field and info.value.message
    assert _stored_rows(session_id) == before


def test_edit_of_unknown_sentence_or_session_is_refused() -> None:
    session_id, turn_id = _spoken("Да.")
    for turn, index in ((turn_id, 5), ("no-such-turn", 0), (turn_id, -1), (turn_id, True)):
        with pytest.raises(services.NoSuchSentence):
            services.revise_sentence(session_id, turn, index, text="Нет.")
    with pytest.raises(services.NoSuchSentence):
        services.revise_sentence(uuid.uuid4(), turn_id, 0, text="Нет.")


def test_concurrent_edits_get_distinct_revisions() -> None:
    session_id, turn_id = _spoken("Да.")
    # Two editors who both read revision 0: the second must not reuse revision 1.
    first = services.revise_sentence(session_id, turn_id, 0, text="Раз.")
    second = services.revise_sentence(session_id, turn_id, 0, text="Два.")
    assert (first.data["revision"], second.data["revision"]) == (1, 2)
    assert second.data["based_on"] == 1
    _wait_rendered(session_id, turn_id, 0, 2)
    _wait_rendered(session_id, turn_id, 0, 1)


def test_rerender_makes_a_revision_of_every_rendered_sentence_with_progress() -> None:
    session_id, turn_id = _spoken("Раз. Два. Три.")
    services.revise_sentence(session_id, turn_id, 2, text="Три с половиной.", emotion="thinking")
    _wait_rendered(session_id, turn_id, 2, 1)
    requested = services.rerender_session(session_id, requested_by="anna", engines={"tts": "festival"})
    jsonschema.validate(requested.data, DATA_SCHEMAS["SessionRerenderRequested"])
    assert [(s["index"], s["revision"]) for s in requested.data["sentences"]] == [(0, 1), (1, 1), (2, 2)]
    with pytest.raises(services.RerenderInProgress):
        services.rerender_session(session_id)
    render_id = requested.data["render_id"]
    deadline = time.monotonic() + 120
    while not (status := selectors.render_status(session_id, render_id)) or not status.completed:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status.rendered == status.total == 3 and status.percent == 100
    events = selectors.turn_events(session_id, turn_id)
    third = selectors.sentence_event(events, "SentenceRevised", 2, 2)
    assert third is not None and third.data["text"] == "Три с половиной."  # builds on the latest edit
    assert third.data["emotion"] == "thinking" and third.data["reason"] == "rerender"
    completed = eventstore.read(session_id, types=["SessionRerenderCompleted"])
    assert len(completed) == 1 and completed[0].data["sentence_count"] == 3
    # Once finished, another re-render may start.
    again = services.rerender_session(session_id)
    assert [s["revision"] for s in again.data["sentences"]] == [2, 2, 3]


def test_rerender_of_a_session_without_sentences_completes_at_once() -> None:
    session_id = services.start_session()
    requested = services.rerender_session(session_id)
    status = selectors.render_status(session_id, requested.data["render_id"])
    assert status is not None and status.completed and status.total == 0


def test_rerunning_a_revision_stage_appends_nothing() -> None:
    session_id, turn_id = _spoken("Да.")
    services.revise_sentence(session_id, turn_id, 0, text="Конечно.")
    _wait_rendered(session_id, turn_id, 0, 1)
    before = StoredEvent.objects.filter(session_id=session_id).count()
    for stage in (pipeline.analyze_sentiment, pipeline.synthesize_speech, pipeline.generate_lipsync,
                  pipeline.plan_motion):
        stage(str(session_id), turn_id, 0, 0.0, 1)
    assert StoredEvent.objects.filter(session_id=session_id).count() == before


def test_revision_of_an_interrupted_turn_is_rendered() -> None:
    session_id, turn_id = _spoken("Раз. Два.")
    services.interrupt_turn(session_id, turn_id=turn_id, played_index=0, played_ms=100)
    services.revise_sentence(session_id, turn_id, 0, text="Один.")
    events = _wait_rendered(session_id, turn_id, 0, 1)
    interrupted = next(e for e in events if e.type == "TurnInterrupted")
    assert interrupted.data["heard_sentences"] == 0  # what was heard live stays as it was
