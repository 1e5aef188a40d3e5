"""Upcasters: bring a stored event's data from an old schema version to the current one.

Stored events are never rewritten; they are upcast on read. Each upcaster takes the
data of version N and returns the data of version N + 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .events import EVENT_TYPES

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]


def _sentiment_v1_to_v2(data: Data) -> Data:
    # v1 stored only the winning label and its score; v2 keeps a score per emotion
    # and names the engine. The other emotions' scores are unknown: share the rest.
    label, score = data["label"], float(data.get("score", 1.0))
    emotions = ("happy", "sad", "neutral", "thinking")
    rest = max(0.0, 1.0 - score) / (len(emotions) - 1)
    scores = {e: (score if e == label else rest) for e in emotions}
    new = {k: v for k, v in data.items() if k != "score"}
    return {**new, "scores": scores, "engine": data.get("engine", "unknown")}


def _sentence_v1_to_v2(data: Data) -> Data:
    # v2 added the emotion the LLM may ask for; v1 sentences asked for none.
    return {**data, "emotion": None}


def _add_revision(data: Data) -> Data:
    # Revisions (edits and re-renders) came later: everything stored before was
    # rendered for the sentence as generated, revision 0.
    return {**data, "revision": 0}


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("SentimentAnalyzed", 1): _sentiment_v1_to_v2,
    ("SentenceGenerated", 1): _sentence_v1_to_v2,
    ("SentimentAnalyzed", 2): _add_revision,
    ("SpeechSynthesized", 1): _add_revision,
    ("LipSyncGenerated", 1): _add_revision,
    ("MotionPlanned", 1): _add_revision,
    ("StageFailed", 1): _add_revision,
}


def upcast(event_type: str, version: int, data: Data) -> tuple[int, Data]:
    """Apply upcasters until ``data`` matches the current version of ``event_type``."""
    target = EVENT_TYPES[event_type].VERSION
    if version > target:
        raise ValueError(f"{event_type} v{version} is newer than this code (v{target})")
    while version < target:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise ValueError(f"no upcaster for {event_type} v{version}")
        data = step(data)
        version += 1
    return version, data
