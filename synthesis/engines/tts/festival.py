"""Festival TTS (Debian ``festival`` + ``festvox-ru``) behind the TTSEngine protocol.

One persistent ``festival --pipe`` process per engine instance: starting Festival
and loading the Russian unit-selection voice costs ~0.5 s, a sentence on a warm
process ~30-200 ms. We write Scheme to its stdin and read the phone timings it
prints on stdout up to a per-request end marker. Festival's stdout is a pipe, so
it is block-buffered; ``stdbuf -oL`` makes it line-buffered, otherwise the marker
would sit in Festival's buffer and every read would time out.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unicodedata
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, ClassVar, TypeVar

from synthesis.audio import duration_ms, read_wav
from synthesis.interfaces import (
    Availability,
    EngineError,
    EngineUnavailable,
    Phone,
    SpeechAudio,
    StageTimeout,
)

DEFAULT_VOICE = "voice_msu_ru_nsh_clunits"
PHONE_SET = "festival-ru"

# Where Debian (and a source install) put voices: <root>/<language>/<voice dir>.
VOICE_ROOTS: tuple[Path, ...] = (
    Path("/usr/share/festival/voices"),
    Path("/usr/local/share/festival/voices"),
    Path("/usr/lib/festival/voices"),
)

_VOICE_NAME = re.compile(r"voice_[A-Za-z0-9_]+")
_STDERR_TAIL_LINES = 20
# End markers printed after each request: "<marker> OK" or "<marker> FAIL".
_READY = "__avatar_ready__"
_DONE = "__avatar_done__"

_Sink = TypeVar("_Sink")


# --- text sanitizing -------------------------------------------------------
# Festival's Russian front end aborts the WHOLE utterance on any token it has no
# letter-to-sound rule for (measured: « » „ “ ” — – … % € № / \ * = < > @ $ ^ & _ ~ ` |
# accented Latin letters), and also on punctuation that stands alone as a token
# ("мама . мыла", "мама ,мыла") or sits inside a word ("мама.мыла"). Punctuation
# attached to the end of a word is fine and gives the phrase breaks. So we keep
# only letters, digits and word-internal ' and -, and re-attach phrase-break
# punctuation to the word before it.

_LETTERS = "A-Za-z\u0410-\u044f\u0401\u0451"  # ASCII Latin + Russian Cyrillic
_WORD = f"[0-9{_LETTERS}]+(?:['-][0-9{_LETTERS}]+)*"
_TOKEN = re.compile(f"({_WORD})|([.,!?;:])|(-)")
_KEPT_CHAR = re.compile(f"[0-9{_LETTERS}.,!?;:'-]")
_SPEAKABLE = re.compile(f"[0-9{_LETTERS}]")
_BREAKS_KEPT = 3  # "?!" and "..." survive, longer runs are noise

_TRANSLATE = str.maketrans(
    {
        "\u2014": ",",  # em dash: a pause, like a comma
        "\u2013": ",",  # en dash
        "\u2026": "...",  # ellipsis
        "\u0456": "\u0438",  # Ukrainian/Belarusian letters Festival cannot read,
        "\u0457": "\u0438",  # mapped to the nearest Russian letter
        "\u0454": "\u0435",
        "\u0491": "\u0433",
        "\u045e": "\u0443",
        "\u0406": "\u0418",
        "\u0404": "\u0415",
    }
)


def sanitize_text(text: str) -> str:
    """Rewrite ``text`` into tokens Festival's Russian front end can always read."""
    cleaned = "".join(_clean_char(char) for char in text.translate(_TRANSLATE))
    words: list[str] = []
    for match in _TOKEN.finditer(cleaned):
        word, brk, dash = match.groups()
        if word:
            words.append(word)
        elif words:
            # A free-standing dash is a pause; attach it (as ",") to the previous word.
            punct = brk or ("," if dash else "")
            if len(words[-1]) - len(words[-1].rstrip(".,!?;:")) < _BREAKS_KEPT:
                words[-1] += punct
    return " ".join(words)


def _clean_char(char: str) -> str:
    if _KEPT_CHAR.fullmatch(char):
        return char
    if char.isspace():
        return " "
    # "é" -> "e": NFKD splits off the accent; anything else becomes a word break.
    base = unicodedata.normalize("NFKD", char)[:1]
    return base if base.isascii() and base.isalpha() else " "


def scheme_string(text: str) -> str:
    """``text`` as a Scheme (SIOD) string literal: only \\ and " need escaping."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- the Festival process --------------------------------------------------


class _ProcessDied(EngineError):
    """Festival exited (crash, OOM kill) before answering."""


class _FestivalProcess:
    """A running ``festival --pipe`` with reader threads for stdout and stderr.

    Reader threads (not ``select``) because Popen's text pipes buffer internally:
    ``select`` on the fd can say "nothing to read" while a line waits in Python's
    buffer. The threads push lines into a queue we can ``get`` with a timeout.
    """

    def __init__(self, command: list[str]) -> None:
        self._popen = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # a terminal's Ctrl-C must not hit Festival
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        assert self._popen.stdout is not None and self._popen.stderr is not None
        # The threads get the queue/deque, not ``self``: holding ``self`` would keep
        # this object alive forever and the finalizer below would never run.
        _start_daemon(_pump_lines, self._popen.stdout, self._lines)
        _start_daemon(_pump_tail, self._popen.stderr, self._stderr)
        # Kill Festival even if the engine is dropped without close(), or at exit.
        self._finalizer = weakref.finalize(self, _kill, self._popen)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def alive(self) -> bool:
        return self._popen.poll() is None

    def stderr_tail(self) -> str:
        return " | ".join(line for line in self._stderr if line.strip())

    def send(self, script: str) -> None:
        assert self._popen.stdin is not None
        self._stderr.clear()  # so errors reported are this request's
        try:
            self._popen.stdin.write(script)
            self._popen.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _ProcessDied(f"festival process died: {self.stderr_tail() or exc}") from exc

    def read_until(self, marker: str, deadline: float) -> tuple[list[str], bool]:
        """Lines printed before ``marker``'s OK or FAIL line, and whether it was OK.

        Raises ``StageTimeout`` at ``deadline`` and ``EngineError`` on EOF.
        """
        lines: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StageTimeout("festival did not answer in time")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                raise StageTimeout("festival did not answer in time") from None
            if line is None:
                raise _ProcessDied(f"festival process died: {self.stderr_tail() or 'no output'}")
            if line in (f"{marker} OK", f"{marker} FAIL"):
                return lines, line.endswith("OK")
            lines.append(line)

    def kill(self) -> None:
        self._finalizer()


def _start_daemon(target: Callable[[IO[str], _Sink], None], stream: IO[str], sink: _Sink) -> None:
    threading.Thread(target=target, args=(stream, sink), daemon=True, name="festival-reader").start()


def _pump_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)  # EOF: the process died or was killed


def _pump_tail(stream: IO[str], tail: deque[str]) -> None:
    for line in stream:
        tail.append(line.rstrip("\n"))


def _kill(popen: subprocess.Popen[str]) -> None:
    if popen.poll() is None:
        popen.kill()
    popen.wait()
    for stream in (popen.stdin, popen.stdout, popen.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


# --- the engine ------------------------------------------------------------


class FestivalTTS:
    """Russian speech from Festival with exact phone timings (``festival-ru``)."""

    name: ClassVar[str] = "festival"

    def __init__(self, *, voice: str = DEFAULT_VOICE, festival_path: str = "festival") -> None:
        # The voice name is spliced into Scheme as a function call, so it must be
        # a plain identifier.
        if not _VOICE_NAME.fullmatch(voice):
            raise ValueError(f"invalid festival voice name: {voice!r}")
        self.voice = voice
        self.festival_path = festival_path
        self._lock = threading.Lock()
        self._process: _FestivalProcess | None = None
        self._requests = itertools.count(1)
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def availability(cls, *, voice: str = DEFAULT_VOICE, festival_path: str = "festival") -> Availability:
        """Whether the binary and the voice's files exist (starts no process)."""
        if _find_binary(festival_path) is None:
            return Availability(False, f"festival binary not found: {festival_path!r}")
        if not _VOICE_NAME.fullmatch(voice):
            return Availability(False, f"invalid festival voice name: {voice!r}")
        if _voice_dir(voice) is None:
            roots = ", ".join(str(root) for root in VOICE_ROOTS)
            return Availability(False, f"festival voice {voice!r} not installed under {roots}")
        return Availability(True)

    def start(self, *, timeout: float = 10.0) -> None:
        """Start Festival and load the voice now instead of on the first sentence."""
        deadline = time.monotonic() + timeout
        with self._locked(deadline):
            self._ensure_process(deadline)

    def synthesize(self, text: str, *, timeout: float) -> SpeechAudio:
        deadline = time.monotonic() + timeout
        spoken = sanitize_text(text)
        if not _SPEAKABLE.search(spoken):
            raise EngineError(f"nothing speakable in text: {text!r}")
        with self._locked(deadline):
            reused = self._process is not None
            try:
                return self._synthesize_once(spoken, deadline)
            except _ProcessDied:
                # A process that died while idle (killed, crashed on something
                # earlier) is only noticed when used: retry once on a fresh one.
                if not reused:
                    raise
                return self._synthesize_once(spoken, deadline)

    @property
    def process_id(self) -> int | None:
        """PID of the running Festival process, if any (for monitoring and tests)."""
        process = self._process
        return process.pid if process is not None and process.alive else None

    def close(self) -> None:
        """Stop the Festival process and remove temporary files."""
        with self._lock:
            self._stop()
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
                self._tmpdir = None

    def __enter__(self) -> FestivalTTS:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals --

    def _locked(self, deadline: float) -> _DeadlineLock:
        return _DeadlineLock(self._lock, deadline)

    def _synthesize_once(self, spoken: str, deadline: float) -> SpeechAudio:
        process = self._ensure_process(deadline)
        wav_path = self._wav_dir() / f"utt{next(self._requests)}.wav"
        try:
            lines, ok = self._run(process, _synth_script(spoken, wav_path), _DONE, deadline)
            if not ok:
                raise EngineError(f"festival failed on {spoken!r}: {process.stderr_tail()}")
            return self._speech(spoken, wav_path, lines)
        finally:
            wav_path.unlink(missing_ok=True)

    def _wav_dir(self) -> Path:
        # Created on demand so that a closed engine can be used again.
        if self._tmpdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="festival-tts-")
        return Path(self._tmpdir.name)

    def _ensure_process(self, deadline: float) -> _FestivalProcess:
        if self._process is not None and self._process.alive:
            return self._process
        self._stop()
        binary = _find_binary(self.festival_path)
        if binary is None:
            raise EngineUnavailable(f"festival binary not found: {self.festival_path!r}")
        process = _FestivalProcess(_command(binary))
        self._process = process
        _, ok = self._run(process, _guarded(f"({self.voice})", _READY), _READY, deadline)
        if not ok:
            self._stop()
            raise EngineUnavailable(f"festival cannot load {self.voice}: {process.stderr_tail()}")
        return process

    def _run(self, process: _FestivalProcess, script: str, marker: str, deadline: float) -> tuple[list[str], bool]:
        """Send ``script`` and collect its output; kill Festival on timeout/crash."""
        try:
            process.send(script)
            return process.read_until(marker, deadline)
        except EngineError:
            # A timed-out Festival is still busy with the old sentence and would
            # answer it later; only a fresh process is in a known state.
            self._stop()
            raise

    def _speech(self, spoken: str, wav_path: Path, lines: list[str]) -> SpeechAudio:
        wav = wav_path.read_bytes()
        samples, rate = read_wav(wav)
        if len(samples) == 0:
            raise EngineError(f"festival produced no audio for {spoken!r}")
        phones = _parse_phones(lines, len(samples) / rate)
        return SpeechAudio(
            wav=wav,
            sample_rate=rate,
            duration_ms=duration_ms(samples, rate),
            text=spoken,
            phones=phones,
            phone_set=PHONE_SET,
            voice=self.voice,
        )

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process = None


class _DeadlineLock:
    """Context manager: acquire ``lock`` before ``deadline`` or raise StageTimeout."""

    def __init__(self, lock: threading.Lock, deadline: float) -> None:
        self._lock = lock
        self._deadline = deadline

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=max(0.0, self._deadline - time.monotonic())):
            raise StageTimeout("festival engine busy with another sentence")

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


def _find_binary(path: str) -> str | None:
    if os.sep in path:
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which(path)


def _voice_dir(voice: str) -> Path | None:
    name = voice.removeprefix("voice_")
    for root in VOICE_ROOTS:
        for candidate in root.glob(f"*/{name}"):
            if (candidate / "festvox").is_dir():
                return candidate
    return None


def _command(binary: str) -> list[str]:
    stdbuf = shutil.which("stdbuf")
    base = [binary, "--pipe"]
    return [stdbuf, "-oL", *base] if stdbuf else base


def _guarded(body: str, marker: str) -> str:
    """Scheme that runs ``body`` and then prints ``marker`` OK, or FAIL on error.

    Without ``unwind-protect`` an error only prints to stderr and we could not tell
    a failed sentence from a slow one.
    """
    ok = scheme_string(f"{marker} OK\n")
    fail = scheme_string(f"{marker} FAIL\n")
    return f"(unwind-protect (begin {body} (format t {ok})) (format t {fail}))\n"


def _synth_script(text: str, wav_path: Path) -> str:
    body = (
        f"(set! avatar_utt (Utterance Text {scheme_string(text)}))"
        "(utt.synth avatar_utt)"
        f"(utt.save.wave avatar_utt {scheme_string(str(wav_path))} 'riff)"
        '(mapcar (lambda (seg) (format t "%s %f %f\\n" (item.name seg)'
        ' (item.feat seg "segment_start") (item.feat seg "end")))'
        " (utt.relation.items avatar_utt 'Segment))"
    )
    return _guarded(body, _DONE)


def _parse_phones(lines: list[str], duration: float) -> tuple[Phone, ...]:
    """Phones from "name start end" lines, clamped to the audio.

    Festival's last segment can end ~25 ms past the end of the saved wave; a phone
    that starts after the audio ended has no sound and is dropped.
    """
    phones: list[Phone] = []
    for line in lines:
        fields = line.split()
        if len(fields) != 3:
            continue
        symbol, start_text, end_text = fields
        try:
            start, end = max(0.0, float(start_text)), min(float(end_text), duration)
        except ValueError:
            continue  # not a segment line (Festival chatter on stdout)
        if phones:
            start = max(start, phones[-1].end)
        if end > start:
            phones.append(Phone(symbol=symbol, start=start, end=end))
    return tuple(phones)
