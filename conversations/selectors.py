"""Reads of sessions: what the chain, the CLI and the views need from the log."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from . import eventstore
from .eventstore import RecordedEvent
from .models import StoredEvent


def turn_events(session_id: uuid.UUID | str, turn_id: str) -> list[RecordedEvent]:
    """Every event of one turn, in log order (the user message included)."""
    rows = StoredEvent.objects.filter(session_id=session_id, data__turn_id=str(turn_id)).order_by("seq")
    return [eventstore._to_recorded(r) for r in rows]


def user_message(session_id: uuid.UUID | str, turn_id: str) -> RecordedEvent:
    for event in turn_events(session_id, turn_id):
        if event.type == "UserMessageReceived":
            return event
    raise eventstore.EventStoreError(f"turn {turn_id} has no user message in session {session_id}")


def sentence_event(
    events: list[RecordedEvent], event_type: str, index: int
) -> RecordedEvent | None:
    for event in events:
        if event.type == event_type and event.data.get("index") == index:
            return event
    return None


def latest_turn(session_id: uuid.UUID | str) -> str | None:
    """The id of the session's latest turn (the one a listener may still be hearing)."""
    last = (
        StoredEvent.objects.filter(session_id=session_id, type="UserMessageReceived").order_by("-seq").first()
    )
    return None if last is None else str(last.data["turn_id"])


def active_turn(session_id: uuid.UUID | str) -> str | None:
    """The id of the session's latest turn if it has not ended yet."""
    turn_id = latest_turn(session_id)
    if turn_id is None:
        return None
    ended = StoredEvent.objects.filter(
        session_id=session_id, type__in=("TurnCompleted", "TurnInterrupted"), data__turn_id=turn_id
    ).exists()
    return None if ended else turn_id


def is_interrupted(events: list[RecordedEvent]) -> bool:
    return any(e.type == "TurnInterrupted" for e in events)


def chat_history(
    session_id: uuid.UUID | str, before_seq: int, max_turns: int
) -> list[tuple[str, str]]:
    """(role, text) pairs of the last ``max_turns`` turns that started before ``before_seq``.

    The assistant's side is the sentences it generated, in index order; for an
    interrupted turn, only what the user heard.
    """
    turns: dict[str, dict[str, Any]] = {}
    sentences: dict[str, dict[int, str]] = defaultdict(dict)
    for event in eventstore.read(
        session_id, types=("UserMessageReceived", "SentenceGenerated", "TurnInterrupted")
    ):
        if event.seq >= before_seq and event.type == "UserMessageReceived":
            break
        turn_id = event.data["turn_id"]
        if event.type == "UserMessageReceived":
            turns[turn_id] = {"user": event.data["text"]}
        elif event.type == "TurnInterrupted" and turn_id in turns:
            turns[turn_id]["heard"] = event.data["heard_text"]
        elif turn_id in turns:
            sentences[turn_id][event.data["index"]] = event.data["text"]
    history: list[tuple[str, str]] = []
    for turn_id in list(turns)[-max_turns:]:
        history.append(("user", turns[turn_id]["user"]))
        said = turns[turn_id].get("heard")
        if said is None:
            said = " ".join(text for _, text in sorted(sentences[turn_id].items()))
        if said:
            history.append(("assistant", said))
    return history
