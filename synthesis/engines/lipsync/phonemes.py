"""Lip-sync from the TTS engine's own phone timings (exact sync, ~1 ms of work).

Also home of ``build_cues``, the clean-up shared with the text aligner: whatever
produced the raw shape segments, the result must cover [0, duration] without
gaps or overlaps, change shape at most every ~40 ms (2-3 video frames; faster
flicker reads as noise, not speech) and rest (X) in silences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from synthesis.engines.lipsync.shapes import PHONE_SETS, REST, shape_for_phone
from synthesis.interfaces import Availability, EngineError, MouthCue, SpeechAudio

MIN_CUE = 0.04  # seconds
_EPSILON = 1e-9  # float slack, so a cue lengthened to exactly MIN_CUE counts as long enough


class PhonemeLipSync:
    """Mouth cues from ``SpeechAudio.phones`` through the phone-set tables."""

    name: ClassVar[str] = "phonemes"

    def __init__(self, *, min_cue: float = MIN_CUE) -> None:
        self.min_cue = min_cue

    @classmethod
    def availability(cls) -> Availability:
        return Availability(True)

    def generate(self, audio: SpeechAudio) -> list[MouthCue]:
        if audio.phones is None:
            raise EngineError("audio has no phone timings; use an aligner")
        if audio.phone_set not in PHONE_SETS:
            raise EngineError(f"no mouth-shape table for phone set {audio.phone_set!r}")
        phone_set = audio.phone_set
        segments = [
            MouthCue(phone.start, phone.end, shape_for_phone(phone_set, phone.symbol)) for phone in audio.phones
        ]
        return build_cues(segments, audio.duration_ms / 1000.0, min_cue=self.min_cue)


def build_cues(segments: Sequence[MouthCue], duration: float, *, min_cue: float = MIN_CUE) -> list[MouthCue]:
    """Clean raw shape segments into cues that tile [0, duration] exactly.

    Segments are clamped to the audio, overlaps cut, gaps filled with X; then
    equal neighbours are merged and cues shorter than ``min_cue`` are absorbed.
    """
    if duration <= 0:
        return []
    times, shapes = _tile(segments, duration)
    _merge_equal(times, shapes)
    _absorb_short(times, shapes, min_cue)
    return [MouthCue(times[i], times[i + 1], shape) for i, shape in enumerate(shapes)]


# The cue sequence is kept as boundaries ``times`` (n + 1 values, 0 .. duration)
# and ``shapes`` (n values): merging two cues is deleting the boundary between
# them, so coverage without gaps or overlaps holds by construction.


def _tile(segments: Sequence[MouthCue], duration: float) -> tuple[list[float], list[str]]:
    times = [0.0]
    shapes: list[str] = []
    for segment in sorted(segments, key=lambda cue: cue.start):
        start = max(segment.start, times[-1])  # cut overlaps with what came before
        end = min(segment.end, duration)
        if end <= start:
            continue
        if start > times[-1]:
            _append(times, shapes, start, REST)  # a gap: nothing is being said
        _append(times, shapes, end, segment.shape)
    if times[-1] < duration:
        _append(times, shapes, duration, REST)
    times[-1] = duration  # exact, whatever float rounding came before
    return times, shapes


def _append(times: list[float], shapes: list[str], end: float, shape: str) -> None:
    times.append(end)
    shapes.append(shape)


def _merge_equal(times: list[float], shapes: list[str]) -> None:
    index = 1
    while index < len(shapes):
        if shapes[index] == shapes[index - 1]:
            del times[index], shapes[index]
        else:
            index += 1


def _absorb_short(times: list[float], shapes: list[str], min_cue: float) -> None:
    """Remove cues shorter than ``min_cue``, shortest first.

    A short sound is first lengthened by borrowing time from a neighbour that can
    spare it: fast speech (espeak's vowels last ~30 ms) would otherwise lose its
    vowels between consonants and the mouth would stay shut through "мама".
    Only when no neighbour can spare the time is it merged (``_absorb_into``).
    Short pauses are never lengthened: a 20 ms gap between words is no rest.
    """
    while len(shapes) > 1:
        index = min(range(len(shapes)), key=lambda i: times[i + 1] - times[i])
        if times[index + 1] - times[index] >= min_cue - _EPSILON:
            return
        if shapes[index] == REST or not _lengthen(times, index, min_cue):
            _absorb_into(times, shapes, index)
            _merge_equal(times, shapes)


def _lengthen(times: list[float], index: int, min_cue: float) -> bool:
    """Grow cue ``index`` to ``min_cue`` at the expense of its longer neighbour."""
    missing = min_cue - (times[index + 1] - times[index])
    left = times[index] - times[index - 1] if index > 0 else 0.0
    right = times[index + 2] - times[index + 1] if index + 2 < len(times) else 0.0
    if left >= right and left - missing >= min_cue:
        times[index] -= missing
        return True
    if right > left and right - missing >= min_cue:
        times[index + 1] += missing
        return True
    return False


def _absorb_into(times: list[float], shapes: list[str], index: int) -> None:
    """Give cue ``index``'s time to a neighbour.

    A short sound next to a pause joins the sound, not the pause (it is audible);
    otherwise the longer neighbour wins, since it is the one the eye sees.
    """
    neighbours = [i for i in (index - 1, index + 1) if 0 <= i < len(shapes)]
    if shapes[index] != REST:
        neighbours = [i for i in neighbours if shapes[i] != REST] or neighbours
    target = max(neighbours, key=lambda i: times[i + 1] - times[i])
    # Deleting the boundary between index and target merges them under target's shape.
    boundary = index if target < index else index + 1
    shapes[index] = shapes[target]
    del times[boundary], shapes[index]
