"""Shared by the session commands (say, replay, export, re-render): printing, and the session argument."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError

from conversations import eventstore
from conversations.eventstore import RecordedEvent


def require_session(raw: str) -> str:
    """The session id given on the command line, or a CommandError saying it does not exist."""
    try:
        exists = eventstore.session_exists(raw)
    except Exception:  # a malformed id
        exists = False
    if not exists:
        raise CommandError(f"session {raw!r} does not exist")
    return raw


def _with_paths(data: Any) -> Any:
    """Add the local file path to every artifact reference, so the files can be found."""
    from synthesis import artifacts

    if isinstance(data, dict):
        out = {k: _with_paths(v) for k, v in data.items()}
        if "sha256" in data and "name" in data:
            out["path"] = artifacts.local_path(data)
        return out
    if isinstance(data, list):
        return [_with_paths(v) for v in data]
    return data


def event_json_line(event: RecordedEvent) -> str:
    record = event.to_json()
    record["data"] = _with_paths(record["data"])
    return json.dumps(record, ensure_ascii=False)


def describe(event: RecordedEvent) -> str:
    """One human-readable progress line for an event."""
    d = event.data
    where = f"[{d['index'] + 1}]" if d.get("index") is not None else "   "
    lines: dict[str, Callable[[], str]] = {
        "SessionStarted": lambda: "сессия начата",
        "UserMessageReceived": lambda: f"вы: {d['text']}",
        "SentenceGenerated": lambda: f"ответ: {d['text']}",
        "ReplyGenerated": lambda: f"LLM: {d['sentence_count']} предл., {d['engine']}, {d['finish_reason']}",
        "SentimentAnalyzed": lambda: f"эмоция: {d['label']} ({d['engine']})",
        "SpeechSynthesized": lambda: f"речь: {d['duration_ms']} мс, {d['engine']}",
        "LipSyncGenerated": lambda: f"губы: {len(d['cues'])} форм, {d['generator']}",
        "MotionPlanned": lambda: f"движение: {d['preset']} v{d['preset_version']}",
        "StageFailed": lambda: f"СБОЙ {d['stage']} ({d.get('engine') or '-'}): {d['error']} -> {d['fallback']}",
        "TurnCompleted": lambda: f"ход завершён: {d['sentence_count']} предл.",
        "TurnInterrupted": lambda: f"ход прерван: услышано {d['heard_sentences']} предл.",
        "SentenceRevised": lambda: f"правка {d['revision']} ({d.get('reason', 'edit')}"
        f"{', ' + d['editor'] if d.get('editor') else ''}): {d['text']}",
        "SessionRerenderRequested": lambda: f"перерендер {d['render_id'][:8]}: {len(d['sentences'])} предл.",
        "SessionRerenderCompleted": lambda: f"перерендер {d['render_id'][:8]} готов, сбоев: {d.get('failures', 0)}",
    }
    text = lines.get(event.type, lambda: event.type)()
    if d.get("revision") and event.type != "SentenceRevised":
        text = f"(правка {d['revision']}) {text}"
    return f"#{event.seq:<4} {where} {text}"


def timings_table(timings: dict[str, Any]) -> list[str]:
    lines = ["этап        кол-во  очередь,мс  расчёт,мс"]
    for stage, t in timings.get("stages", {}).items():
        lines.append(f"{stage:<11} {int(t['count']):>6}  {t['queued_ms']:>10.0f}  {t['compute_ms']:>9.0f}")
    for key, label in (
        ("first_sentence_ms", "первое предложение"),
        ("first_audio_ms", "первое аудио"),
        ("total_ms", "всего"),
    ):
        if timings.get(key) is not None:
            lines.append(f"{label}: {timings[key]:.0f} мс")
    return lines
