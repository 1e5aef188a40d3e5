"""Reads of sessions: what the chain, the CLI and the views need from the log."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from . import eventstore
from .domain.events import REVISION_EVENTS
from .eventstore import RecordedEvent
from .models import StoredEvent


def turn_events(session_id: uuid.UUID | str, turn_id: str) -> list[RecordedEvent]:
    """Every event of one turn, in log order (the user message included)."""
    rows = StoredEvent.objects.filter(session_id=session_id, data__turn_id=str(turn_id)).order_by("seq")
    return [eventstore._to_recorded(r) for r in rows]


def sentence_events(
    session_id: uuid.UUID | str, turn_id: str, indexes: Iterable[int]
) -> list[RecordedEvent]:
    """The events of some sentences of a turn (every revision), and whether the turn was
    interrupted: what one sentence's stage needs, without decoding the whole turn (a
    turn's log grows with each revision, and motion keyframes are large)."""
    rows = (
        StoredEvent.objects.filter(session_id=session_id, data__turn_id=str(turn_id))
        .filter(Q(data__index__in=list(indexes)) | Q(type="TurnInterrupted"))
        .order_by("seq")
    )
    return [eventstore._to_recorded(r) for r in rows]


def user_message(session_id: uuid.UUID | str, turn_id: str) -> RecordedEvent:
    for event in turn_events(session_id, turn_id):
        if event.type == "UserMessageReceived":
            return event
    raise eventstore.EventStoreError(f"turn {turn_id} has no user message in session {session_id}")


def sentence_event(
    events: list[RecordedEvent], event_type: str, index: int, revision: int = 0
) -> RecordedEvent | None:
    """The event of ``event_type`` for one sentence, for one revision of it (0: as generated)."""
    for event in events:
        if (
            event.type == event_type
            and event.data.get("index") == index
            and event.data.get("revision", 0) == revision
        ):
            return event
    return None


def original(events: list[RecordedEvent]) -> list[RecordedEvent]:
    """The events of the conversation as it happened: without later revisions and re-renders."""
    return [e for e in events if not e.data.get("revision") and e.type not in REVISION_EVENTS]


def latest_revision(events: list[RecordedEvent], index: int) -> int:
    """The newest revision number of one sentence of a turn (0 when never revised)."""
    return max(
        (int(e.data["revision"]) for e in events if e.type == "SentenceRevised" and e.data["index"] == index),
        default=0,
    )


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


@dataclass(frozen=True)
class RenderStatus:
    """Progress of one whole-session re-render, derived from the log."""

    render_id: str
    requested_by: str
    requested_at: datetime
    total: int  # sentence revisions it renders
    rendered: int  # of them, those with their motion planned (the chain's last stage)
    failures: int  # StageFailed events while rendering them
    completed: bool
    engines: dict[str, str]

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.rendered / self.total)


def _rendered_keys(session_id: uuid.UUID | str) -> tuple[set[tuple[str, int, int]], dict[tuple[str, int, int], int]]:
    """(turn, index, revision) of every revision with its motion planned, and failures per revision.

    Only the keys are read, not the events: motion keyframes are large and a session's
    log grows with every re-render.
    """
    rows = StoredEvent.objects.filter(session_id=session_id, type__in=("MotionPlanned", "StageFailed")).values_list(
        "type", "data__turn_id", "data__index", "data__revision"
    )
    planned: set[tuple[str, int, int]] = set()
    failed: dict[tuple[str, int, int], int] = defaultdict(int)
    for event_type, turn_id, index, revision in rows:
        if not revision or turn_id is None:  # revision 0 (or stored before revisions): the live turn's
            continue
        key = (str(turn_id), int(index), int(revision))
        if event_type == "MotionPlanned":
            planned.add(key)
        else:
            failed[key] += 1
    return planned, failed


def render_statuses(session_id: uuid.UUID | str) -> list[RenderStatus]:
    """Every re-render of the session, oldest first, with its progress."""
    events = eventstore.read(session_id, types=("SessionRerenderRequested", "SessionRerenderCompleted"))
    completed = {e.data["render_id"] for e in events if e.type == "SessionRerenderCompleted"}
    planned, failed = _rendered_keys(session_id)
    statuses = []
    for e in events:
        if e.type != "SessionRerenderRequested":
            continue
        keys = [(s["turn_id"], s["index"], s["revision"]) for s in e.data["sentences"]]
        statuses.append(RenderStatus(
            render_id=e.data["render_id"], requested_by=e.data["requested_by"], requested_at=e.ts,
            total=len(keys), rendered=sum(k in planned for k in keys), failures=sum(failed[k] for k in keys),
            completed=e.data["render_id"] in completed, engines=dict(e.data.get("engines") or {}),
        ))
    return statuses


def render_status(session_id: uuid.UUID | str, render_id: str) -> RenderStatus | None:
    return next((s for s in render_statuses(session_id) if s.render_id == render_id), None)


def rerender_in_progress(session_id: uuid.UUID | str) -> RenderStatus | None:
    return next((s for s in render_statuses(session_id) if not s.completed), None)
