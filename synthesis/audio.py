"""WAV helpers shared by the TTS engines and the lip-sync generators.

Everything here works on complete in-memory RIFF/WAVE files (``bytes``) or on
int16 sample arrays, because ``SpeechAudio.wav`` is a whole file and the engines
never stream partial audio. Only mono 16-bit PCM is produced; stereo input is
down-mixed on read so that an uploaded or third-party WAV still works.
"""

from __future__ import annotations

import io
import wave

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]

# Full scale of int16, used to express RMS values in [0, 1] so thresholds do not
# depend on the sample format.
_FULL_SCALE = 32768.0

# About -50 dBFS: quieter than any voiced speech from the engines we use, louder
# than the dither/noise floor Festival's unit joins leave in pauses.
DEFAULT_SILENCE_RMS = 0.003


def read_wav(data: bytes) -> tuple[Samples, int]:
    """Decode a 16-bit PCM WAV file into mono int16 samples and the sample rate.

    Raises ``ValueError`` for anything that is not 16-bit PCM WAV.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from exc
    if width != 2:
        raise ValueError(f"expected 16-bit samples, got {8 * width}-bit")
    samples = np.frombuffer(frames, dtype="<i2").astype(np.int16)
    if channels > 1:
        samples = _downmix(samples, channels)
    return samples, rate


def _downmix(interleaved: Samples, channels: int) -> Samples:
    usable = len(interleaved) - len(interleaved) % channels
    frames = interleaved[:usable].reshape(-1, channels).astype(np.int32)
    return np.asarray(frames.mean(axis=1).round(), dtype=np.int16)


def write_wav(samples: npt.ArrayLike, sample_rate: int) -> bytes:
    """Encode mono samples as a 16-bit PCM WAV file.

    Float arrays are taken as [-1, 1] full scale (and clipped); integer arrays
    as int16 values.
    """
    pcm = to_int16(samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


def to_int16(samples: npt.ArrayLike) -> Samples:
    """Convert float ([-1, 1]) or integer samples to a 1-D int16 array."""
    array = np.asarray(samples)
    if np.issubdtype(array.dtype, np.floating):
        scaled = np.clip(array, -1.0, 1.0) * (_FULL_SCALE - 1)
        return np.asarray(scaled.round(), dtype=np.int16).reshape(-1)
    return np.asarray(np.clip(array, -32768, 32767), dtype=np.int16).reshape(-1)


def wav_duration(data: bytes) -> float:
    """Duration of a WAV file in seconds, read from its header only."""
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            return reader.getnframes() / float(reader.getframerate())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from exc


def duration_ms(samples: Samples, sample_rate: int) -> int:
    """Length of ``samples`` in whole milliseconds (rounded)."""
    return round(len(samples) * 1000 / sample_rate)


def rms(samples: Samples) -> float:
    """Root-mean-square level of ``samples`` as a fraction of full scale."""
    if len(samples) == 0:
        return 0.0
    values = samples.astype(np.float64) / _FULL_SCALE
    return float(np.sqrt(np.mean(values * values)))


def rms_envelope(samples: Samples, sample_rate: int, frame_ms: float = 10.0) -> npt.NDArray[np.float64]:
    """RMS level per consecutive frame of ``frame_ms`` (fraction of full scale).

    The last partial frame is kept (padded with zeros) so the envelope covers the
    whole audio: frame ``i`` spans ``[i * frame_ms, (i + 1) * frame_ms)``.
    """
    frame = max(1, round(sample_rate * frame_ms / 1000))
    count = -(-len(samples) // frame)  # ceiling division
    padded = np.zeros(count * frame, dtype=np.float64)
    padded[: len(samples)] = samples.astype(np.float64) / _FULL_SCALE
    frames = padded.reshape(count, frame)
    return np.asarray(np.sqrt(np.mean(frames * frames, axis=1)), dtype=np.float64)


def is_silent(data: bytes | Samples, threshold: float = DEFAULT_SILENCE_RMS) -> bool:
    """True when the whole audio's RMS level is below ``threshold`` (full scale)."""
    samples = read_wav(data)[0] if isinstance(data, bytes) else data
    return rms(samples) < threshold


def silence(seconds: float, sample_rate: int) -> Samples:
    """``seconds`` of digital silence at ``sample_rate``."""
    return np.zeros(round(seconds * sample_rate), dtype=np.int16)
