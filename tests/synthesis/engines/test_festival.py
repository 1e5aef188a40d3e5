"""FestivalTTS against the real festival + festvox-ru installation."""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from synthesis.audio import read_wav, rms, wav_duration
from synthesis.engines.lipsync.shapes import FESTIVAL_RU
from synthesis.engines.tts.festival import FestivalTTS, sanitize_text, scheme_string
from synthesis.interfaces import EngineError, EngineUnavailable, SpeechAudio, StageTimeout

pytestmark = pytest.mark.skipif(not FestivalTTS.availability().ok, reason=FestivalTTS.availability().reason)

SENTENCES = [
    "Привет, как дела?",
    "Сегодня хорошая погода, и мы пойдём гулять в парк.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Ёжик в тумане искал свою лошадку.",
]
VOWEL_LETTERS = set("аеёиоуыэюя")
VOWEL_PHONES = {"ii", "yy", "uu", "ee", "oo", "aa", "a", "e", "i", "y", "u", "ae", "ay", "ur"}
# Russian speech, pauses excluded: 40-300 ms per syllable (one vowel each).
# Festival's voice is slow and "французских" has 4-5 consonants per vowel, so
# 250 ms (a typical upper figure) was measured to be too tight (264 ms).
MIN_SYLLABLE, MAX_SYLLABLE = 0.04, 0.3


@pytest.fixture(scope="module")
def engine() -> Iterator[FestivalTTS]:
    tts = FestivalTTS()
    yield tts
    tts.close()


def _vowels(text: str) -> int:
    return sum(char in VOWEL_LETTERS for char in text.lower())


def _assert_valid_speech(audio: SpeechAudio) -> None:
    samples, rate = read_wav(audio.wav)
    assert rate == audio.sample_rate == 16000
    assert audio.duration_ms == round(len(samples) * 1000 / rate)
    assert wav_duration(audio.wav) == pytest.approx(audio.duration_ms / 1000, abs=0.001)
    assert rms(samples) > 0.02, "speech should be clearly audible"
    assert audio.phone_set == "festival-ru"
    assert audio.voice == "voice_msu_ru_nsh_clunits"


def _assert_valid_phones(audio: SpeechAudio) -> None:
    assert audio.phones
    duration = len(read_wav(audio.wav)[0]) / audio.sample_rate
    previous_end = 0.0
    for phone in audio.phones:
        assert phone.symbol in FESTIVAL_RU, f"{phone.symbol!r} is not in the 51-phone set"
        assert previous_end <= phone.start < phone.end <= duration
        previous_end = phone.end


@pytest.mark.parametrize("text", SENTENCES)
def test_speaks_russian_with_exact_phones(engine: FestivalTTS, text: str) -> None:
    audio = engine.synthesize(text, timeout=10)
    _assert_valid_speech(audio)
    _assert_valid_phones(audio)
    assert audio.phones is not None
    vowels = [phone for phone in audio.phones if phone.symbol in VOWEL_PHONES]
    assert len(vowels) == _vowels(text)  # one vowel phone per written vowel
    speech = sum(phone.end - phone.start for phone in audio.phones if phone.symbol != "pau")
    assert MIN_SYLLABLE * len(vowels) <= speech <= MAX_SYLLABLE * len(vowels)
    assert audio.phones[0].symbol == "pau" and audio.phones[-1].symbol == "pau"


def test_pauses_are_silent_and_vowels_loud(engine: FestivalTTS) -> None:
    # The timings belong to this very audio: pau spans are quiet, vowel spans loud.
    audio = engine.synthesize("Да, конечно. Мы придём завтра.", timeout=10)
    samples, rate = read_wav(audio.wav)
    phones = audio.phones or ()

    def level(symbols: set[str]) -> float:
        spans = [samples[round(p.start * rate) : round(p.end * rate)] for p in phones if p.symbol in symbols]
        return rms(np.concatenate(spans))

    assert level({"pau"}) < 0.1 * level(VOWEL_PHONES)


def test_survives_characters_that_break_festival(engine: FestivalTTS) -> None:
    text = 'Он сказал: «Привет» — и ушёл… Путь "C:\\temp\\" на 100% (да) . ,нет'
    audio = engine.synthesize(text, timeout=10)
    _assert_valid_speech(audio)
    _assert_valid_phones(audio)
    assert not set('«»—…%"\\()') & set(audio.text)


def test_sanitizer_keeps_words_and_attached_punctuation() -> None:
    assert sanitize_text("мама . мыла ,раму - да") == "мама. мыла, раму, да"
    assert sanitize_text("кто-то сказал «café»…") == "кто-то сказал cafe..."
    assert sanitize_text("мама.мыла раму!!!!!") == "мама. мыла раму!!!"
    assert sanitize_text("…—«»%") == ""


def test_scheme_string_escapes_backslash_and_quote() -> None:
    assert scheme_string('a "b" \\c') == '"a \\"b\\" \\\\c"'


def test_text_without_letters_is_an_error(engine: FestivalTTS) -> None:
    with pytest.raises(EngineError, match="nothing speakable"):
        engine.synthesize(" … — « » ", timeout=10)
    with pytest.raises(EngineError, match="no audio"):
        engine.synthesize("ъ ь", timeout=10)  # letters, but silent ones


def test_timeout_kills_and_engine_recovers(engine: FestivalTTS) -> None:
    engine.start()
    first_pid = engine.process_id
    with pytest.raises(StageTimeout):
        engine.synthesize(" ".join(SENTENCES * 3), timeout=0.05)
    assert engine.process_id is None  # the busy process was killed, not reused
    audio = engine.synthesize(SENTENCES[0], timeout=10)
    _assert_valid_speech(audio)
    assert engine.process_id not in (None, first_pid)


def test_restarts_after_the_process_dies(engine: FestivalTTS) -> None:
    engine.start()
    pid = engine.process_id
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # our own child process
    audio = engine.synthesize(SENTENCES[0], timeout=10)
    _assert_valid_phones(audio)


def test_concurrent_callers_are_serialized(engine: FestivalTTS) -> None:
    results: dict[int, SpeechAudio] = {}

    def speak(index: int) -> None:
        results[index] = engine.synthesize(SENTENCES[index], timeout=20)

    threads = [threading.Thread(target=speak, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1, 2]
    for index, audio in results.items():
        assert audio.text == SENTENCES[index]
        _assert_valid_phones(audio)


def test_availability_reports_missing_binary_and_voice() -> None:
    assert FestivalTTS.availability() == FestivalTTS.availability(festival_path="festival")
    missing = FestivalTTS.availability(festival_path="/nonexistent")
    assert not missing.ok and "/nonexistent" in missing.reason
    no_voice = FestivalTTS.availability(voice="voice_no_such_voice")
    assert not no_voice.ok and "voice_no_such_voice" in no_voice.reason


def test_missing_binary_raises_unavailable() -> None:
    with pytest.raises(EngineUnavailable):
        FestivalTTS(festival_path="/nonexistent").synthesize("Привет", timeout=5)


def test_unknown_voice_raises_unavailable() -> None:
    with FestivalTTS(voice="voice_no_such_voice") as tts, pytest.raises(EngineUnavailable):
        tts.synthesize("Привет", timeout=10)


def test_voice_name_must_be_an_identifier() -> None:
    with pytest.raises(ValueError):
        FestivalTTS(voice='voice_x) (system "rm")')


def test_dropped_engine_kills_its_process() -> None:
    tts = FestivalTTS()
    tts.start()
    pid = tts.process_id
    assert pid is not None
    del tts
    gc.collect()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # signal 0 only checks that the process exists


def test_engine_is_usable_after_close() -> None:
    tts = FestivalTTS()
    tts.synthesize("Раз.", timeout=10)
    tts.close()
    assert tts.process_id is None
    _assert_valid_speech(tts.synthesize("Два.", timeout=10))
    tts.close()
