"""Lip-sync for any audio + text, when the TTS engine gives no phone timings.

1. Speech regions come from the RMS energy envelope: frames above a threshold
   relative to the loud part of the audio, with short dips (stop closures) kept
   inside speech and only pauses of ``min_pause`` or more counted as pauses.
2. The text becomes a sequence of letter sounds (``shapes.letter_sounds``).
3. The sounds are split into one group per speech region, choosing split points
   that keep each group's share of the text close to its region's share of the
   speaking time while preferring sentence and clause punctuation, then word
   boundaries (dynamic programming over the split positions).
4. Inside a region the sounds share its time in proportion to their weights.

Silences get X; ``build_cues`` makes the result tile [0, duration].
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from synthesis.audio import DEFAULT_SILENCE_RMS, read_wav, rms_envelope
from synthesis.engines.lipsync.phonemes import MIN_CUE, build_cues
from synthesis.engines.lipsync.shapes import letter_sounds
from synthesis.interfaces import Availability, EngineError, MouthCue, SpeechAudio

# Cost (in seconds of misplacement) of splitting the text at each kind of place:
# a pause in the audio is most likely at a sentence end, then at a comma, rarely
# between words and almost never inside one.
SPLIT_COST_SENTENCE = 0.0
SPLIT_COST_CLAUSE = 0.03
SPLIT_COST_WORD = 0.12
SPLIT_COST_IN_WORD = 0.4

# Vowels last a bit longer than consonants in Russian speech (Festival's timings
# here: ~60-170 ms against ~30-170 ms).
VOWEL_WEIGHT = 1.2
CONSONANT_WEIGHT = 1.0
UNKNOWN_SPEECH_SHAPE = "C"  # speech heard but no text to read: an open mouth

# Words (letters/digits, inner ' and -), sentence ends, clause breaks.
_TOKENS = re.compile(
    r"(?P<word>[^\W_]+(?:['\-][^\W_]+)*)"
    r"|(?P<sentence>[.!?\u2026])"
    r"|(?P<clause>[,;:\u2014\u2013()\"\u00ab\u00bb])"
)


@dataclass(frozen=True)
class Unit:
    """One letter sound with its weight and the cost of a pause right after it."""

    shape: str
    weight: float
    split_cost: float


Region = tuple[float, float]  # (start, end) in seconds


class TextAudioAligner:
    """Approximate mouth cues from the audio's energy and the text's letters."""

    name: ClassVar[str] = "aligner"

    def __init__(
        self,
        *,
        frame_ms: float = 10.0,
        min_pause: float = 0.12,
        min_speech: float = 0.04,
        relative_threshold: float = 0.04,
        silence_rms: float = DEFAULT_SILENCE_RMS,
        min_cue: float = MIN_CUE,
    ) -> None:
        self.frame_ms = frame_ms
        self.min_pause = min_pause
        self.min_speech = min_speech
        self.relative_threshold = relative_threshold
        self.silence_rms = silence_rms
        self.min_cue = min_cue

    @classmethod
    def availability(cls) -> Availability:
        return Availability(True)

    def generate(self, audio: SpeechAudio) -> list[MouthCue]:
        try:
            samples, rate = read_wav(audio.wav)
        except ValueError as exc:
            raise EngineError(f"aligner cannot read the audio: {exc}") from exc
        duration = audio.duration_ms / 1000.0
        regions = self.speech_regions(samples, rate)
        segments = distribute(text_units(audio.text), regions)
        return build_cues(segments, duration, min_cue=self.min_cue)

    def speech_regions(self, samples: np.ndarray, rate: int) -> list[Region]:
        """Where someone is speaking, as (start, end) seconds, in time order."""
        envelope = rms_envelope(samples, rate, self.frame_ms)
        if len(envelope) == 0:
            return []
        # Relative to the loud part so quiet voices work; never below the floor
        # so that digital near-silence is not "speech" in a silent file.
        loud = float(np.percentile(envelope, 95))
        threshold = max(self.silence_rms, self.relative_threshold * loud)
        frame = self.frame_ms / 1000.0
        regions = [(first * frame, last * frame) for first, last in _runs(envelope > threshold)]
        regions = _close_gaps(regions, self.min_pause)
        end = len(samples) / rate
        return [(start, min(stop, end)) for start, stop in regions if stop - start >= self.min_speech]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[first, last) frame index pairs of the True runs in ``mask``."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(edges[i]), int(edges[i + 1])) for i in range(0, len(edges), 2)]


def _close_gaps(regions: list[Region], min_pause: float) -> list[Region]:
    merged: list[Region] = []
    for start, end in regions:
        if merged and start - merged[-1][1] < min_pause:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def text_units(text: str) -> list[Unit]:
    """Letter sounds of ``text`` with split costs from word and punctuation breaks."""
    units: list[Unit] = []
    for match in _TOKENS.finditer(text):
        word = match.group("word")
        if word is None:
            cost = SPLIT_COST_SENTENCE if match.group("sentence") else SPLIT_COST_CLAUSE
            if units and cost < units[-1].split_cost:
                units[-1] = Unit(units[-1].shape, units[-1].weight, cost)
            continue
        sounds = [sound for char in word for sound in letter_sounds(char)]
        for index, sound in enumerate(sounds):
            weight = VOWEL_WEIGHT if sound.vowel else CONSONANT_WEIGHT
            last = index == len(sounds) - 1
            units.append(Unit(sound.shape, weight, SPLIT_COST_WORD if last else SPLIT_COST_IN_WORD))
    return units


def distribute(units: Sequence[Unit], regions: Sequence[Region]) -> list[MouthCue]:
    """Spread ``units`` over the speech ``regions`` (one group per region)."""
    if not regions:
        return []
    if not units:
        return [MouthCue(start, end, UNKNOWN_SPEECH_SHAPE) for start, end in regions]
    if len(units) < len(regions):
        # More bursts of sound than letters: keep the longest regions; the rest
        # are most likely clicks or breaths and stay at rest.
        longest = sorted(regions, key=lambda region: region[1] - region[0])[-len(units) :]
        regions = sorted(longest)
    points = [0, *split_points(units, regions), len(units)]
    cues: list[MouthCue] = []
    for (start, end), first, last in zip(regions, points, points[1:], strict=False):
        cues.extend(_spread(units[first:last], start, end))
    return cues


def _spread(units: Sequence[Unit], start: float, end: float) -> list[MouthCue]:
    total = sum(unit.weight for unit in units)
    cues: list[MouthCue] = []
    elapsed = 0.0
    for unit in units:
        cue_start = start + (end - start) * elapsed / total
        elapsed += unit.weight
        cues.append(MouthCue(cue_start, start + (end - start) * elapsed / total, unit.shape))
    return cues


def split_points(units: Sequence[Unit], regions: Sequence[Region]) -> list[int]:
    """Indices that cut ``units`` into ``len(regions)`` non-empty groups.

    Minimizes, over all cuts, the sum of |text share - time share| (in seconds
    of speech) plus the split cost of each cut position. Needs
    ``len(units) >= len(regions)``.
    """
    count = len(regions) - 1
    if count == 0:
        return []
    costs = _cut_costs(units, regions)
    best = costs[0]
    back: list[list[int]] = []
    for row in costs[1:]:
        best, choice = _advance(best, row)
        back.append(choice)
    position = min(range(len(best)), key=best.__getitem__)
    points = [position]
    for choice in reversed(back):
        position = choice[position]
        points.append(position)
    return points[::-1]


def _cut_costs(units: Sequence[Unit], regions: Sequence[Region]) -> list[list[float]]:
    """costs[k][p]: cost of the k-th cut falling before unit p (p = 0 impossible)."""
    weights = np.cumsum([unit.weight for unit in units])
    durations = np.array([end - start for start, end in regions])
    speech = float(durations.sum())
    text_share = weights / weights[-1]  # share of text before the cut after unit i
    time_share = np.cumsum(durations)[:-1] / speech
    rows = []
    for share in time_share:
        row = [math.inf]
        for index in range(len(units) - 1):
            misplacement = abs(float(text_share[index]) - float(share)) * speech
            row.append(misplacement + units[index].split_cost)
        rows.append(row)
    return rows


def _advance(previous: list[float], row: list[float]) -> tuple[list[float], list[int]]:
    """One DP step: best total for each position, cutting after an earlier one."""
    totals = [math.inf] * len(row)
    choice = [-1] * len(row)
    best, best_at = math.inf, -1
    for position in range(1, len(row)):
        if previous[position - 1] < best:
            best, best_at = previous[position - 1], position - 1
        totals[position] = best + row[position]
        choice[position] = best_at
    return totals, choice
