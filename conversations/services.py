"""Writes to sessions: the use cases the CLI, the HTTP API and the WebSocket call."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db import transaction

from . import eventstore, selectors
from .domain.events import SessionStarted, TurnInterrupted, UserMessageReceived, derived_event_id
from .domain.heard import heard_text
from .domain.validation import clean_user_text
from .eventstore import RecordedEvent

# Set by the synthesis app: starts the reply for a stored user message.
_turn_starters: list[Callable[[RecordedEvent], None]] = []


def on_user_message(starter: Callable[[RecordedEvent], None]) -> None:
    if starter not in _turn_starters:
        _turn_starters.append(starter)


def start_session(title: str = "", client: str = "", session_id: uuid.UUID | None = None) -> uuid.UUID:
    with transaction.atomic():
        sid = eventstore.create_session(session_id, title=title)
        event = SessionStarted(event_id=derived_event_id(sid, "started"), title=title, client=client)
        eventstore.append(sid, [event], expected_seq=0)
    return sid


def receive_user_message(
    session_id: uuid.UUID | str,
    text: object,
    client_msg_id: str | None = None,
    mode: str = "llm",
) -> RecordedEvent:
    """Store a user message and start the assistant's turn after commit.

    Invalid text raises ``InvalidMessage`` and stores nothing. A retry with the same
    ``client_msg_id`` returns the stored event and starts nothing twice.
    """
    if mode not in ("llm", "speak"):
        raise ValueError(f"unknown mode {mode!r}")
    cleaned = clean_user_text(text)
    if client_msg_id is not None:
        client_msg_id = str(client_msg_id)[:100]
        event_id = derived_event_id(session_id, "user-message", client_msg_id)
    else:
        event_id = uuid.uuid4()
    event = UserMessageReceived(
        event_id=event_id,
        turn_id=str(uuid.uuid5(event_id, "turn")),
        text=cleaned,
        client_msg_id=client_msg_id,
        mode=mode,
    )
    with transaction.atomic():
        already = eventstore.read_event(event_id)
        (recorded,) = eventstore.append_retrying(session_id, [event])
        if already is None:
            for starter in _turn_starters:
                transaction.on_commit(lambda s=starter: s(recorded))  # type: ignore[misc]
    return recorded


class NoActiveTurn(Exception):
    """There is no unfinished turn (with that id) to interrupt."""


def _valid_position(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return value


def interrupt_turn(
    session_id: uuid.UUID | str,
    *,
    turn_id: str | None = None,
    played_index: object = None,
    played_ms: object = None,
) -> RecordedEvent:
    """Stop the latest turn and record what the user actually heard.

    Sentence stages of the turn that have not run yet are skipped, the LLM stops at
    its next sentence, and the next turn's history holds only the heard text. A turn
    whose generation already completed can still be interrupted while its audio
    plays (playback runs behind generation), as long as it is the latest turn.
    Interrupting the same turn twice returns the first ``TurnInterrupted``.
    """
    index = _valid_position("played_index", played_index)
    ms = _valid_position("played_ms", played_ms)
    latest = selectors.latest_turn(session_id)
    if turn_id is not None and turn_id != latest:
        events = selectors.turn_events(session_id, turn_id)
        done = next((e for e in events if e.type == "TurnInterrupted"), None)
        if done is not None:
            return done
        raise NoActiveTurn(f"turn {turn_id} is not the latest turn of the session")
    if latest is None:
        raise NoActiveTurn("there is no turn to interrupt")
    events = selectors.turn_events(session_id, latest)
    done = next((e for e in events if e.type == "TurnInterrupted"), None)
    if done is not None:
        if turn_id is None:  # a bare interrupt after the turn was stopped: nothing playing
            raise NoActiveTurn("the latest turn was already interrupted")
        return done
    turn_id = latest
    sentences = sorted((e.data["index"], e.data["text"]) for e in events if e.type == "SentenceGenerated")
    durations = {e.data["index"]: e.data["duration_ms"] for e in events if e.type == "SpeechSynthesized"}
    full, text = heard_text(
        [t for _, t in sentences], [durations.get(i) for i, _ in sentences], index, ms
    )
    event = TurnInterrupted(
        event_id=derived_event_id(session_id, turn_id, "interrupted"),
        turn_id=turn_id,
        heard_sentences=full,
        partial_index=index if index is not None and index < len(sentences) and ms else None,
        partial_ms=ms if index is not None and index < len(sentences) and ms else None,
        heard_text=text,
    )
    (recorded,) = eventstore.append_retrying(session_id, [event])
    return recorded
