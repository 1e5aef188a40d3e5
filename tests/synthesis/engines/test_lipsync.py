"""Lip-sync: shape tables, the cue builder, PhonemeLipSync and TextAudioAligner.

The engines run on real Festival and espeak-ng speech; the cue builder's rules
are also checked on small hand-made segment lists where the answer is exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np
import pytest

from synthesis.audio import read_wav, silence, write_wav
from synthesis.engines.lipsync.aligner import (
    SPLIT_COST_CLAUSE,
    SPLIT_COST_IN_WORD,
    SPLIT_COST_SENTENCE,
    SPLIT_COST_WORD,
    TextAudioAligner,
    text_units,
)
from synthesis.engines.lipsync.phonemes import MIN_CUE, PhonemeLipSync, build_cues
from synthesis.engines.lipsync.shapes import (
    ESPEAK_NG,
    FESTIVAL_RU,
    LETTERS,
    espeak_shape,
    letter_sounds,
)
from synthesis.engines.tts.espeak import EspeakTTS
from synthesis.engines.tts.festival import FestivalTTS
from synthesis.interfaces import MOUTH_SHAPES, EngineError, MouthCue, SpeechAudio

needs_festival = pytest.mark.skipif(not FestivalTTS.availability().ok, reason=FestivalTTS.availability().reason)
needs_espeak = pytest.mark.skipif(not EspeakTTS.availability().ok, reason=EspeakTTS.availability().reason)

FIRST = "Мама мыла раму, а папа читал газету."
SECOND = "Потом они пошли гулять в парк."


@pytest.fixture(scope="module")
def festival() -> Iterator[FestivalTTS]:
    tts = FestivalTTS()
    yield tts
    tts.close()


@pytest.fixture(scope="module")
def festival_speech(festival: FestivalTTS) -> SpeechAudio:
    return festival.synthesize(FIRST, timeout=10)


def _assert_tiles_audio(cues: Sequence[MouthCue], duration: float) -> None:
    """Cues cover [0, duration] exactly, in order, without gaps or overlaps."""
    assert cues, "no cues"
    assert cues[0].start == 0.0
    assert cues[-1].end == duration
    for before, after in itertools.pairwise(cues):
        assert before.end == after.start
        assert before.shape != after.shape, "equal neighbours should be merged"
    for cue in cues:
        assert cue.start < cue.end
        assert cue.shape in MOUTH_SHAPES


def _shape_at(cues: Sequence[MouthCue], time: float) -> str:
    return next(cue.shape for cue in cues if cue.start <= time < cue.end)


# --- tables ------------------------------------------------------------------


def test_tables_use_only_rhubarb_shapes() -> None:
    assert len(FESTIVAL_RU) == 51
    shapes = {*FESTIVAL_RU.values(), *ESPEAK_NG.values(), *(s.shape for s in LETTERS.values())}
    assert shapes <= set(MOUTH_SHAPES)


def test_tables_agree_on_key_russian_sounds() -> None:
    for festival_phone, espeak_phone, letter in [
        ("pau", "_:", None),
        ("m", "m", "м"),
        ("bb", "b", "б"),
        ("f", "f", "ф"),
        ("vv", "v", "в"),
        ("l", "l", "л"),
        ("aa", "A", "а"),
        ("oo", "o", "о"),
        ("uu", "u", "у"),
        ("ee", "e", "э"),
    ]:
        assert FESTIVAL_RU[festival_phone] == ESPEAK_NG[espeak_phone]
        if letter:
            assert letter_sounds(letter)[0].shape == FESTIVAL_RU[festival_phone]


def test_every_russian_letter_is_covered() -> None:
    alphabet = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    for letter in alphabet + alphabet.upper():
        sounds = letter_sounds(letter)
        assert sounds or letter.lower() in "ъь", letter
    assert letter_sounds("ь") == () and letter_sounds(",") == ()
    assert len(letter_sounds("7")) > 1  # a digit is read as a whole word


def test_unknown_espeak_mnemonics_fall_back_by_first_letter() -> None:
    assert espeak_shape("a:#") == "D"
    assert espeak_shape("_!!") == "X"
    assert espeak_shape("zz9") == "B"


# --- build_cues ----------------------------------------------------------------


def test_build_cues_fills_gaps_with_rest_and_cuts_overlaps() -> None:
    cues = build_cues([MouthCue(0.2, 0.5, "D"), MouthCue(0.45, 0.7, "A"), MouthCue(0.9, 1.4, "E")], 1.2)
    assert [(c.start, c.end, c.shape) for c in cues] == [
        (0.0, 0.2, "X"),
        (0.2, 0.5, "D"),
        (0.5, 0.7, "A"),
        (0.7, 0.9, "X"),
        (0.9, 1.2, "E"),
    ]


def test_build_cues_lengthens_short_sounds_from_long_neighbours() -> None:
    # Fast speech: a 20 ms vowel between closures must stay visible.
    cues = build_cues([MouthCue(0.0, 0.1, "A"), MouthCue(0.1, 0.12, "D"), MouthCue(0.12, 0.3, "A")], 0.3)
    assert [c.shape for c in cues] == ["A", "D", "A"]
    assert all(c.end - c.start >= MIN_CUE - 1e-9 for c in cues)


def test_build_cues_merges_short_sounds_when_nothing_can_be_spared() -> None:
    segments = [MouthCue(i * 0.02, (i + 1) * 0.02, "BC"[i % 2]) for i in range(10)]
    cues = build_cues(segments, 0.2)
    _assert_tiles_audio(cues, 0.2)
    assert all(c.end - c.start >= MIN_CUE - 1e-9 for c in cues)


def test_build_cues_drops_short_pauses_into_speech() -> None:
    cues = build_cues([MouthCue(0.0, 0.3, "D"), MouthCue(0.32, 0.6, "E")], 0.6)
    assert [c.shape for c in cues] == ["D", "E"]


def test_build_cues_on_empty_input() -> None:
    assert build_cues([], 0.0) == []
    assert build_cues([], 0.5) == [MouthCue(0.0, 0.5, "X")]


# --- PhonemeLipSync ----------------------------------------------------------


@needs_festival
def test_phoneme_cues_follow_festival_phones(festival_speech: SpeechAudio) -> None:
    cues = PhonemeLipSync().generate(festival_speech)
    duration = festival_speech.duration_ms / 1000
    _assert_tiles_audio(cues, duration)
    assert all(c.end - c.start >= MIN_CUE - 1e-9 for c in cues)
    phones = festival_speech.phones or ()
    for phone in phones:
        middle = (phone.start + phone.end) / 2
        if phone.symbol == "pau" and phone.end - phone.start > 0.1:
            assert _shape_at(cues, middle) == "X"
        if phone.symbol in ("m", "p") and phone.end - phone.start >= MIN_CUE:
            assert _shape_at(cues, middle) == "A"  # lips close on м/п
    # "мама", "папа": the mouth closes and opens several times.
    assert sum(c.shape == "A" for c in cues) >= 6
    assert {"D", "A", "X"} <= {c.shape for c in cues}


@needs_espeak
def test_phoneme_cues_from_espeak_keep_fast_vowels() -> None:
    audio = EspeakTTS().synthesize(FIRST, timeout=5)
    cues = PhonemeLipSync().generate(audio)
    _assert_tiles_audio(cues, audio.duration_ms / 1000)
    # Every stressed "а" of мама/папа/читал/газету shows as an open mouth (D).
    assert sum(c.shape == "D" for c in cues) >= 5


def test_phoneme_lipsync_needs_known_timings() -> None:
    audio = SpeechAudio(wav=write_wav(silence(0.2, 16000), 16000), sample_rate=16000, duration_ms=200, text="а")
    with pytest.raises(EngineError):
        PhonemeLipSync().generate(audio)
    with pytest.raises(EngineError):
        PhonemeLipSync().generate(replace(audio, phones=(), phone_set="klingon"))
    assert PhonemeLipSync.availability().ok


# --- TextAudioAligner ----------------------------------------------------------


def test_text_units_mark_word_and_punctuation_breaks() -> None:
    units = text_units("Мама, мыла раму. Ну")
    assert [u.shape for u in units] == list("ADAD") + list("ACHD") + list("BDAF") + list("BF")
    costs = [u.split_cost for u in units]
    assert costs[3] == SPLIT_COST_CLAUSE
    assert costs[7] == SPLIT_COST_WORD
    assert costs[11] == SPLIT_COST_SENTENCE
    assert costs[0] == SPLIT_COST_IN_WORD


@needs_festival
def test_aligner_rests_on_an_inserted_silence(festival: FestivalTTS) -> None:
    first = festival.synthesize(FIRST, timeout=10)
    second = festival.synthesize(SECOND, timeout=10)
    one, rate = read_wav(first.wav)
    two, _ = read_wav(second.wav)
    gap_start = len(one) / rate
    samples = np.concatenate([one, silence(0.5, rate), two])
    audio = SpeechAudio(
        wav=write_wav(samples, rate),
        sample_rate=rate,
        duration_ms=round(len(samples) * 1000 / rate),
        text=f"{FIRST} {SECOND}",
    )
    cues = TextAudioAligner().generate(audio)
    _assert_tiles_audio(cues, audio.duration_ms / 1000)
    spanning = [c for c in cues if c.shape == "X" and c.start <= gap_start and c.end >= gap_start + 0.5]
    assert spanning, "an X cue should span the inserted 500 ms of silence"
    assert {"A", "D"} <= {c.shape for c in cues}


@needs_festival
def test_aligner_agrees_with_exact_cues_on_speech_and_rest(festival_speech: SpeechAudio) -> None:
    exact = PhonemeLipSync().generate(festival_speech)
    aligned = TextAudioAligner().generate(festival_speech)
    _assert_tiles_audio(aligned, festival_speech.duration_ms / 1000)
    times = np.arange(0.0, festival_speech.duration_ms / 1000, 0.01)
    agree = [(_shape_at(exact, t) == "X") == (_shape_at(aligned, t) == "X") for t in times]
    assert np.mean(agree) > 0.9
    # The comma's pause lands between "раму" and "а папа", not inside a word.
    comma_pause = next(c for c in exact if c.shape == "X" and c.start > 0.5)
    assert _shape_at(aligned, (comma_pause.start + comma_pause.end) / 2) == "X"


@needs_espeak
def test_aligner_handles_audio_without_timings() -> None:
    audio = EspeakTTS(timings=False).synthesize(SECOND, timeout=5)
    assert audio.phones is None
    cues = TextAudioAligner().generate(audio)
    _assert_tiles_audio(cues, audio.duration_ms / 1000)
    assert len({c.shape for c in cues} - {"X"}) >= 4


def test_aligner_on_silence_and_on_speech_without_text() -> None:
    rate = 16000
    quiet = SpeechAudio(wav=write_wav(silence(0.4, rate), rate), sample_rate=rate, duration_ms=400, text="Привет")
    assert TextAudioAligner().generate(quiet) == [MouthCue(0.0, 0.4, "X")]
    tone = 0.3 * np.sin(2 * np.pi * 200 * np.arange(int(0.3 * rate)) / rate)
    samples = np.concatenate([silence(0.2, rate), (tone * 32767).astype(np.int16), silence(0.2, rate)])
    noisy = replace(quiet, wav=write_wav(samples, rate), duration_ms=700, text="")
    cues = TextAudioAligner().generate(noisy)
    assert [c.shape for c in cues] == ["X", "C", "X"]
    assert cues[1].start == pytest.approx(0.2, abs=0.011) and cues[1].end == pytest.approx(0.5, abs=0.011)


def test_aligner_rejects_unreadable_audio() -> None:
    audio = SpeechAudio(wav=b"not a wav", sample_rate=16000, duration_ms=100, text="а")
    with pytest.raises(EngineError):
        TextAudioAligner().generate(audio)


def test_build_cues_invariants_on_random_segments() -> None:
    # Seeded, so a failure is reproducible; covers overlaps, gaps, out-of-range
    # and zero/negative-length segments in one sweep.
    rng = np.random.default_rng(7)
    for _ in range(300):
        duration = float(rng.choice([0.03, 0.3, 2.0]))
        starts = rng.uniform(-0.1, duration + 0.1, size=int(rng.integers(0, 30)))
        lengths = rng.choice([-0.01, 0.005, 0.02, 0.05, 0.3], size=len(starts))
        shapes = rng.choice(list(MOUTH_SHAPES), size=len(starts))
        segments = [MouthCue(float(s), float(s + n), str(h)) for s, n, h in zip(starts, lengths, shapes, strict=True)]
        cues = build_cues(segments, duration)
        _assert_tiles_audio(cues, duration)
        if len(cues) > 1:
            assert min(c.end - c.start for c in cues) >= MIN_CUE - 1e-9
