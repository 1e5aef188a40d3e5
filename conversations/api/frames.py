"""WebSocket frames: parsing what clients send, building what the server sends.

Pure functions (no I/O) so that every rule about a frame is testable on its own. A
rejected client frame becomes a ``FrameError`` with a stable ``code`` for the client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from conversations.eventstore import RecordedEvent

from .schemas import ARTIFACT_FIELDS

MAX_CLIENT_MSG_ID = 100
MAX_TURN_ID = 64
MAX_INT = 2**31 - 1  # the store's sequence numbers are 32-bit; so are playback positions


class FrameError(Exception):
    """A client frame that is refused; the connection stays open."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, self.message, **self.extra)


@dataclass(frozen=True)
class Say:
    text: object  # checked by the domain's validation, which owns the rules for text
    client_msg_id: str | None = None
    mode: str | None = None


@dataclass(frozen=True)
class Resume:
    after_seq: int


@dataclass(frozen=True)
class Interrupt:
    turn_id: str | None = None
    played_index: int | None = None
    played_ms: int | None = None


ClientFrame = Say | Resume | Interrupt


# --- Parsing --------------------------------------------------------------------------------


def parse(text: str | None, data: bytes | None, max_bytes: int) -> ClientFrame:
    """One WebSocket message -> a client frame, or FrameError saying what is wrong."""
    if data is not None:
        raise FrameError("binary_not_supported", "Бинарные кадры не поддерживаются: отправляйте JSON-текст.")
    if text is None or not text.strip():
        raise FrameError("bad_json", "Пустой кадр: ожидается JSON-объект.")
    # Characters are at least one byte each: the cheap check first, the exact one after.
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise FrameError("too_large", f"Кадр больше {max_bytes} байт.")
    payload = load_json(text)
    if not isinstance(payload, dict):
        raise FrameError("bad_request", "Кадр должен быть JSON-объектом с полем type.")
    frame_type = payload.get("type")
    if not isinstance(frame_type, str):
        raise FrameError("bad_request", "В кадре нет поля type.")
    parser = _PARSERS.get(frame_type)
    if parser is None:
        raise FrameError("unknown_type", f"Неизвестный тип кадра: {frame_type[:40]!r}.")
    return parser(payload)


def load_json(text: str | bytes) -> Any:
    """Strict JSON: NaN and Infinity are refused, as are documents nested too deep."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the limit
        raise FrameError("bad_json", "Кадр не является корректным JSON.") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_say(p: Mapping[str, Any]) -> Say:
    if "text" not in p:
        raise FrameError("bad_request", "В кадре say нет поля text.")
    client_msg_id = _optional_str(p, "client_msg_id", MAX_CLIENT_MSG_ID)
    mode = p.get("mode")
    if mode is not None and mode not in ("llm", "speak"):
        raise FrameError("bad_request", "Поле mode может быть только \"llm\" или \"speak\".")
    return Say(text=p["text"], client_msg_id=client_msg_id, mode=mode)


def parse_resume(p: Mapping[str, Any]) -> Resume:
    after_seq = _optional_int(p, "after_seq")
    if after_seq is None:
        raise FrameError("bad_request", "В кадре resume нужно целое after_seq ≥ 0.")
    return Resume(after_seq=after_seq)


def parse_interrupt(p: Mapping[str, Any]) -> Interrupt:
    return Interrupt(
        turn_id=_optional_str(p, "turn_id", MAX_TURN_ID),
        played_index=_optional_int(p, "played_index"),
        played_ms=_optional_int(p, "played_ms"),
    )


# The fixed table of frame types: client input selects an entry, never a method by name.
_PARSERS: dict[str, Callable[[Mapping[str, Any]], ClientFrame]] = {
    "say": parse_say,
    "resume": parse_resume,
    "interrupt": parse_interrupt,
}


def _optional_str(p: Mapping[str, Any], name: str, max_len: int) -> str | None:
    value = p.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise FrameError("bad_request", f"Поле {name} должно быть строкой длиной от 1 до {max_len}.")
    return value


def _optional_int(p: Mapping[str, Any], name: str) -> int | None:
    value = p.get(name)
    if value is None:
        return None
    # bool is an int in Python, but `true` is not a number in the protocol.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise FrameError("bad_request", f"Поле {name} должно быть целым числом от 0 до {MAX_INT}.")
    return value


# --- Building -------------------------------------------------------------------------------


def artifact_url(session_id: uuid.UUID | str, sha256: str) -> str:
    return reverse("conversations-api:artifact", kwargs={"session_id": session_id, "sha256": sha256})


def event_frame(event: RecordedEvent) -> dict[str, Any]:
    """A stored event as sent to clients; artifact references get the URL to fetch them."""
    data = dict(event.data)
    for name in ARTIFACT_FIELDS:
        ref = data.get(name)
        if isinstance(ref, dict) and isinstance(ref.get("sha256"), str):
            data[name] = {**ref, "url": artifact_url(event.session_id, ref["sha256"])}
    return {"seq": event.seq, "type": event.type, "version": event.version, "data": data, "ts": event.ts.isoformat()}


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **{k: v for k, v in extra.items() if v is not None}}


def hello_frame(session_id: uuid.UUID, head_seq: int, max_frame_bytes: int) -> dict[str, Any]:
    return {"type": "hello", "session_id": str(session_id), "head_seq": head_seq, "max_frame_bytes": max_frame_bytes}


def ack_frame(for_type: str, event: RecordedEvent) -> dict[str, Any]:
    frame = {"type": "ack", "for": for_type, "seq": event.seq, "turn_id": event.data["turn_id"]}
    if for_type == "say":
        frame["client_msg_id"] = event.data.get("client_msg_id")
    return frame


def encode(frame: Mapping[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
