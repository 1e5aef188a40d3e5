"""The stage interfaces of the per-sentence chain and the values they exchange.

LLM -> sentiment -> TTS -> lip-sync (motion lives in ``animation.motion``).
Engines implement these protocols; ``synthesis.factory`` picks one by configuration.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

EMOTIONS: tuple[str, ...] = ("happy", "sad", "neutral", "thinking")
Emotion = Literal["happy", "sad", "neutral", "thinking"]

# Rhubarb Lip Sync's mouth shapes: A-F basic, G H X extended (X = rest/closed).
MOUTH_SHAPES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G", "H", "X")


class EngineError(Exception):
    """An engine could not do its work (bad input, crashed process, missing model)."""


class EngineUnavailable(EngineError):
    """An engine cannot run on this machine (binary, package or model missing)."""


class StageTimeout(EngineError):
    """An engine ran past its stage's time limit."""


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class SentimentResult:
    label: Emotion
    scores: Mapping[str, float]  # one score per emotion in EMOTIONS


@dataclass(frozen=True)
class Phone:
    """One phone of synthesized speech, as timed by the TTS engine itself."""

    symbol: str  # in the engine's phone set (see SpeechAudio.phone_set)
    start: float  # seconds from the start of the audio
    end: float


@dataclass(frozen=True)
class SpeechAudio:
    wav: bytes  # a complete RIFF/WAVE file, mono 16-bit PCM
    sample_rate: int
    duration_ms: int
    text: str  # the text actually spoken (after normalization)
    phones: tuple[Phone, ...] | None = None  # None when the engine gives no timings
    phone_set: str | None = None  # e.g. "festival-ru", "espeak-ng"
    voice: str = ""


@dataclass(frozen=True)
class MouthCue:
    start: float  # seconds
    end: float
    shape: str  # one of MOUTH_SHAPES

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "shape": self.shape}


@runtime_checkable
class Engine(Protocol):
    name: ClassVar[str]

    @classmethod
    def availability(cls) -> Availability:
        """Whether this engine can run here, and if not, why (no side effects, cheap)."""
        ...


class LLMProvider(Engine, Protocol):
    def stream(self, messages: Sequence[ChatMessage], *, deadline: float) -> Iterator[str]:
        """Yield text deltas as they are generated.

        ``deadline`` is a ``time.monotonic()`` value; past it the provider stops and
        raises ``StageTimeout``.
        """
        ...


class SentimentAnalyzer(Engine, Protocol):
    def analyze(self, texts: Sequence[str]) -> list[SentimentResult]:
        """Classify a batch of sentences, one result per text, in order."""
        ...


class TTSEngine(Engine, Protocol):
    def synthesize(self, text: str, *, timeout: float) -> SpeechAudio:
        """Speak already-normalized text; ``timeout`` in seconds."""
        ...


class LipSyncGenerator(Engine, Protocol):
    def generate(self, audio: SpeechAudio) -> list[MouthCue]:
        """Mouth cues covering the whole audio, in time order, without gaps."""
        ...


@dataclass(frozen=True)
class EngineSettings:
    """One engine's section of the configuration."""

    engine: str
    fallbacks: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
