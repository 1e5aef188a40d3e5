"""Domain events of a conversation session.

Events are immutable facts, named in the past tense, each with a registered type
name and a schema version. Payloads are plain JSON-compatible data. Old stored
versions are brought up to date by upcasters (``conversations.domain.upcasting``)
before they are turned into these classes. Nothing in this module does I/O.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

# Deterministic event ids are derived in this namespace, so that re-running a
# stage for the same sentence produces the same id and the store keeps it once.
EVENT_ID_NAMESPACE = uuid.UUID("5b0f8f4e-3c1d-4d8e-9a57-2f6a1c0b7e11")

E = TypeVar("E", bound="DomainEvent")


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of every event. Subclasses set TYPE and VERSION and add payload fields."""

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def to_data(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["event_id"]
        return data

    @classmethod
    def from_data(cls: type[E], event_id: uuid.UUID, data: Mapping[str, Any]) -> E:
        names = {f.name for f in dataclasses.fields(cls)} - {"event_id"}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{cls.TYPE} v{cls.VERSION}: unknown fields {sorted(unknown)}")
        return cls(event_id=event_id, **dict(data))


def derived_event_id(*parts: object) -> uuid.UUID:
    """A stable id for an event defined by what it is about (session, turn, sentence, stage)."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, "/".join(str(p) for p in parts))


# --- Session and turn -------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SessionStarted(DomainEvent):
    TYPE: ClassVar[str] = "SessionStarted"
    title: str = ""
    language: str = "ru"
    client: str = ""


@dataclass(frozen=True, kw_only=True)
class UserMessageReceived(DomainEvent):
    TYPE: ClassVar[str] = "UserMessageReceived"
    turn_id: str
    text: str
    client_msg_id: str | None = None
    # "llm": the assistant answers; "speak": the text is spoken as the reply as is.
    mode: str = "llm"


@dataclass(frozen=True, kw_only=True)
class SentenceGenerated(DomainEvent):
    TYPE: ClassVar[str] = "SentenceGenerated"
    VERSION: ClassVar[int] = 2
    turn_id: str
    index: int
    text: str  # what is spoken and shown: action tags already stripped
    action: str | None = None  # a gesture the LLM asked for (a motion preset name)
    emotion: str | None = None  # an emotion the LLM asked for; wins over sentiment analysis
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ReplyGenerated(DomainEvent):
    """The LLM stream ended: how many sentences the turn has, and why it ended."""

    TYPE: ClassVar[str] = "ReplyGenerated"
    turn_id: str
    sentence_count: int
    engine: str
    finish_reason: str  # "stop", "length", "timeout", "error", "recovered", "speak"
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SentimentAnalyzed(DomainEvent):
    TYPE: ClassVar[str] = "SentimentAnalyzed"
    VERSION: ClassVar[int] = 3
    turn_id: str
    index: int
    label: str
    scores: dict[str, float]
    engine: str
    revision: int = 0  # which revision of the sentence (0: as generated)
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SpeechSynthesized(DomainEvent):
    TYPE: ClassVar[str] = "SpeechSynthesized"
    VERSION: ClassVar[int] = 2
    turn_id: str
    index: int
    audio: dict[str, Any]  # artifact reference, never the bytes
    duration_ms: int
    sample_rate: int
    engine: str
    voice: str
    spoken_text: str  # the text actually spoken, after normalization
    phones: list[dict[str, Any]] | None = None
    phone_set: str | None = None
    revision: int = 0
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LipSyncGenerated(DomainEvent):
    TYPE: ClassVar[str] = "LipSyncGenerated"
    VERSION: ClassVar[int] = 2
    turn_id: str
    index: int
    cues: list[dict[str, Any]]  # [{start, end, shape}] in seconds, Rhubarb shapes A-H, X
    generator: str
    cues_artifact: dict[str, Any] | None = None
    revision: int = 0
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MotionPlanned(DomainEvent):
    TYPE: ClassVar[str] = "MotionPlanned"
    VERSION: ClassVar[int] = 2
    turn_id: str
    index: int
    preset: str
    preset_version: int
    keyframes: dict[str, Any]  # {"duration", "tracks": [...]}, three.js-ready
    layers: list[dict[str, Any]] = field(default_factory=list)
    engine: str = "presets"
    keyframes_artifact: dict[str, Any] | None = None
    revision: int = 0
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class StageFailed(DomainEvent):
    TYPE: ClassVar[str] = "StageFailed"
    VERSION: ClassVar[int] = 2
    stage: str  # llm, sentiment, tts, lipsync, motion
    error: str
    fallback: str  # what was used instead ("espeak-ng", "text-only", "idle", "none", ...)
    engine: str = ""
    turn_id: str | None = None
    index: int | None = None
    revision: int = 0  # the revision of the sentence being rendered when it failed


@dataclass(frozen=True, kw_only=True)
class TurnCompleted(DomainEvent):
    TYPE: ClassVar[str] = "TurnCompleted"
    turn_id: str
    sentence_count: int
    timings: dict[str, Any]  # per stage: {count, queued_ms, compute_ms}; plus totals
    failures: int = 0


@dataclass(frozen=True, kw_only=True)
class TurnInterrupted(DomainEvent):
    """The user stopped the turn. It ends the turn (instead of ``TurnCompleted``)."""

    TYPE: ClassVar[str] = "TurnInterrupted"
    turn_id: str
    heard_sentences: int  # sentences 0..heard_sentences-1 were heard in full
    partial_index: int | None = None  # the sentence that was cut, if any
    partial_ms: int | None = None  # how far into it playback got
    heard_text: str = ""  # what the user actually heard: the next turn's LLM history


# --- Revisions: editing and re-rendering stored sentences --------------------------
#
# A revision never changes what is stored: it is a new fact, and the sentence stages
# (sentiment, TTS, lip-sync, motion) run again for it, their events carrying
# ``revision=N``. Revision 0 is the sentence as generated during the live turn.


@dataclass(frozen=True, kw_only=True)
class SentenceRevised(DomainEvent):
    """Staff edited a sentence (or re-rendered it): its revision ``revision``, to be rendered."""

    TYPE: ClassVar[str] = "SentenceRevised"
    turn_id: str
    index: int
    revision: int  # 1, 2, ... (0 is the sentence as generated)
    based_on: int  # the revision it was made from
    text: str
    emotion: str | None = None  # chosen by the editor; None: the sentiment stage decides
    action: str | None = None  # a motion preset chosen by the editor; None: none
    reason: str = "edit"  # "edit" (a person changed it) or "rerender" (same content, current engines)
    editor: str = ""  # the staff user's username
    render_id: str | None = None  # the whole-session re-render it belongs to, if any


@dataclass(frozen=True, kw_only=True)
class SessionRerenderRequested(DomainEvent):
    """Staff asked to render every sentence of the session again with the current engines."""

    TYPE: ClassVar[str] = "SessionRerenderRequested"
    render_id: str
    requested_by: str
    sentences: list[dict[str, Any]]  # [{turn_id, index, revision}]: the revisions it renders
    engines: dict[str, str] = field(default_factory=dict)  # stage -> engine configured first


@dataclass(frozen=True, kw_only=True)
class SessionRerenderCompleted(DomainEvent):
    """Every sentence revision of a re-render has its motion (the last stage)."""

    TYPE: ClassVar[str] = "SessionRerenderCompleted"
    render_id: str
    sentence_count: int
    failures: int = 0


EVENT_CLASSES: tuple[type[DomainEvent], ...] = (
    SessionStarted,
    UserMessageReceived,
    SentenceGenerated,
    ReplyGenerated,
    SentimentAnalyzed,
    SpeechSynthesized,
    LipSyncGenerated,
    MotionPlanned,
    StageFailed,
    TurnCompleted,
    TurnInterrupted,
    SentenceRevised,
    SessionRerenderRequested,
    SessionRerenderCompleted,
)
EVENT_TYPES: dict[str, type[DomainEvent]] = {cls.TYPE: cls for cls in EVENT_CLASSES}

# Events that belong to one sentence of a turn (carry turn_id and index).
SENTENCE_EVENTS = frozenset(
    {"SentenceGenerated", "SentimentAnalyzed", "SpeechSynthesized", "LipSyncGenerated", "MotionPlanned"}
)
# Events that exist only for revisions (the stage events that render one carry ``revision``).
REVISION_EVENTS = frozenset({"SentenceRevised", "SessionRerenderRequested", "SessionRerenderCompleted"})
