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
    VERSION: ClassVar[int] = 2
    turn_id: str
    index: int
    label: str
    scores: dict[str, float]
    engine: str
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SpeechSynthesized(DomainEvent):
    TYPE: ClassVar[str] = "SpeechSynthesized"
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
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class LipSyncGenerated(DomainEvent):
    TYPE: ClassVar[str] = "LipSyncGenerated"
    turn_id: str
    index: int
    cues: list[dict[str, Any]]  # [{start, end, shape}] in seconds, Rhubarb shapes A-H, X
    generator: str
    cues_artifact: dict[str, Any] | None = None
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MotionPlanned(DomainEvent):
    TYPE: ClassVar[str] = "MotionPlanned"
    turn_id: str
    index: int
    preset: str
    preset_version: int
    keyframes: dict[str, Any]  # {"duration", "tracks": [...]}, three.js-ready
    layers: list[dict[str, Any]] = field(default_factory=list)
    engine: str = "presets"
    keyframes_artifact: dict[str, Any] | None = None
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class StageFailed(DomainEvent):
    TYPE: ClassVar[str] = "StageFailed"
    stage: str  # llm, sentiment, tts, lipsync, motion
    error: str
    fallback: str  # what was used instead ("espeak-ng", "text-only", "idle", "none", ...)
    engine: str = ""
    turn_id: str | None = None
    index: int | None = None


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
)
EVENT_TYPES: dict[str, type[DomainEvent]] = {cls.TYPE: cls for cls in EVENT_CLASSES}

# Events that belong to one sentence of a turn (carry turn_id and index).
SENTENCE_EVENTS = frozenset(
    {"SentenceGenerated", "SentimentAnalyzed", "SpeechSynthesized", "LipSyncGenerated", "MotionPlanned"}
)
