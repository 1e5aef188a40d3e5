"""Client frames: the parser accepts exactly what the schemas describe, and says why not."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from conversations.api import frames
from conversations.api.schemas import CLIENT_FRAME_SCHEMAS, ERROR_SCHEMA

MAX = 16 * 1024

VALID = [
    {"type": "say", "text": "Привет!"},
    {"type": "say", "text": "Привет!", "client_msg_id": "m-1", "mode": "llm"},
    {"type": "say", "text": "Привет!", "client_msg_id": None, "mode": "speak", "extra": 1},
    {"type": "resume", "after_seq": 0},
    {"type": "resume", "after_seq": 2**31 - 1},
    {"type": "interrupt"},
    {"type": "interrupt", "turn_id": "t-1", "played_index": 0, "played_ms": 1500},
    {"type": "interrupt", "turn_id": None, "played_index": None, "played_ms": None},
]

INVALID = [
    ({"type": "say"}, "bad_request"),
    ({"type": "say", "text": "x", "client_msg_id": ""}, "bad_request"),
    ({"type": "say", "text": "x", "client_msg_id": "m" * 101}, "bad_request"),
    ({"type": "say", "text": "x", "client_msg_id": 5}, "bad_request"),
    ({"type": "say", "text": "x", "mode": "shout"}, "bad_request"),
    ({"type": "resume"}, "bad_request"),
    ({"type": "resume", "after_seq": -1}, "bad_request"),
    ({"type": "resume", "after_seq": True}, "bad_request"),
    ({"type": "resume", "after_seq": 1.5}, "bad_request"),
    ({"type": "resume", "after_seq": "3"}, "bad_request"),
    ({"type": "resume", "after_seq": 2**31}, "bad_request"),
    ({"type": "interrupt", "played_ms": -5}, "bad_request"),
    ({"type": "interrupt", "turn_id": "t" * 65}, "bad_request"),
    ({"type": "hello"}, "unknown_type"),
    ({"type": "session.events"}, "unknown_type"),
    ({"type": "__init__"}, "unknown_type"),
    ({"type": 1}, "bad_request"),
    ({"text": "x"}, "bad_request"),
]


@pytest.mark.parametrize("payload", VALID)
def test_valid_frames_parse_and_match_their_schema(payload: dict[str, Any]) -> None:
    frame = frames.parse(json.dumps(payload), None, MAX)
    jsonschema.validate(payload, CLIENT_FRAME_SCHEMAS[payload["type"]])
    assert type(frame).__name__.lower() == payload["type"]


@pytest.mark.parametrize(("payload", "code"), INVALID)
def test_invalid_frames_are_refused_with_a_code(payload: dict[str, Any], code: str) -> None:
    with pytest.raises(frames.FrameError) as info:
        frames.parse(json.dumps(payload), None, MAX)
    assert info.value.code == code
    jsonschema.validate(info.value.frame(), ERROR_SCHEMA)
    schema = CLIENT_FRAME_SCHEMAS.get(payload.get("type"))  # type: ignore[arg-type]
    if schema is not None:  # the schema refuses it too
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(payload, schema)


@pytest.mark.parametrize(
    ("text", "data", "code"),
    [
        (None, b"\x00\x01", "binary_not_supported"),
        (None, b'{"type": "say", "text": "x"}', "binary_not_supported"),
        ("", None, "bad_json"),
        ("   \n", None, "bad_json"),
        ("{", None, "bad_json"),
        ("привет", None, "bad_json"),
        ('{"type": "resume", "after_seq": NaN}', None, "bad_json"),
        ('{"type": "resume", "after_seq": Infinity}', None, "bad_json"),
        ("[" * 5000 + "]" * 5000, None, "bad_json"),  # deeper than the JSON parser's recursion
        ("1" * 5000, None, "bad_json"),  # longer than Python's int-from-text limit
        ("[]", None, "bad_request"),
        ('"say"', None, "bad_request"),
        ("null", None, "bad_request"),
        (json.dumps({"type": "say", "text": "а" * (MAX // 2)}), None, "too_large"),  # 2 bytes a letter
        ("x" * (MAX + 1), None, "too_large"),
    ],
)
def test_malformed_messages(text: str | None, data: bytes | None, code: str) -> None:
    with pytest.raises(frames.FrameError) as info:
        frames.parse(text, data, MAX)
    assert info.value.code == code and info.value.message


def test_a_frame_of_exactly_the_limit_passes() -> None:
    payload = json.dumps({"type": "say", "text": ""})
    text = payload[:-2] + " " * (MAX - len(payload)) + payload[-2:]
    assert len(text.encode()) == MAX
    assert isinstance(frames.parse(text, None, MAX), frames.Say)
