"""The per-sentence chain as plain functions: LLM -> sentiment -> TTS -> lip-sync -> motion.

Each function takes ids, reads what it needs from the event log, runs its engine
(with the configured fallbacks) and appends its events. Each is idempotent: when
its event is already stored it does nothing, and event ids are derived from
(session, turn, sentence, stage), so a concurrent re-run stores nothing twice.
A failing engine appends ``StageFailed`` and the chain degrades (another engine, a
text-only sentence, idle motion) instead of losing the turn.

The Celery tasks in ``synthesis.tasks`` are thin wrappers over these functions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from conversations import eventstore, selectors
from conversations.domain.events import (
    DomainEvent,
    LipSyncGenerated,
    MotionPlanned,
    ReplyGenerated,
    SentenceGenerated,
    SentimentAnalyzed,
    SessionRerenderCompleted,
    SpeechSynthesized,
    StageFailed,
    TurnCompleted,
    derived_event_id,
)
from conversations.eventstore import RecordedEvent

from . import artifacts, factory
from .config import stage_config
from .interfaces import EMOTIONS, ChatMessage, Phone, SpeechAudio, StageTimeout
from .prompts import APOLOGY_RU, system_prompt
from .reply_text import ReplySentence, ReplyStream, split_reply
from .text.normalize import normalize_for_speech
from .timing import StageClock

log = logging.getLogger("avatar.pipeline")
T = TypeVar("T")
MAX_ERROR_CHARS = 500


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


@dataclass
class Attempt:
    """What running a stage's engines gave: a result, and the failures on the way."""

    engine: str | None = None
    result: Any = None
    compute_s: float = 0.0
    failures: list[DomainEvent] = field(default_factory=list)
    timing: dict[str, Any] = field(default_factory=dict)  # e.g. a model load: time, device, VRAM


def run_engines(
    stage: str,
    call: Callable[[Any], T],
    *,
    session_id: str,
    turn_id: str,
    index: int | None,
    degraded: str,
    revision: int = 0,
) -> Attempt:
    """Try the stage's engines in order; each failure becomes a ``StageFailed`` event.

    ``degraded`` names what the chain does when every engine fails.
    """
    attempt = Attempt()
    names = list(factory.candidates(stage))
    for pos, candidate in enumerate(names):
        fallback = names[pos + 1].name if pos + 1 < len(names) else degraded
        if not candidate.availability.ok:
            error = f"unavailable: {candidate.availability.reason}"
        else:
            t0 = time.perf_counter()
            try:
                engine = factory.get_engine(stage, candidate.name)
                attempt.result = call(engine)
                attempt.engine, attempt.compute_s = candidate.name, time.perf_counter() - t0
                if load := getattr(engine, "pop_load_stats", lambda: None)():
                    attempt.timing["load"] = load  # this call loaded the model
                return attempt
            except Exception as exc:  # any engine error degrades; it never loses the turn
                log.warning("%s engine %s failed: %s", stage, candidate.name, exc)
                error = _error_text(exc)
        attempt.failures.append(
            StageFailed(
                event_id=stage_event_id(session_id, turn_id, index, revision, stage, "failed", candidate.name),
                stage=stage,
                engine=candidate.name,
                error=error,
                fallback=fallback,
                turn_id=turn_id,
                index=index,
                revision=revision,
            )
        )
    return attempt


def stage_event_id(session_id: str, turn_id: str, index: int | None, revision: int, *what: str) -> Any:
    """The deterministic id of a stage's event for one revision of a sentence.

    Revision 0 keeps the ids the live chain always had, so re-running it after an
    upgrade still finds what it stored before.
    """
    if revision:
        return derived_event_id(session_id, turn_id, index, *what, f"r{revision}")
    return derived_event_id(session_id, turn_id, index, *what)


def _append(session_id: str, events: Sequence[DomainEvent]) -> list[RecordedEvent]:
    return eventstore.append_retrying(session_id, list(events))


# --- LLM -----------------------------------------------------------------------


def _messages(session_id: str, user: RecordedEvent) -> list[ChatMessage]:
    cfg = stage_config("llm")
    history = selectors.chat_history(session_id, user.seq, int(cfg.extra.get("history_turns", 6)))
    prompt = system_prompt(cfg.extra.get("system_prompt"), actions=bool(cfg.extra.get("actions", True)))
    return [
        ChatMessage("system", prompt),
        *(ChatMessage(role, text) for role, text in history),  # type: ignore[arg-type]
        ChatMessage("user", user.data["text"]),
    ]


class _Interrupted(Exception):
    """The user interrupted the turn: generate no more sentences."""


@dataclass
class _Reply:
    session_id: str
    turn_id: str
    on_sentence: Callable[[int], None]
    clock: StageClock
    count: int = 0
    last_emit: float = field(default_factory=time.perf_counter)

    def emit(self, sentence: ReplySentence, extra: dict[str, Any] | None = None) -> None:
        if selectors.is_interrupted(selectors.turn_events(self.session_id, self.turn_id)):
            raise _Interrupted()
        now = time.perf_counter()
        event = SentenceGenerated(
            event_id=derived_event_id(self.session_id, self.turn_id, self.count, "sentence"),
            turn_id=self.turn_id,
            index=self.count,
            text=sentence.text,
            action=sentence.action,
            emotion=sentence.emotion,
            timing={"compute_ms": round((now - self.last_emit) * 1000, 1), **(extra or {})},
        )
        _append(self.session_id, [event])
        self.on_sentence(self.count)
        self.count, self.last_emit = self.count + 1, time.perf_counter()


def _stream_llm(reply: _Reply, messages: list[ChatMessage]) -> tuple[str, str, list[DomainEvent], dict[str, Any]]:
    """Stream the reply, emitting sentences as they complete. Returns (engine, finish, failures, stats)."""
    cfg = stage_config("llm")
    max_sentences = int(cfg.extra.get("max_sentences", 8))
    deadline = time.monotonic() + cfg.timeout_s
    stats: dict[str, Any] = {"deltas": 0}
    t0 = time.perf_counter()

    first_max = cfg.extra.get("first_sentence_max_chars")

    def call(engine: Any) -> str:
        segmenter = ReplyStream(first_max_chars=int(first_max) if first_max else None)
        stream = engine.stream(messages, deadline=deadline)
        try:
            for delta in stream:
                if stats["deltas"] == 0:
                    stats["first_token_ms"] = round((time.perf_counter() - t0) * 1000, 1)
                stats["deltas"] += 1
                for sentence in segmenter.feed(delta):
                    if reply.count < max_sentences:
                        reply.emit(sentence)
                if reply.count >= max_sentences:
                    return "length"
        except _Interrupted:
            return "interrupted"
        except Exception as exc:
            if reply.count == 0:
                raise  # nothing said yet: the next engine (or the apology) takes over
            # Sentences are already on their way to the user: keep them, end here.
            truncated.append(StageFailed(
                event_id=derived_event_id(reply.session_id, reply.turn_id, "llm", "truncated"),
                stage="llm", engine=engine.name, error=_error_text(exc), fallback="truncated",
                turn_id=reply.turn_id,
            ))
            return "timeout" if isinstance(exc, StageTimeout) else "error"
        finally:
            stream.close()  # stops generation when we leave early
        try:
            for sentence in segmenter.flush():
                if reply.count < max_sentences:
                    reply.emit(sentence)
        except _Interrupted:
            return "interrupted"
        return "stop"

    truncated: list[DomainEvent] = []
    attempt = run_engines(
        "llm", call, session_id=reply.session_id, turn_id=reply.turn_id, index=None,
        degraded="apology",
    )
    stats["compute_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    if attempt.engine is not None:
        return attempt.engine, attempt.result, [*attempt.failures, *truncated], stats
    return "none", "error", attempt.failures, stats


def generate_reply(
    session_id: str, turn_id: str, enqueued_at: float, on_sentence: Callable[[int], None]
) -> None:
    clock = StageClock(enqueued_at)
    events = selectors.turn_events(session_id, turn_id)
    if any(e.type == "ReplyGenerated" for e in events):
        return
    user = next(e for e in events if e.type == "UserMessageReceived")
    done = [e for e in events if e.type == "SentenceGenerated"]
    reply = _Reply(session_id, turn_id, on_sentence, clock, count=len(done))
    failures: list[DomainEvent] = []
    stats: dict[str, Any] = {}
    if selectors.is_interrupted(events):  # stopped before the reply even started
        engine, finish = "none", "interrupted"
    elif done:  # a previous run died mid-stream: close the reply with what it stored
        engine, finish = "recovered", "recovered"
        for index in range(len(done)):
            on_sentence(index)
    elif user.data.get("mode") == "speak":
        engine, finish = "speak", "speak"
        try:
            for sentence in split_reply(user.data["text"]):
                reply.emit(sentence)
        except _Interrupted:
            finish = "interrupted"
    else:
        engine, finish, failures, stats = _stream_llm(reply, _messages(session_id, user))
        if reply.count == 0 and finish != "interrupted":
            reply.emit(ReplySentence(APOLOGY_RU, emotion="sad"), {"fallback": "apology"})
            if finish == "stop":  # the model answered nothing speakable
                finish = "empty"
    _append(session_id, [*failures, _reply_event(session_id, turn_id, reply.count, engine, finish, clock, stats)])
    complete_turn_if_done(session_id, turn_id)


def _reply_event(
    session_id: str, turn_id: str, count: int, engine: str, finish: str, clock: StageClock,
    stats: dict[str, Any],
) -> ReplyGenerated:
    compute_s = float(stats.pop("compute_ms", 0.0)) / 1000
    return ReplyGenerated(
        event_id=derived_event_id(session_id, turn_id, "reply"),
        turn_id=turn_id,
        sentence_count=count,
        engine=engine,
        finish_reason=finish,
        timing=clock.timing(compute_s, **stats),
    )


# --- Per-sentence stages ---------------------------------------------------------
#
# Each stage renders one revision of a sentence: revision 0 is the sentence as the
# LLM generated it during the live turn; revision N > 0 comes from a
# ``SentenceRevised`` event (a staff edit, or a re-render with the current engines).


@dataclass(frozen=True)
class _Spec:
    """What to render for one revision of a sentence."""

    text: str
    emotion: str | None  # asked for (by the LLM or the editor); wins over sentiment analysis
    action: str | None


def _spec(events: list[RecordedEvent], index: int, revision: int) -> _Spec | None:
    source = "SentenceRevised" if revision else "SentenceGenerated"
    event = selectors.sentence_event(events, source, index, revision)
    if event is None:
        return None
    d = event.data
    return _Spec(str(d["text"]), d.get("emotion"), d.get("action"))


def _sentence_context(
    session_id: str, turn_id: str, index: int, own_type: str, revision: int = 0
) -> tuple[list[RecordedEvent], _Spec] | None:
    """The turn's events and what to render, or None when this stage already ran for
    the revision or (for the live revision 0) the user interrupted the turn: its
    pending sentences are cancelled. A revision is rendered even for an interrupted
    turn: staff asked for it."""
    # This sentence and the one before it (motion continues its idle phase).
    events = selectors.sentence_events(session_id, turn_id, (index - 1, index))
    if selectors.sentence_event(events, own_type, index, revision) is not None:
        return None
    if revision == 0 and selectors.is_interrupted(events):
        return None
    spec = _spec(events, index, revision)
    if spec is None:
        raise eventstore.EventStoreError(f"turn {turn_id} has no sentence {index} revision {revision}")
    return events, spec


def analyze_sentiment(session_id: str, turn_id: str, index: int, enqueued_at: float, revision: int = 0) -> None:
    clock = StageClock(enqueued_at)
    context = _sentence_context(session_id, turn_id, index, "SentimentAnalyzed", revision)
    if context is None:
        return
    text = context[1].text
    attempt = run_engines(
        "sentiment", lambda e: e.analyze([text])[0],
        session_id=session_id, turn_id=turn_id, index=index, degraded="neutral", revision=revision,
    )
    if attempt.engine is None:
        label, scores, engine = "neutral", {e: float(e == "neutral") for e in EMOTIONS}, "none"
    else:
        label, scores, engine = attempt.result.label, dict(attempt.result.scores), attempt.engine
    event = SentimentAnalyzed(
        event_id=stage_event_id(session_id, turn_id, index, revision, "sentiment"),
        turn_id=turn_id, index=index, label=label, revision=revision,
        scores={k: round(float(v), 4) for k, v in scores.items()},
        engine=engine, timing=clock.timing(attempt.compute_s, **attempt.timing),
    )
    _append(session_id, [*attempt.failures, event])


def synthesize_speech(session_id: str, turn_id: str, index: int, enqueued_at: float, revision: int = 0) -> None:
    clock = StageClock(enqueued_at)
    context = _sentence_context(session_id, turn_id, index, "SpeechSynthesized", revision)
    if context is None or _tts_gave_up(context[0], index, revision):
        return
    spoken = normalize_for_speech(context[1].text)
    if not spoken.strip():
        _append(session_id, [_text_only(session_id, turn_id, index, revision, "nothing speakable in the sentence")])
        return
    timeout = stage_config("tts").timeout_s
    attempt = run_engines(
        "tts", lambda e: e.synthesize(spoken, timeout=timeout),
        session_id=session_id, turn_id=turn_id, index=index, degraded="text-only", revision=revision,
    )
    if attempt.engine is None:
        _append(session_id, attempt.failures)
        return
    audio: SpeechAudio = attempt.result
    event = SpeechSynthesized(
        event_id=stage_event_id(session_id, turn_id, index, revision, "speech"),
        turn_id=turn_id, index=index, revision=revision,
        audio=artifacts.store(audio.wav, "audio", "audio/wav", "wav"),
        duration_ms=audio.duration_ms, sample_rate=audio.sample_rate,
        engine=attempt.engine, voice=audio.voice, spoken_text=audio.text,
        phones=None if audio.phones is None else [
            {"symbol": p.symbol, "start": round(p.start, 4), "end": round(p.end, 4)} for p in audio.phones
        ],
        phone_set=audio.phone_set,
        timing=clock.timing(attempt.compute_s, **attempt.timing, audio_ms=audio.duration_ms),
    )
    _append(session_id, [*attempt.failures, event])


def _tts_gave_up(events: list[RecordedEvent], index: int, revision: int) -> bool:
    return any(
        e.type == "StageFailed" and e.data.get("stage") == "tts" and e.data.get("index") == index
        and e.data.get("revision", 0) == revision and e.data.get("fallback") == "text-only"
        for e in events
    )


def _text_only(session_id: str, turn_id: str, index: int, revision: int, reason: str) -> StageFailed:
    return StageFailed(
        event_id=stage_event_id(session_id, turn_id, index, revision, "tts", "failed", "text-only"),
        stage="tts", engine="", error=reason, fallback="text-only", turn_id=turn_id, index=index,
        revision=revision,
    )


def speech_audio(event: RecordedEvent) -> SpeechAudio:
    """Rebuild the engine-level audio value from a stored ``SpeechSynthesized``."""
    d = event.data
    phones = d.get("phones")
    return SpeechAudio(
        wav=artifacts.read(d["audio"]), sample_rate=d["sample_rate"], duration_ms=d["duration_ms"],
        text=d["spoken_text"], voice=d.get("voice", ""), phone_set=d.get("phone_set"),
        phones=None if phones is None else tuple(Phone(p["symbol"], p["start"], p["end"]) for p in phones),
    )


def generate_lipsync(session_id: str, turn_id: str, index: int, enqueued_at: float, revision: int = 0) -> None:
    clock = StageClock(enqueued_at)
    context = _sentence_context(session_id, turn_id, index, "LipSyncGenerated", revision)
    if context is None:
        return
    speech = selectors.sentence_event(context[0], "SpeechSynthesized", index, revision)
    if speech is None:  # a text-only sentence: nothing to move the mouth to
        return
    audio = speech_audio(speech)
    attempt = run_engines(
        "lipsync", lambda e: e.generate(audio),
        session_id=session_id, turn_id=turn_id, index=index, degraded="none", revision=revision,
    )
    if attempt.engine is None:
        _append(session_id, attempt.failures)
        return
    cues = [c.to_dict() for c in attempt.result]
    event = LipSyncGenerated(
        event_id=stage_event_id(session_id, turn_id, index, revision, "lipsync"),
        turn_id=turn_id, index=index, cues=cues, generator=attempt.engine, revision=revision,
        cues_artifact=artifacts.store_json(cues, "cues"),
        timing=clock.timing(attempt.compute_s, **attempt.timing),
    )
    _append(session_id, [*attempt.failures, event])


def _sentence_duration_s(events: list[RecordedEvent], index: int, revision: int, text: str) -> float:
    speech = selectors.sentence_event(events, "SpeechSynthesized", index, revision)
    if speech is not None:
        return float(speech.data["duration_ms"]) / 1000
    # Text-only: about as long as reading it would take (~14 characters a second).
    return max(1.0, len(text) / 14)


def _previous_idle_phase(events: list[RecordedEvent], index: int) -> float:
    """Where the previous sentence left the idle loop, so breathing runs on without a jump.

    A revision continues from the previous sentence as generated: revisions of
    neighbouring sentences are rendered independently."""
    previous = selectors.sentence_event(events, "MotionPlanned", index - 1) if index else None
    return 0.0 if previous is None else float(previous.data["keyframes"].get("idle_phase_end", 0.0))


def plan_motion(session_id: str, turn_id: str, index: int, enqueued_at: float, revision: int = 0) -> None:
    clock = StageClock(enqueued_at)
    context = _sentence_context(session_id, turn_id, index, "MotionPlanned", revision)
    if context is None:
        _finish(session_id, turn_id, index, revision)
        return
    events, spec = context
    sentiment = selectors.sentence_event(events, "SentimentAnalyzed", index, revision)
    emotion = spec.emotion or (None if sentiment is None else sentiment.data["label"])
    duration = _sentence_duration_s(events, index, revision, spec.text)
    idle_phase = _previous_idle_phase(events, index)
    attempt = run_engines(
        "motion", lambda e: e.plan(emotion, spec.action, duration, idle_phase=idle_phase),
        session_id=session_id, turn_id=turn_id, index=index, degraded="idle", revision=revision,
    )
    if attempt.engine is None:
        preset, version, layers = "idle", 0, []
        keyframes: dict[str, Any] = {"duration": duration, "tracks": []}
    else:
        plan = attempt.result.to_dict()
        preset, version, layers = plan["preset"], plan["version"] or 0, plan["layers"]
        keyframes = {
            k: plan[k] for k in ("duration", "fps", "interpolation", "tracks", "idle_phase_end", "emotion", "action")
        }
    event = MotionPlanned(
        event_id=stage_event_id(session_id, turn_id, index, revision, "motion"),
        turn_id=turn_id, index=index, preset=preset, preset_version=version, revision=revision,
        keyframes=keyframes, layers=layers, engine=attempt.engine or "none",
        keyframes_artifact=artifacts.store_json(keyframes, "keyframes"),
        timing=clock.timing(attempt.compute_s, **attempt.timing),
    )
    _append(session_id, [*attempt.failures, event])
    _finish(session_id, turn_id, index, revision, events)


def _finish(
    session_id: str, turn_id: str, index: int, revision: int, events: list[RecordedEvent] | None = None
) -> None:
    """Motion is the last stage: close the live turn, or the re-render the revision belongs to.

    ``events``: the sentence's events as the stage read them (they hold its revision), if it did.
    """
    if revision == 0:
        complete_turn_if_done(session_id, turn_id)
        return
    if events is None:
        events = selectors.sentence_events(session_id, turn_id, (index,))
    revised = selectors.sentence_event(events, "SentenceRevised", index, revision)
    if revised is not None and revised.data.get("render_id"):
        complete_render_if_done(session_id, str(revised.data["render_id"]))


# --- Turn completion ---------------------------------------------------------------

_STAGE_OF = {
    "ReplyGenerated": "llm",
    "SentimentAnalyzed": "sentiment",
    "SpeechSynthesized": "tts",
    "LipSyncGenerated": "lipsync",
    "MotionPlanned": "motion",
}


def turn_timings(events: list[RecordedEvent]) -> dict[str, Any]:
    """Per-stage queue wait and compute, and the turn's latencies, from its events
    (the live turn's own: later revisions of its sentences are not part of it)."""
    events = selectors.original(events)
    stages: dict[str, dict[str, float]] = {}
    for event in events:
        stage = _STAGE_OF.get(event.type)
        if stage is None or not event.data.get("timing"):
            continue
        t = event.data["timing"]
        agg = stages.setdefault(stage, {"count": 0, "queued_ms": 0.0, "compute_ms": 0.0, "task_ms": 0.0})
        agg["count"] += 1
        for key in ("queued_ms", "compute_ms", "task_ms"):
            agg[key] = round(agg[key] + float(t.get(key, 0.0)), 1)
    start = events[0].ts

    def since_start(event_type: str) -> float | None:
        first = next((e for e in events if e.type == event_type), None)
        return None if first is None else round((first.ts - start).total_seconds() * 1000, 1)

    return {
        "stages": stages,
        "first_sentence_ms": since_start("SentenceGenerated"),
        "first_audio_ms": since_start("SpeechSynthesized"),
        "total_ms": round((events[-1].ts - start).total_seconds() * 1000, 1),
    }


def complete_turn_if_done(session_id: str, turn_id: str) -> bool:
    """Append ``TurnCompleted`` once every sentence of a finished reply has its motion."""
    events = selectors.original(selectors.turn_events(session_id, turn_id))
    reply = next((e for e in events if e.type == "ReplyGenerated"), None)
    if reply is None or any(e.type in ("TurnCompleted", "TurnInterrupted") for e in events):
        return False
    planned = {e.data["index"] for e in events if e.type == "MotionPlanned"}
    count = int(reply.data["sentence_count"])
    if not planned.issuperset(range(count)):
        return False
    _append(session_id, [TurnCompleted(
        event_id=derived_event_id(session_id, turn_id, "completed"),
        turn_id=turn_id, sentence_count=count, timings=turn_timings(events),
        failures=sum(e.type == "StageFailed" for e in events),
    )])
    return True


def complete_render_if_done(session_id: str, render_id: str) -> bool:
    """Append ``SessionRerenderCompleted`` once every revision of the re-render has its motion."""
    done = selectors.render_status(session_id, render_id)
    if done is None or done.completed or done.rendered < done.total:
        return False
    _append(session_id, [SessionRerenderCompleted(
        event_id=derived_event_id(session_id, "rerender", render_id, "completed"),
        render_id=render_id, sentence_count=done.total, failures=done.failures,
    )])
    return True
