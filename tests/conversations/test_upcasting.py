"""Old stored event versions are read as the current version."""

from __future__ import annotations

import uuid

import jsonschema
import pytest

from conversations import eventstore
from conversations.domain.events import EVENT_TYPES, SentimentAnalyzed
from conversations.domain.schemas import DATA_SCHEMAS
from conversations.domain.upcasting import upcast
from conversations.models import StoredEvent

pytestmark = pytest.mark.store

# Exactly what version 1 of SentimentAnalyzed stored (one label and its score).
STORED_V1 = {"turn_id": "t1", "index": 0, "label": "happy", "score": 0.7, "timing": {}}


def test_v1_sentiment_upcasts_to_the_current_version() -> None:
    version, data = upcast("SentimentAnalyzed", 1, dict(STORED_V1))
    assert version == SentimentAnalyzed.VERSION == 3
    assert data["revision"] == 0
    assert data["label"] == "happy" and data["engine"] == "unknown"
    assert data["scores"]["happy"] == pytest.approx(0.7)
    assert sum(data["scores"].values()) == pytest.approx(1.0)
    assert "score" not in data


def test_newer_version_than_code_is_refused() -> None:
    with pytest.raises(ValueError, match="newer"):
        upcast("SentimentAnalyzed", 4, dict(STORED_V1))


@pytest.mark.django_db
def test_stored_v1_event_is_read_back_as_the_current_version() -> None:
    session_id = eventstore.create_session()
    StoredEvent.objects.create(
        session_id=session_id, seq=1, event_id=uuid.uuid4(), type="SentimentAnalyzed",
        version=1, data=STORED_V1,
    )
    (event,) = eventstore.read(session_id)
    assert event.version == 3
    domain = event.to_domain()
    assert isinstance(domain, SentimentAnalyzed)
    assert domain.label == "happy" and domain.scores["happy"] == pytest.approx(0.7)
    # The stored row itself is never rewritten.
    assert StoredEvent.objects.get(session_id=session_id).version == 1


def test_v1_sentence_upcasts_to_v2_without_an_emotion() -> None:
    version, data = upcast("SentenceGenerated", 1, {"turn_id": "t", "index": 0, "text": "Да.", "action": None})
    assert version == 2 and data["emotion"] is None and data["text"] == "Да."


_ART = {"sha256": "0" * 64, "name": "audio/00/x.wav", "content_type": "audio/wav", "size": 44}
# Data exactly as the versions before revisions stored it (one of each stage event).
STORED_BEFORE_REVISIONS = {
    ("SentimentAnalyzed", 2): {
        "turn_id": "t1", "index": 0, "label": "sad", "scores": {"sad": 0.9, "happy": 0.1},
        "engine": "rules", "timing": {"compute_ms": 1.0},
    },
    ("SpeechSynthesized", 1): {
        "turn_id": "t1", "index": 0, "audio": _ART, "duration_ms": 900, "sample_rate": 16000,
        "engine": "festival", "voice": "ru", "spoken_text": "да", "phones": None, "phone_set": None,
        "timing": {},
    },
    ("LipSyncGenerated", 1): {
        "turn_id": "t1", "index": 0, "cues": [{"start": 0.0, "end": 0.5, "shape": "X"}],
        "generator": "phonemes", "cues_artifact": None, "timing": {},
    },
    ("MotionPlanned", 1): {
        "turn_id": "t1", "index": 0, "preset": "idle", "preset_version": 1,
        "keyframes": {"duration": 1.0, "tracks": []}, "layers": [], "engine": "presets",
        "keyframes_artifact": None, "timing": {},
    },
    ("StageFailed", 1): {
        "stage": "tts", "error": "boom", "fallback": "espeak-ng", "engine": "festival",
        "turn_id": "t1", "index": 0,
    },
}


@pytest.mark.django_db
@pytest.mark.parametrize(("event_type", "version"), sorted(STORED_BEFORE_REVISIONS))
def test_events_stored_before_revisions_read_as_revision_zero(event_type: str, version: int) -> None:
    session_id = eventstore.create_session()
    stored = STORED_BEFORE_REVISIONS[(event_type, version)]
    StoredEvent.objects.create(
        session_id=session_id, seq=1, event_id=uuid.uuid4(), type=event_type, version=version, data=stored,
    )
    (event,) = eventstore.read(session_id)
    assert event.version == EVENT_TYPES[event_type].VERSION
    assert event.data == {**stored, "revision": 0}
    jsonschema.validate(event.data, DATA_SCHEMAS[event_type])
    assert event.to_domain().revision == 0  # type: ignore[attr-defined]
    assert StoredEvent.objects.get(session_id=session_id).data == stored  # never rewritten
