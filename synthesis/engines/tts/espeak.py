"""espeak-ng TTS behind the TTSEngine protocol, with exact phoneme timings.

Two paths:

* libespeak-ng through ctypes (default): synchronous synthesis into a callback
  that collects the samples and the ``espeakEVENT_PHONEME`` events, whose
  ``audio_position`` (ms) is the start of each phoneme in exactly those samples.
  The samples are the ones the CLI writes (checked; the CLI only appends a
  trailing pause), so this is the CLI's audio plus timings, in ~3 ms per
  sentence and without a process start. Events are accurate to ~20 ms.
* the ``espeak-ng`` CLI writing a WAV file (if the library cannot be loaded, or
  with ``timings=False``): no timings, ``phones=None``, the aligner takes over.

The library has process-wide state (voice, parameters, callback), so all engine
instances share one lock and every request sets its voice and parameters again.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from synthesis.audio import duration_ms, read_wav, write_wav
from synthesis.interfaces import (
    Availability,
    EngineError,
    EngineUnavailable,
    Phone,
    SpeechAudio,
    StageTimeout,
)

PHONE_SET = "espeak-ng"
LIBRARY_NAME = "libespeak-ng.so.1"

# Constants from espeak-ng/speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit()
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_OK = 0
_LEADING_PAUSE = "_"  # espeak's own short-pause mnemonic, for audio before the first event


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT``; ``audio_position`` is in ms from the start of this synth call."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class _Job:
    """What the callback collects for the synthesis in progress."""

    deadline: float
    chunks: list[bytes] = field(default_factory=list)
    starts: list[tuple[str, int]] = field(default_factory=list)  # (mnemonic, ms)
    timed_out: bool = False


class _Library:
    """The loaded, initialized libespeak-ng (one per process)."""

    def __init__(self, name: str) -> None:
        self._lib = ctypes.CDLL(name)
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT
        self.sample_rate = int(self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options))
        if self.sample_rate <= 0:
            raise EngineUnavailable("espeak-ng could not initialize (data files missing?)")
        self._job: _Job | None = None
        # Kept as an attribute: ctypes frees the trampoline when the object dies.
        self._callback = _SynthCallback(self._on_synth)
        self._lib.espeak_SetSynthCallback(self._callback)

    def synthesize(self, text: str, voice: str, rate: int, pitch: int, deadline: float) -> _Job:
        """Run one synthesis (caller holds the library lock)."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise EngineError(f"espeak-ng has no voice {voice!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        data = text.encode("utf-8") + b"\0"
        job = _Job(deadline=deadline)
        self._job = job
        try:
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        finally:
            self._job = None
        if status != _EE_OK:
            raise EngineError(f"espeak_Synth failed with status {status}")
        return job

    def _on_synth(self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: ctypes._Pointer[_Event]) -> int:
        # Runs inside espeak_Synth on this thread; must not raise (ctypes would
        # only print the exception). Returning 1 makes espeak abort the synthesis.
        job = self._job
        if job is None:
            return 1
        if count > 0 and wav:
            job.chunks.append(ctypes.string_at(wav, count * 2))
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == _EVENT_PHONEME:
                job.starts.append((event.id.string.decode("ascii", "replace"), event.audio_position))
            index += 1
        if time.monotonic() > job.deadline:
            job.timed_out = True
            return 1
        return 0


_library: _Library | None = None
_library_error: str | None = None
_library_lock = threading.Lock()  # held for every call into the library
_init_lock = threading.Lock()


def _load_library(name: str) -> _Library | None:
    """The shared library handle, or None if it cannot be loaded (remembered)."""
    global _library, _library_error
    with _init_lock:
        if _library is None and _library_error is None:
            try:
                _library = _Library(name)
            except (OSError, AttributeError, EngineError) as exc:
                _library_error = str(exc)
    return _library


class EspeakTTS:
    """Russian (or any espeak-ng voice) speech; robotic but instant."""

    name: ClassVar[str] = "espeak-ng"

    def __init__(
        self,
        *,
        voice: str = "ru",
        rate: int = 175,
        pitch: int = 50,
        espeak_path: str = "espeak-ng",
        timings: bool = True,
    ) -> None:
        if not 80 <= rate <= 450:
            raise ValueError(f"espeak-ng rate must be 80-450 words/min, got {rate}")
        if not 0 <= pitch <= 99:
            raise ValueError(f"espeak-ng pitch must be 0-99, got {pitch}")
        self.voice = voice
        self.rate = rate
        self.pitch = pitch
        self.espeak_path = espeak_path
        self.timings = timings

    @classmethod
    def availability(cls, *, espeak_path: str = "espeak-ng") -> Availability:
        """OK when the CLI is installed (the library comes in the same Debian set)."""
        if _find_binary(espeak_path) is None:
            return Availability(False, f"espeak-ng binary not found: {espeak_path!r}")
        return Availability(True)

    @property
    def uses_library(self) -> bool:
        """Whether synthesis goes through libespeak-ng (and so gives timings)."""
        return self.timings and _load_library(LIBRARY_NAME) is not None

    def synthesize(self, text: str, *, timeout: float) -> SpeechAudio:
        deadline = time.monotonic() + timeout
        spoken = sanitize_text(text)
        if not any(char.isalnum() for char in spoken):
            raise EngineError(f"nothing speakable in text: {text!r}")
        if self.uses_library:
            return self._synthesize_library(spoken, deadline)
        return self._synthesize_cli(spoken, deadline)

    def close(self) -> None:
        """Nothing to release: the library is shared and the CLI is per call."""

    def _synthesize_library(self, text: str, deadline: float) -> SpeechAudio:
        if not _library_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise StageTimeout("espeak-ng library busy with another sentence")
        try:
            library = _load_library(LIBRARY_NAME)
            assert library is not None
            job = library.synthesize(text, self.voice, self.rate, self.pitch, deadline)
        finally:
            _library_lock.release()
        if job.timed_out:
            raise StageTimeout("espeak-ng synthesis ran past its timeout")
        samples = np.frombuffer(b"".join(job.chunks), dtype=np.int16)
        if len(samples) == 0:
            raise EngineError(f"espeak-ng produced no audio for {text!r}")
        rate = library.sample_rate
        phones = _phones_from_starts(job.starts, len(samples) / rate)
        return self._speech(text, write_wav(samples, rate), phones)

    def _synthesize_cli(self, text: str, deadline: float) -> SpeechAudio:
        binary = _find_binary(self.espeak_path)
        if binary is None:
            raise EngineUnavailable(f"espeak-ng binary not found: {self.espeak_path!r}")
        with tempfile.TemporaryDirectory(prefix="espeak-tts-") as tmp:
            path = Path(tmp) / "speech.wav"
            # Text on stdin, never argv: a sentence starting with "-" is not an option.
            command = [binary, "-v", self.voice, "-s", str(self.rate), "-p", str(self.pitch)]
            command += ["-b", "1", "-w", str(path), "--stdin"]
            _run_cli(command, text, deadline)
            return self._speech(text, path.read_bytes(), None)

    def _speech(self, text: str, wav: bytes, phones: tuple[Phone, ...] | None) -> SpeechAudio:
        samples, rate = read_wav(wav)
        return SpeechAudio(
            wav=wav,
            sample_rate=rate,
            duration_ms=duration_ms(samples, rate),
            text=text,
            phones=phones,
            phone_set=PHONE_SET if phones is not None else None,
            voice=self.voice,
        )


def sanitize_text(text: str) -> str:
    """Control characters (NUL above all: the C API reads a C string) -> spaces."""
    return "".join(" " if unicodedata.category(char) == "Cc" else char for char in text).strip()


def _find_binary(path: str) -> str | None:
    if os.sep in path:
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which(path)


def _run_cli(command: list[str], text: str, deadline: float) -> None:
    try:
        result = subprocess.run(
            command,
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=max(0.001, deadline - time.monotonic()),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StageTimeout("espeak-ng ran past its timeout") from exc
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise EngineError(f"espeak-ng failed ({result.returncode}): {message}")


def _phones_from_starts(starts: list[tuple[str, int]], duration: float) -> tuple[Phone, ...]:
    """Phones from phoneme start events: each lasts until the next one starts.

    Language-switch pseudo-phonemes such as ``(en)`` carry no sound and are
    skipped; audio before the first event is espeak's leading pause.
    """
    timed = [(name, ms / 1000.0) for name, ms in starts if name and not name.startswith("(")]
    if not timed or timed[0][1] > 0:
        timed.insert(0, (_LEADING_PAUSE, 0.0))
    phones: list[Phone] = []
    for (symbol, start), (_, end) in zip(timed, [*timed[1:], ("", duration)], strict=True):
        end = min(end, duration)
        if end > start:
            phones.append(Phone(symbol=symbol, start=start, end=end))
    return tuple(phones)
