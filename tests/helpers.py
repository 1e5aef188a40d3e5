"""Checks shared by the end-to-end tests: what a complete, well-formed turn looks like."""

from __future__ import annotations

import io
import itertools
import time
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from conversations import eventstore
from conversations.domain.events import SENTENCE_EVENTS
from conversations.domain.schemas import DATA_SCHEMAS, ENVELOPE_SCHEMA
from conversations.eventstore import RecordedEvent
from synthesis import artifacts


class EngineConfig(dict[str, Any]):
    """A copy of the engine configuration that a test changes and then applies."""

    def __init__(self, raw: dict[str, Any], *, path: Path, settings: Any) -> None:
        super().__init__(raw)
        self._path, self._settings = path, settings

    def apply(self) -> None:
        self._path.write_text(yaml.safe_dump(dict(self), allow_unicode=True), encoding="utf-8")
        self._settings.AVATAR_CONFIG_FILE = self._path


def validate_event(event: RecordedEvent) -> None:
    wire = event.to_json()
    jsonschema.validate(wire, ENVELOPE_SCHEMA)
    jsonschema.validate(wire["data"], DATA_SCHEMAS[event.type])


def wait_for_turn(session_id: Any, turn_id: str, timeout: float = 240.0) -> list[RecordedEvent]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e for e in eventstore.read(session_id) if e.data.get("turn_id") == turn_id]
        if any(e.type == "TurnCompleted" for e in events):
            return events
        time.sleep(0.1)
    seen = [e.type for e in eventstore.read(session_id)]
    raise AssertionError(f"turn {turn_id} did not complete in {timeout} s; events: {seen}")


def wav_stats(data: bytes) -> tuple[int, float, float]:
    """(sample rate, duration in seconds, RMS in [0, 1]) of a mono 16-bit WAV."""
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
        return w.getframerate(), w.getnframes() / w.getframerate(), float(np.sqrt(np.mean(frames**2)))


def assert_cues_cover(cues: Sequence[dict[str, Any]], duration_s: float) -> None:
    assert cues, "no mouth cues"
    assert cues[0]["start"] == 0
    assert abs(cues[-1]["end"] - duration_s) < 0.03, (cues[-1], duration_s)
    for a, b in itertools.pairwise(cues):
        assert a["end"] == b["start"] and a["start"] < a["end"], (a, b)
    assert {c["shape"] for c in cues} <= set("ABCDEFGHX")


def assert_complete_turn(events: Sequence[RecordedEvent], *, allow_failures: bool = False) -> dict[str, Any]:
    """A turn's events are well formed, every sentence went through every stage."""
    for event in events:
        validate_event(event)
    types = [e.type for e in events]
    assert types[0] == "UserMessageReceived" and types[-1] == "TurnCompleted", types
    reply = next(e for e in events if e.type == "ReplyGenerated")
    count = reply.data["sentence_count"]
    assert count >= 1
    if not allow_failures:
        assert "StageFailed" not in types, [e.data for e in events if e.type == "StageFailed"]
    for index in range(count):
        mine = {e.type: e for e in events if e.type in SENTENCE_EVENTS and e.data["index"] == index}
        assert set(mine) == SENTENCE_EVENTS, (index, sorted(mine))
        speech = mine["SpeechSynthesized"].data
        rate, seconds, rms = wav_stats(artifacts.read(speech["audio"]))
        assert rate == speech["sample_rate"] and abs(seconds * 1000 - speech["duration_ms"]) < 30
        assert rms > 0.01, f"sentence {index} audio is silent (rms {rms:.4f})"
        assert_cues_cover(mine["LipSyncGenerated"].data["cues"], seconds)
        assert mine["MotionPlanned"].data["keyframes"]["tracks"], "no motion tracks"
        assert mine["MotionPlanned"].data["preset"] != "rest", "no presets in the database"
    completed = events[-1].data
    assert completed["sentence_count"] == count
    assert set(completed["timings"]["stages"]) >= {"llm", "sentiment", "tts", "lipsync", "motion"}
    return completed
