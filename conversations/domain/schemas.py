"""JSON Schemas of every event's data (current versions), for tests and clients.

Each stored/pushed event is ``{session_id, seq, type, version, data, ts}``; ``data``
must match ``DATA_SCHEMAS[type]``.
"""

from __future__ import annotations

from typing import Any

_num = {"type": "number"}
_int = {"type": "integer", "minimum": 0}
_str = {"type": "string"}
_opt_str = {"type": ["string", "null"]}
_timing = {
    "type": "object",
    "properties": {"queued_ms": {"type": "number", "minimum": 0}, "compute_ms": {"type": "number", "minimum": 0}},
}
_artifact = {
    "type": "object",
    "required": ["sha256", "name", "content_type", "size"],
    "properties": {
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "name": _str,
        "content_type": _str,
        "size": _int,
    },
}
_emotion = {"enum": ["happy", "sad", "neutral", "thinking"]}
_sentence = {"turn_id": _str, "index": _int}
_revision = {"revision": _int}  # optional on stage events: absent means 0 (as generated)


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    props = {**required, **(optional or {})}
    return {"type": "object", "required": sorted(required), "properties": props, "additionalProperties": False}


DATA_SCHEMAS: dict[str, dict[str, Any]] = {
    "SessionStarted": _obj({"title": _str, "language": _str, "client": _str}),
    "UserMessageReceived": _obj(
        {"turn_id": _str, "text": {"type": "string", "minLength": 1}, "mode": {"enum": ["llm", "speak"]}},
        {"client_msg_id": _opt_str},
    ),
    "SentenceGenerated": _obj(
        {**_sentence, "text": {"type": "string", "minLength": 1}},
        {"action": _opt_str, "emotion": {"enum": [*_emotion["enum"], None]}, "timing": _timing},
    ),
    "ReplyGenerated": _obj(
        {"turn_id": _str, "sentence_count": _int, "engine": _str, "finish_reason": _str}, {"timing": _timing}
    ),
    "SentimentAnalyzed": _obj(
        {**_sentence, "label": _emotion, "scores": {"type": "object", "additionalProperties": _num}, "engine": _str},
        {"timing": _timing, **_revision},
    ),
    "SpeechSynthesized": _obj(
        {
            **_sentence, "audio": _artifact, "duration_ms": {"type": "integer", "minimum": 1},
            "sample_rate": {"type": "integer", "minimum": 8000}, "engine": _str, "voice": _str,
            "spoken_text": _str,
        },
        {
            "phones": {"type": ["array", "null"], "items": _obj({"symbol": _str, "start": _num, "end": _num})},
            "phone_set": _opt_str, "timing": _timing, **_revision,
        },
    ),
    "LipSyncGenerated": _obj(
        {
            **_sentence, "generator": _str,
            "cues": {
                "type": "array",
                "items": _obj({"start": _num, "end": _num, "shape": {"enum": list("ABCDEFGHX")}}),
            },
        },
        {"cues_artifact": {"oneOf": [_artifact, {"type": "null"}]}, "timing": _timing, **_revision},
    ),
    "MotionPlanned": _obj(
        {
            **_sentence, "preset": _str, "preset_version": _int,
            "keyframes": {
                "type": "object", "required": ["duration", "tracks"],
                "properties": {"duration": _num, "tracks": {"type": "array"}},
            },
        },
        {
            "layers": {"type": "array"}, "engine": _str,
            "keyframes_artifact": {"oneOf": [_artifact, {"type": "null"}]}, "timing": _timing,
            **_revision,
        },
    ),
    "StageFailed": _obj(
        {"stage": {"enum": ["llm", "sentiment", "tts", "lipsync", "motion"]}, "error": _str, "fallback": _str},
        {"engine": _str, "turn_id": _opt_str, "index": {"type": ["integer", "null"]}, **_revision},
    ),
    "TurnCompleted": _obj(
        {"turn_id": _str, "sentence_count": _int, "timings": {"type": "object", "required": ["stages"]}},
        {"failures": _int},
    ),
    "TurnInterrupted": _obj(
        {"turn_id": _str, "heard_sentences": _int, "heard_text": _str},
        {"partial_index": {"type": ["integer", "null"], "minimum": 0},
         "partial_ms": {"type": ["integer", "null"], "minimum": 0}},
    ),
    "SentenceRevised": _obj(
        {
            **_sentence, "revision": {"type": "integer", "minimum": 1}, "based_on": _int,
            "text": {"type": "string", "minLength": 1},
        },
        {
            "emotion": {"enum": [*_emotion["enum"], None]}, "action": _opt_str,
            "reason": {"enum": ["edit", "rerender"]}, "editor": _str, "render_id": _opt_str,
        },
    ),
    "SessionRerenderRequested": _obj(
        {
            "render_id": _str, "requested_by": _str,
            "sentences": {
                "type": "array",
                "items": _obj({**_sentence, "revision": {"type": "integer", "minimum": 1}}),
            },
        },
        {"engines": {"type": "object", "additionalProperties": _str}},
    ),
    "SessionRerenderCompleted": _obj({"render_id": _str, "sentence_count": _int}, {"failures": _int}),
}

ENVELOPE_SCHEMA: dict[str, Any] = _obj(
    {
        "session_id": _str, "seq": {"type": "integer", "minimum": 1}, "type": {"enum": sorted(DATA_SCHEMAS)},
        "version": {"type": "integer", "minimum": 1}, "data": {"type": "object"}, "ts": _str,
    }
)
