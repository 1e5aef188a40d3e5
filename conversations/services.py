"""Writes to sessions: the use cases the CLI, the HTTP API and the WebSocket call."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db import transaction

from . import eventstore
from .domain.events import SessionStarted, UserMessageReceived, derived_event_id
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
