"""EspeakTTS against the real espeak-ng CLI and libespeak-ng."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from synthesis.audio import read_wav, rms
from synthesis.engines.lipsync.shapes import ESPEAK_NG
from synthesis.engines.tts.espeak import EspeakTTS
from synthesis.interfaces import EngineError, SpeechAudio, StageTimeout

pytestmark = pytest.mark.skipif(not EspeakTTS.availability().ok, reason=EspeakTTS.availability().reason)

SENTENCES = [
    "Привет, как дела?",
    "Сегодня хорошая погода, и мы пойдём гулять в парк.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
]
PAUSES = {"_", "_:"}
# espeak at its default 175 words/min: 40-250 ms of sound per syllable.
MIN_SYLLABLE, MAX_SYLLABLE = 0.04, 0.25


def _vowels(text: str) -> int:
    return sum(char in "аеёиоуыэюя" for char in text.lower())


def _assert_valid_speech(audio: SpeechAudio, text: str) -> None:
    samples, rate = read_wav(audio.wav)
    assert rate == audio.sample_rate == 22050
    assert audio.duration_ms == round(len(samples) * 1000 / rate)
    assert rms(samples) > 0.02
    syllables = _vowels(text)
    assert MIN_SYLLABLE * syllables <= audio.duration_ms / 1000 <= MAX_SYLLABLE * syllables + 0.5


@pytest.fixture(scope="module")
def engine() -> EspeakTTS:
    tts = EspeakTTS()
    if not tts.uses_library:
        pytest.skip("libespeak-ng cannot be loaded here")
    return tts


@pytest.mark.parametrize("text", SENTENCES)
def test_library_gives_audio_and_contiguous_phones(engine: EspeakTTS, text: str) -> None:
    audio = engine.synthesize(text, timeout=5)
    _assert_valid_speech(audio, text)
    assert audio.phone_set == "espeak-ng" and audio.phones
    duration = len(read_wav(audio.wav)[0]) / audio.sample_rate
    assert audio.phones[0].start == 0.0
    assert audio.phones[-1].end == pytest.approx(duration)
    for before, after in itertools.pairwise(audio.phones):
        assert before.start < before.end == after.start < after.end
    # Every phoneme of Russian speech is in the shape table, not left to a guess.
    assert {phone.symbol for phone in audio.phones} <= set(ESPEAK_NG)


def test_phone_timings_match_the_audio(engine: EspeakTTS) -> None:
    # Pause phonemes must fall on the quiet parts of this very audio.
    audio = engine.synthesize("Да, конечно. Мы придём завтра.", timeout=5)
    samples, rate = read_wav(audio.wav)

    def level(pauses: bool) -> float:
        spans = [
            samples[round(p.start * rate) : round(p.end * rate)]
            for p in audio.phones or ()
            if (p.symbol in PAUSES) == pauses
        ]
        return rms(np.concatenate(spans))

    assert level(pauses=True) < 0.1 * level(pauses=False)


def test_cli_path_gives_the_same_speech_without_timings() -> None:
    text = SENTENCES[1]
    cli = EspeakTTS(timings=False).synthesize(text, timeout=5)
    _assert_valid_speech(cli, text)
    assert cli.phones is None and cli.phone_set is None
    library = EspeakTTS().synthesize(text, timeout=5)
    # Same synthesizer; the CLI only appends a trailing pause.
    cli_samples, library_samples = read_wav(cli.wav)[0], read_wav(library.wav)[0]
    assert len(library_samples) <= len(cli_samples) <= len(library_samples) + 22050


def test_rate_changes_duration(engine: EspeakTTS) -> None:
    slow = EspeakTTS(rate=100).synthesize(SENTENCES[1], timeout=5)
    fast = EspeakTTS(rate=300).synthesize(SENTENCES[1], timeout=5)
    assert fast.duration_ms < 0.7 * slow.duration_ms


def test_control_characters_and_markup_are_harmless(engine: EspeakTTS) -> None:
    text = "Привет\x00, <b>мир</b> \x07«ура» — 100%"
    audio = engine.synthesize(text, timeout=5)
    assert "\x00" not in audio.text and audio.phones
    assert rms(read_wav(audio.wav)[0]) > 0.02


def test_library_timeout_then_recovers(engine: EspeakTTS) -> None:
    with pytest.raises(StageTimeout):
        engine.synthesize(" ".join(SENTENCES * 20), timeout=0.005)
    assert engine.synthesize(SENTENCES[0], timeout=5).phones


def test_cli_timeout_raises_stage_timeout() -> None:
    with pytest.raises(StageTimeout):
        EspeakTTS(timings=False).synthesize(" ".join(SENTENCES * 20), timeout=0.001)


def test_errors_and_availability() -> None:
    with pytest.raises(EngineError, match="nothing speakable"):
        EspeakTTS().synthesize(" … ", timeout=5)
    with pytest.raises(EngineError):
        EspeakTTS(voice="no-such-voice").synthesize("Привет", timeout=5)
    with pytest.raises(ValueError):
        EspeakTTS(rate=10)
    missing = EspeakTTS.availability(espeak_path="/nonexistent")
    assert not missing.ok and "/nonexistent" in missing.reason
