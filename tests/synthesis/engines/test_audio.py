"""synthesis.audio: WAV encoding/decoding and energy measures on real signals."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from synthesis.audio import (
    duration_ms,
    is_silent,
    read_wav,
    rms,
    rms_envelope,
    silence,
    to_int16,
    wav_duration,
    write_wav,
)

RATE = 16000


def _tone(seconds: float, frequency: float = 220.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * frequency * t)


def test_round_trip_keeps_samples_and_rate() -> None:
    samples = to_int16(_tone(0.25))
    decoded, rate = read_wav(write_wav(samples, RATE))
    assert rate == RATE
    assert decoded.dtype == np.int16
    np.testing.assert_array_equal(decoded, samples)


def test_written_file_is_mono_16_bit_pcm() -> None:
    with wave.open(io.BytesIO(write_wav(_tone(0.1), 22050)), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 22050)
        assert reader.getnframes() == 1600  # 0.1 s of a 16 kHz tone, rate only relabelled


def test_float_input_is_clipped_to_full_scale() -> None:
    pcm = to_int16(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
    assert pcm.tolist() == [-32767, -32767, 0, 32767, 32767]


def test_durations_agree_between_header_and_samples() -> None:
    samples = to_int16(_tone(1.2503))  # 20005 samples
    data = write_wav(samples, RATE)
    assert wav_duration(data) == pytest.approx(1.2503, abs=1 / RATE)
    assert duration_ms(samples, RATE) == 1250


def test_stereo_is_downmixed_to_mono() -> None:
    left = to_int16(_tone(0.1, amplitude=0.4))
    right = np.zeros_like(left)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(np.column_stack([left, right]).astype("<i2").tobytes())
    mono, _ = read_wav(buffer.getvalue())
    assert len(mono) == len(left)
    assert rms(mono) == pytest.approx(rms(left) / 2, rel=0.01)


def test_rejects_non_wav_and_8_bit() -> None:
    with pytest.raises(ValueError):
        read_wav(b"definitely not a RIFF file")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(bytes(range(100)))
    with pytest.raises(ValueError, match="16-bit"):
        read_wav(buffer.getvalue())


def test_rms_of_a_sine_is_amplitude_over_root_two() -> None:
    assert rms(to_int16(_tone(0.5, amplitude=0.5))) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    assert rms(silence(0.5, RATE)) == 0.0
    assert rms(np.zeros(0, dtype=np.int16)) == 0.0


def test_envelope_follows_a_tone_between_silences() -> None:
    samples = np.concatenate([silence(0.2, RATE), to_int16(_tone(0.3)), silence(0.205, RATE)])
    envelope = rms_envelope(samples, RATE, frame_ms=10.0)
    assert len(envelope) == 71  # 705 ms in 10 ms frames, last one partial
    assert envelope[:20].max() == 0.0
    assert envelope[21:49].min() > 0.3
    assert envelope[51:].max() == 0.0


def test_is_silent_on_bytes_and_arrays() -> None:
    quiet = to_int16(_tone(0.3, amplitude=0.001))
    loud = to_int16(_tone(0.3, amplitude=0.2))
    assert is_silent(write_wav(silence(0.3, RATE), RATE))
    assert is_silent(quiet)
    assert not is_silent(loud)
    assert not is_silent(write_wav(loud, RATE))
