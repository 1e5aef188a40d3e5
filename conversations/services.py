"""Writes to sessions: the use cases the CLI, the HTTP API and the WebSocket call."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import NamedTuple

from django.db import transaction

from . import eventstore, selectors
from .domain.events import (
    DomainEvent,
    SentenceRevised,
    SessionRerenderCompleted,
    SessionRerenderRequested,
    SessionStarted,
    TurnInterrupted,
    UserMessageReceived,
    derived_event_id,
)
from .domain.heard import heard_text
from .domain.validation import clean_revision, clean_user_text
from .eventstore import RecordedEvent

# Set by the synthesis app: starts the reply for a stored user message.
_turn_starters: list[Callable[[RecordedEvent], None]] = []
# Set by the synthesis app: renders a stored sentence revision (sentiment, TTS, lip-sync, motion).
_revision_renderers: list[Callable[[RecordedEvent], None]] = []


def on_user_message(starter: Callable[[RecordedEvent], None]) -> None:
    if starter not in _turn_starters:
        _turn_starters.append(starter)


def on_sentence_revised(renderer: Callable[[RecordedEvent], None]) -> None:
    if renderer not in _revision_renderers:
        _revision_renderers.append(renderer)


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
    live = selectors.original(events)  # what was played: not later revisions
    sentences = sorted((e.data["index"], e.data["text"]) for e in live if e.type == "SentenceGenerated")
    durations = {e.data["index"]: e.data["duration_ms"] for e in live if e.type == "SpeechSynthesized"}
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


# --- Revisions: editing and re-rendering stored sentences ----------------------------


class NoSuchSentence(Exception):
    """The session has no such turn or sentence."""


class RerenderInProgress(Exception):
    """A whole-session re-render is still running; one at a time."""


def _render_after_commit(recorded: list[RecordedEvent]) -> None:
    for event in recorded:
        if event.type == "SentenceRevised":
            for renderer in _revision_renderers:
                transaction.on_commit(lambda r=renderer, e=event: r(e))  # type: ignore[misc]


def _append_revisions(session_id: uuid.UUID | str, build: Callable[[], list[DomainEvent]]) -> list[RecordedEvent]:
    """Append what ``build`` makes from the log as it is now, at exactly that head.

    Revision numbers come from the log: if another edit lands in between, build
    again from the new head instead of storing two revisions with one number.
    """
    for _ in range(20):
        with transaction.atomic():
            expected = eventstore.head(session_id)
            try:
                recorded = eventstore.append(session_id, build(), expected_seq=expected)
            except eventstore.ConcurrencyError:
                continue
            _render_after_commit(recorded)
            return recorded
    raise eventstore.ConcurrencyError(session_id, -1, None)


def _sentence_events(session_id: uuid.UUID | str, turn_id: str, index: object) -> list[RecordedEvent]:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise NoSuchSentence(f"bad sentence index {index!r}")
    events = selectors.turn_events(session_id, turn_id)
    if selectors.sentence_event(events, "SentenceGenerated", index) is None:
        raise NoSuchSentence(f"session {session_id} has no sentence {index} in turn {turn_id}")
    return events


class SentenceContent(NamedTuple):
    revision: int
    text: str
    emotion: str | None
    action: str | None


def current_content(events: list[RecordedEvent], index: int) -> SentenceContent:
    """Text, emotion and action of a sentence's latest revision (the original if none)."""
    revision = selectors.latest_revision(events, index)
    source = "SentenceRevised" if revision else "SentenceGenerated"
    event = selectors.sentence_event(events, source, index, revision)
    assert event is not None
    d = event.data
    return SentenceContent(revision, d["text"], d.get("emotion"), d.get("action"))


def revise_sentence(
    session_id: uuid.UUID | str,
    turn_id: str,
    index: int,
    *,
    text: object,
    emotion: object = None,
    action: object = None,
    editor: str = "",
) -> RecordedEvent:
    """Store a new revision of a sentence and render it through the chain after commit.

    Nothing stored changes: the original and earlier revisions stay as they are.
    Raises ``InvalidRevision`` (what is wrong, per field) or ``NoSuchSentence``.
    """
    cleaned, emotion, action = clean_revision(text, emotion, action)
    if not eventstore.session_exists(session_id):
        raise NoSuchSentence(f"there is no session {session_id}")

    def build() -> list[DomainEvent]:
        events = _sentence_events(session_id, turn_id, index)
        latest = selectors.latest_revision(events, index)
        return [SentenceRevised(
            event_id=derived_event_id(session_id, turn_id, index, "revised", latest + 1),
            turn_id=turn_id, index=index, revision=latest + 1, based_on=latest,
            text=cleaned, emotion=emotion, action=action, reason="edit", editor=editor[:150],
        )]

    (recorded,) = _append_revisions(session_id, build)
    return recorded


def _sentence_contents_by_turn(session_id: uuid.UUID | str) -> dict[str, list[RecordedEvent]]:
    """Per turn, what says which sentences were rendered live and what each now says."""
    by_turn: dict[str, list[RecordedEvent]] = defaultdict(list)
    for event in eventstore.read(session_id, types=("SentenceGenerated", "SentenceRevised", "MotionPlanned")):
        if event.data.get("turn_id"):
            by_turn[event.data["turn_id"]].append(event)
    return by_turn


def rerender_session(
    session_id: uuid.UUID | str, *, requested_by: str = "", engines: dict[str, str] | None = None
) -> RecordedEvent:
    """Render every sentence of the session again, in the background, with the engines
    configured now: a new revision of each (same text, emotion and gesture as its
    latest revision). Returns the ``SessionRerenderRequested`` event.

    Sentences that were never rendered (cut off by an interrupt before their turn
    got to them) are left out. Raises ``RerenderInProgress`` while one is running.
    """
    if not eventstore.session_exists(session_id):
        raise eventstore.SessionNotFound(session_id)

    def build() -> list[DomainEvent]:
        if (running := selectors.rerender_in_progress(session_id)) is not None:
            raise RerenderInProgress(f"re-render {running.render_id} is still running ({running.percent} %)")
        render_id = str(uuid.uuid4())
        revisions: list[SentenceRevised] = []
        for turn_id, events in _sentence_contents_by_turn(session_id).items():
            for index in sorted(
                e.data["index"] for e in selectors.original(events) if e.type == "MotionPlanned"
            ):
                now = current_content(events, index)
                revisions.append(SentenceRevised(
                    event_id=derived_event_id(session_id, turn_id, index, "revised", now.revision + 1),
                    turn_id=turn_id, index=index, revision=now.revision + 1, based_on=now.revision,
                    text=now.text, emotion=now.emotion, action=now.action, reason="rerender",
                    editor=requested_by[:150], render_id=render_id,
                ))
        requested = SessionRerenderRequested(
            event_id=derived_event_id(session_id, "rerender", render_id),
            render_id=render_id, requested_by=requested_by[:150], engines=dict(engines or {}),
            sentences=[{"turn_id": r.turn_id, "index": r.index, "revision": r.revision} for r in revisions],
        )
        if not revisions:  # nothing to render: complete as soon as it starts
            return [requested, SessionRerenderCompleted(
                event_id=derived_event_id(session_id, "rerender", render_id, "completed"),
                render_id=render_id, sentence_count=0,
            )]
        return [requested, *revisions]

    return _append_revisions(session_id, build)[0]
