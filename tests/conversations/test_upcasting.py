"""Old stored event versions are read as the current version."""

from __future__ import annotations

import uuid

import pytest

from conversations import eventstore
from conversations.domain.events import SentimentAnalyzed
from conversations.domain.upcasting import upcast
from conversations.models import StoredEvent

pytestmark = pytest.mark.store

# Exactly what version 1 of SentimentAnalyzed stored (one label and its score).
STORED_V1 = {"turn_id": "t1", "index": 0, "label": "happy", "score": 0.7, "timing": {}}


def test_v1_sentiment_upcasts_to_v2() -> None:
    version, data = upcast("SentimentAnalyzed", 1, dict(STORED_V1))
    assert version == 2
    assert data["label"] == "happy" and data["engine"] == "unknown"
    assert data["scores"]["happy"] == pytest.approx(0.7)
    assert sum(data["scores"].values()) == pytest.approx(1.0)
    assert "score" not in data


def test_newer_version_than_code_is_refused() -> None:
    with pytest.raises(ValueError, match="newer"):
        upcast("SentimentAnalyzed", 3, dict(STORED_V1))


@pytest.mark.django_db
def test_stored_v1_event_is_read_back_as_v2() -> None:
    session_id = eventstore.create_session()
    StoredEvent.objects.create(
        session_id=session_id, seq=1, event_id=uuid.uuid4(), type="SentimentAnalyzed",
        version=1, data=STORED_V1,
    )
    (event,) = eventstore.read(session_id)
    assert event.version == 2
    domain = event.to_domain()
    assert isinstance(domain, SentimentAnalyzed)
    assert domain.label == "happy" and domain.scores["happy"] == pytest.approx(0.7)
    # The stored row itself is never rewritten.
    assert StoredEvent.objects.get(session_id=session_id).version == 1


def test_v1_sentence_upcasts_to_v2_without_an_emotion() -> None:
    version, data = upcast("SentenceGenerated", 1, {"turn_id": "t", "index": 0, "text": "Да.", "action": None})
    assert version == 2 and data["emotion"] is None and data["text"] == "Да."
