"""Interrupting a turn: what was heard is recorded, the rest is cancelled."""

from __future__ import annotations

import uuid

import pytest

from conversations import eventstore, selectors, services
from conversations.domain.events import (
    DomainEvent,
    SentenceGenerated,
    SpeechSynthesized,
    TurnCompleted,
    UserMessageReceived,
)
from conversations.domain.heard import cut_text, heard_text
from synthesis import pipeline
from tests.helpers import validate_event

SENTENCES = ["Сегодня хорошая погода.", "Можно пойти гулять в парк и кормить уток.", "Или остаться дома."]


def test_cut_text_counts_a_word_once_its_middle_was_spoken() -> None:
    text = "раз два три четыре"
    assert cut_text(text, 0) == ""
    assert cut_text(text, 1) == text
    assert cut_text(text, 0.5) == "раз два"
    assert cut_text(text, 0.05) == ""
    assert cut_text(text, 0.1) == "раз"


def test_heard_text_without_a_position_is_nothing() -> None:
    assert heard_text(SENTENCES, [1000, 2000, 800], None, None) == (0, "")
    assert heard_text(SENTENCES, [1000, 2000, 800], 1, None) == (1, SENTENCES[0])
    full, text = heard_text(SENTENCES, [1000, 2000, 800], 1, 1000)
    assert full == 1 and text.startswith(SENTENCES[0] + " Можно пойти")
    assert not text.endswith("уток.")
    assert heard_text(SENTENCES, [1000, 2000, 800], 7, 0) == (3, " ".join(SENTENCES))


def _turn_in_progress(session_id: uuid.UUID, spoken: int) -> str:
    """A turn whose LLM produced three sentences and the first ``spoken`` got audio."""
    turn = str(uuid.uuid4())
    events: list[DomainEvent] = [UserMessageReceived(turn_id=turn, text="Что будем делать?")]
    events += [SentenceGenerated(turn_id=turn, index=i, text=t) for i, t in enumerate(SENTENCES)]
    audio = {"sha256": "0" * 64, "name": "x.wav", "content_type": "audio/wav", "size": 1}
    events += [
        SpeechSynthesized(turn_id=turn, index=i, audio=audio, duration_ms=2000, sample_rate=16000,
                          engine="festival", voice="v", spoken_text=SENTENCES[i])
        for i in range(spoken)
    ]
    eventstore.append_retrying(session_id, events)
    return turn


@pytest.mark.django_db
def test_interrupt_records_what_was_heard_and_cancels_the_rest() -> None:
    session_id = services.start_session()
    turn = _turn_in_progress(session_id, spoken=2)
    assert selectors.active_turn(session_id) == turn
    event = services.interrupt_turn(session_id, played_index=1, played_ms=1000)
    validate_event(event)
    assert event.data["heard_sentences"] == 1 and event.data["partial_index"] == 1
    assert event.data["heard_text"].startswith(SENTENCES[0] + " Можно")
    assert selectors.active_turn(session_id) is None
    head = eventstore.head(session_id)
    # Pending stages of the interrupted turn do nothing, the LLM reply closes as interrupted.
    pipeline.synthesize_speech(str(session_id), turn, 2, 0.0)
    pipeline.plan_motion(str(session_id), turn, 0, 0.0)
    pipeline.generate_reply(str(session_id), turn, 0.0, on_sentence=lambda i: None)
    after = eventstore.read(session_id, after_seq=head)
    assert [(e.type, e.data["finish_reason"]) for e in after] == [("ReplyGenerated", "interrupted")]
    # The next turn's history holds only what was heard.
    nxt = eventstore.append_retrying(session_id, [UserMessageReceived(turn_id="next", text="А потом?")])[0]
    history = selectors.chat_history(session_id, nxt.seq, max_turns=6)
    assert history == [("user", "Что будем делать?"), ("assistant", event.data["heard_text"])]


@pytest.mark.django_db
def test_interrupting_twice_returns_the_first_interruption() -> None:
    session_id = services.start_session()
    turn = _turn_in_progress(session_id, spoken=1)
    first = services.interrupt_turn(session_id, turn_id=turn, played_index=0, played_ms=500)
    again = services.interrupt_turn(session_id, turn_id=turn, played_index=2, played_ms=0)
    assert again == first


@pytest.mark.django_db
def test_a_completed_turn_can_be_interrupted_while_its_audio_plays() -> None:
    session_id = services.start_session()
    turn = _turn_in_progress(session_id, spoken=2)
    eventstore.append_retrying(session_id, [TurnCompleted(turn_id=turn, sentence_count=3, timings={"stages": {}})])
    assert selectors.active_turn(session_id) is None  # generation is done...
    event = services.interrupt_turn(session_id, played_index=0, played_ms=2000)  # ...playback is not
    assert event.data["heard_text"] == SENTENCES[0]
    nxt = eventstore.append_retrying(session_id, [UserMessageReceived(turn_id="next", text="Ещё?")])[0]
    assert selectors.chat_history(session_id, nxt.seq, max_turns=6)[-1] == ("assistant", SENTENCES[0])
    with pytest.raises(services.NoActiveTurn):  # an earlier turn is no longer playing
        services.interrupt_turn(session_id, turn_id=turn + "-other")


@pytest.mark.django_db
def test_nothing_to_interrupt() -> None:
    session_id = services.start_session()
    with pytest.raises(services.NoActiveTurn):
        services.interrupt_turn(session_id)
    with pytest.raises(services.NoActiveTurn):
        services.interrupt_turn(session_id, turn_id="no-such-turn")


@pytest.mark.django_db
@pytest.mark.parametrize(("index", "ms"), [(-1, 0), (True, 0), ("1", 0), (0, -5), (0, 1.5)])
def test_bad_playback_positions_are_refused(index: object, ms: object) -> None:
    session_id = services.start_session()
    _turn_in_progress(session_id, spoken=1)
    head = eventstore.head(session_id)
    with pytest.raises(ValueError):
        services.interrupt_turn(session_id, played_index=index, played_ms=ms)
    assert eventstore.head(session_id) == head
