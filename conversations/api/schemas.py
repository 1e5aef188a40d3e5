"""JSON Schemas of the client protocol: WebSocket frames both ways and HTTP bodies.

Tests validate every frame the server sends against ``SERVER_FRAME_SCHEMA`` and every
HTTP response body against its schema here; docs/protocol.md describes the same shapes.
Event ``data`` is checked against ``conversations.domain.schemas.DATA_SCHEMAS``.
"""

from __future__ import annotations

from typing import Any

from conversations.domain.schemas import DATA_SCHEMAS

# Fields of event data that reference an artifact; the server adds a ``url`` to each.
ARTIFACT_FIELDS = ("audio", "cues_artifact", "keyframes_artifact")

ERROR_CODES = (
    "bad_json", "binary_not_supported", "too_large", "unknown_type", "bad_request", "forbidden",
    "rate_limited", "invalid_message", "no_active_turn", "server_error",
)
INVALID_MESSAGE_REASONS = ("empty", "too_long", "control_characters", "not_text")

_uint = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
_seq = {"type": "integer", "minimum": 1}
_uuid = {"type": "string", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
_client_msg_id = {"type": ["string", "null"], "minLength": 1, "maxLength": 100}
_turn_id = {"type": "string", "minLength": 1, "maxLength": 64}


def _frame(frame_type: str, required: dict[str, Any], optional: dict[str, Any] | None = None,
           *, closed: bool = True) -> dict[str, Any]:
    props = {"type": {"const": frame_type}, **required, **(optional or {})}
    return {
        "type": "object", "required": ["type", *sorted(required)], "properties": props,
        "additionalProperties": not closed,
    }


# --- Client -> server (unknown extra fields are ignored, for forward compatibility) -----
SAY_SCHEMA = _frame(
    "say", {"text": {"type": "string"}},
    {"client_msg_id": _client_msg_id, "mode": {"enum": ["llm", "speak"]}}, closed=False,
)
RESUME_SCHEMA = _frame("resume", {"after_seq": _uint}, closed=False)
INTERRUPT_SCHEMA = _frame(
    "interrupt", {},
    {"turn_id": {"oneOf": [_turn_id, {"type": "null"}]},
     "played_index": {"oneOf": [_uint, {"type": "null"}]},
     "played_ms": {"oneOf": [_uint, {"type": "null"}]}},
    closed=False,
)
CLIENT_FRAME_SCHEMAS: dict[str, dict[str, Any]] = {
    "say": SAY_SCHEMA, "resume": RESUME_SCHEMA, "interrupt": INTERRUPT_SCHEMA,
}

# --- Server -> client ---------------------------------------------------------------------
HELLO_SCHEMA = _frame("hello", {"session_id": _uuid, "head_seq": _uint, "max_frame_bytes": _uint})
ACK_SCHEMA = _frame(
    "ack", {"for": {"enum": ["say", "interrupt"]}, "seq": _seq, "turn_id": _turn_id},
    {"client_msg_id": _client_msg_id},
)
ERROR_SCHEMA = _frame(
    "error", {"code": {"enum": list(ERROR_CODES)}, "message": {"type": "string", "minLength": 1}},
    {
        "reason": {"enum": list(INVALID_MESSAGE_REASONS)},
        "retry_after": {"type": "number", "exclusiveMinimum": 0},
        "client_msg_id": _client_msg_id,
    },
)
_ARTIFACT_URL = {"type": "string", "pattern": "^/.*/sessions/[0-9a-f-]{36}/artifacts/[0-9a-f]{64}$"}
_artifact_with_url = {
    "anyOf": [{"type": "null"}, {"type": "object", "required": ["url"], "properties": {"url": _ARTIFACT_URL}}]
}


def _event_frame_schema() -> dict[str, Any]:
    per_type = [
        {"if": {"properties": {"type": {"const": name}}}, "then": {"properties": {"data": schema}}}
        for name, schema in sorted(DATA_SCHEMAS.items())
    ]
    return {
        "type": "object",
        "required": ["seq", "type", "version", "data", "ts"],
        "properties": {
            "seq": _seq,
            "type": {"enum": sorted(DATA_SCHEMAS)},
            "version": {"type": "integer", "minimum": 1},
            "data": {"type": "object", "properties": dict.fromkeys(ARTIFACT_FIELDS, _artifact_with_url)},
            "ts": {"type": "string", "format": "date-time", "minLength": 20},
        },
        "additionalProperties": False,
        "allOf": per_type,
    }


EVENT_FRAME_SCHEMA = _event_frame_schema()
SERVER_FRAME_SCHEMA: dict[str, Any] = {
    "oneOf": [EVENT_FRAME_SCHEMA, HELLO_SCHEMA, ACK_SCHEMA, ERROR_SCHEMA],
}

# --- HTTP response bodies -----------------------------------------------------------------
_WS_URL = {"type": "string", "pattern": "^/.*ws/sessions/[0-9a-f-]{36}/$"}
SESSION_CREATED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["session_id", "token", "ws_url", "events_url"],
    "properties": {
        "session_id": _uuid, "token": {"type": "string", "minLength": 32}, "ws_url": _WS_URL,
        "events_url": {"type": "string"},
    },
    "additionalProperties": False,
}
EVENTS_PAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events", "head_seq", "has_more"],
    "properties": {"events": {"type": "array", "items": EVENT_FRAME_SCHEMA}, "head_seq": _uint,
                   "has_more": {"type": "boolean"}},
    "additionalProperties": False,
}
ACCEPTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["seq", "turn_id"],
    "properties": {"seq": _seq, "turn_id": _turn_id, "client_msg_id": _client_msg_id},
    "additionalProperties": False,
}
HTTP_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"enum": [*ERROR_CODES, "unauthorized", "not_found", "method_not_allowed", "csrf_failed"]},
                "message": {"type": "string", "minLength": 1},
                "reason": {"enum": list(INVALID_MESSAGE_REASONS)},
                "retry_after": {"type": "number", "exclusiveMinimum": 0},
            },
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}
