"""The transcript projection: turns and sentences derived from the event log.

It is updated inside each append's transaction (so it is never behind the log) and
can be rebuilt from the log at any time with ``rebuild_transcripts``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Max

from . import eventstore
from .eventstore import RecordedEvent
from .models import Session, TranscriptRevision, TranscriptSentence, TranscriptTurn

log = logging.getLogger("avatar.projections")


class _Orphan(Exception):
    """An event about a turn or sentence the projection does not know (a malformed stream)."""


def _turn(event: RecordedEvent) -> TranscriptTurn:
    turn = TranscriptTurn.objects.filter(turn_id=event.data["turn_id"]).first()
    if turn is None:
        raise _Orphan(event)
    return turn


def _sentence(event: RecordedEvent) -> TranscriptSentence:
    sentence = TranscriptSentence.objects.filter(turn=_turn(event), index=event.data["index"]).first()
    if sentence is None:
        raise _Orphan(event)
    return sentence


def _rendering(event: RecordedEvent) -> TranscriptSentence | TranscriptRevision:
    """Where a stage's result goes: the sentence (revision 0) or the revision it rendered."""
    revision = event.data.get("revision") or 0
    if not revision:
        return _sentence(event)
    row = TranscriptRevision.objects.filter(sentence=_sentence(event), revision=revision).first()
    if row is None:
        raise _Orphan(event)
    return row


def _timing(sentence: TranscriptSentence | TranscriptRevision, stage: str, event: RecordedEvent) -> None:
    if event.data.get("timing"):
        sentence.timings = {**sentence.timings, stage: event.data["timing"]}


def _user_message(event: RecordedEvent) -> None:
    number = (
        TranscriptTurn.objects.filter(session_id=event.session_id).aggregate(n=Max("number"))["n"]
        or 0
    ) + 1
    TranscriptTurn.objects.create(
        session_id=event.session_id,
        turn_id=event.data["turn_id"],
        number=number,
        user_text=event.data["text"],
        mode=event.data.get("mode", "llm"),
        started_at=event.ts,
        last_seq=event.seq,
    )


def _sentence_generated(event: RecordedEvent) -> None:
    d = event.data
    sentence = TranscriptSentence(
        turn=_turn(event), index=d["index"], text=d["text"], action=d.get("action") or ""
    )
    _timing(sentence, "llm", event)
    sentence.save()


def _reply_generated(event: RecordedEvent) -> None:
    turn = _turn(event)
    turn.finish_reason = event.data["finish_reason"]
    turn.llm_engine = event.data["engine"]
    turn.save(update_fields=["finish_reason", "llm_engine"])


def _sentiment(event: RecordedEvent) -> None:
    s = _rendering(event)
    s.emotion, s.emotion_scores = event.data["label"], event.data["scores"]
    _timing(s, "sentiment", event)
    s.save()


def _speech(event: RecordedEvent) -> None:
    s, d = _rendering(event), event.data
    s.audio_name, s.audio_sha256 = d["audio"]["name"], d["audio"]["sha256"]
    s.duration_ms, s.tts_engine, s.spoken_text = d["duration_ms"], d["engine"], d["spoken_text"]
    _timing(s, "tts", event)
    s.save()


def _lipsync(event: RecordedEvent) -> None:
    s = _rendering(event)
    s.lipsync_generator, s.cue_count = event.data["generator"], len(event.data["cues"])
    _timing(s, "lipsync", event)
    s.save()


def _motion(event: RecordedEvent) -> None:
    s = _rendering(event)
    s.motion_preset, s.motion_preset_version = event.data["preset"], event.data["preset_version"]
    _timing(s, "motion", event)
    if isinstance(s, TranscriptRevision):
        s.rendered_at = event.ts  # motion is the last stage: the revision is ready to play
    s.save()


def _sentence_revised(event: RecordedEvent) -> None:
    d = event.data
    sentence = _sentence(event)
    TranscriptRevision.objects.create(
        sentence=sentence, revision=d["revision"], based_on=d["based_on"], text=d["text"],
        chosen_emotion=d.get("emotion") or "", action=d.get("action") or "", reason=d.get("reason", "edit"),
        editor=d.get("editor", ""), render_id=d.get("render_id") or "", created_at=event.ts,
    )
    if d["revision"] > sentence.latest_revision:
        sentence.latest_revision = d["revision"]
        sentence.save(update_fields=["latest_revision"])


def _stage_failed(event: RecordedEvent) -> None:
    d = event.data
    failure = {k: d.get(k) for k in ("stage", "engine", "error", "fallback")}
    if d.get("turn_id") is None:
        return
    if d.get("index") is not None:
        try:
            s = _rendering(event)
        except _Orphan:
            s = None
        if s is not None:
            s.failures = [*s.failures, failure]
            s.save(update_fields=["failures"])
            return
    turn = _turn(event)
    turn.failures = [*turn.failures, failure]
    turn.save(update_fields=["failures"])


def _turn_completed(event: RecordedEvent) -> None:
    turn = _turn(event)
    turn.completed_at, turn.timings = event.ts, event.data["timings"]
    turn.save(update_fields=["completed_at", "timings"])


def _turn_interrupted(event: RecordedEvent) -> None:
    turn = _turn(event)
    turn.completed_at, turn.finish_reason = event.ts, "interrupted"
    turn.save(update_fields=["completed_at", "finish_reason"])


HANDLERS: dict[str, Callable[[RecordedEvent], None]] = {
    "UserMessageReceived": _user_message,
    "SentenceGenerated": _sentence_generated,
    "ReplyGenerated": _reply_generated,
    "SentimentAnalyzed": _sentiment,
    "SpeechSynthesized": _speech,
    "LipSyncGenerated": _lipsync,
    "MotionPlanned": _motion,
    "StageFailed": _stage_failed,
    "TurnCompleted": _turn_completed,
    "TurnInterrupted": _turn_interrupted,
    "SentenceRevised": _sentence_revised,
}


def apply(events: Sequence[RecordedEvent]) -> None:
    for event in events:
        handler = HANDLERS.get(event.type)
        if handler is None:
            continue
        try:
            handler(event)
        except _Orphan:
            # The log is the truth and accepts it; the transcript just has nowhere to put it.
            log.warning("transcript: no turn/sentence for event #%s %s", event.seq, event.type)
            continue
        if event.data.get("turn_id"):
            TranscriptTurn.objects.filter(turn_id=event.data["turn_id"]).update(last_seq=event.seq)


def rebuild(session_id: uuid.UUID | str | None = None) -> int:
    """Drop and re-derive the transcripts of one session (or all). Returns events replayed."""
    sessions = Session.objects.all() if session_id is None else Session.objects.filter(id=session_id)
    replayed = 0
    for sid in sessions.values_list("id", flat=True):
        with transaction.atomic():
            TranscriptTurn.objects.filter(session_id=sid).delete()
            events = eventstore.read(sid)
            apply(events)
            replayed += len(events)
    return replayed


def _fields(obj: TranscriptTurn | TranscriptSentence | TranscriptRevision, exclude: set[str]) -> dict[str, Any]:
    return {
        f.attname: getattr(obj, f.attname)
        for f in obj._meta.concrete_fields
        if f.name not in exclude
    }


def snapshot(session_id: uuid.UUID | str) -> list[dict[str, Any]]:
    """The projection of one session as plain data (for comparisons and exports)."""
    turns = []
    for turn in TranscriptTurn.objects.filter(session_id=session_id).prefetch_related("sentences__revisions"):
        row: dict[str, Any] = _fields(turn, exclude={"id"})
        row["sentences"] = [
            {
                **_fields(s, exclude={"id", "turn"}),
                "revisions": [_fields(r, exclude={"id", "sentence"}) for r in s.revisions.all()],
            }
            for s in turn.sentences.all()
        ]
        turns.append(row)
    return turns
