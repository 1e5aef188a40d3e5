"""Rhubarb Lip Sync (the CLI) behind the ``LipSyncGenerator`` protocol.

Runs ``rhubarb -f json -r phonetic --extendedShapes GHX [-d dialog.txt] -o out.json in.wav``
on the synthesized WAV and turns its ``mouthCues`` into ``MouthCue``s that cover
the whole audio (``build_cues``: clamped, gaps filled with X, flicker merged).

* ``recognizer``: ``phonetic`` (default; language-independent, the one that works
  for Russian) or ``pocketSphinx`` (English only).
* ``dialog``: also pass the spoken text as a dialog file (``-d``); Rhubarb's
  ``phonetic`` recognizer ignores it, ``pocketSphinx`` uses it. Off by default.
* ``path`` (``RHUBARB_PATH``, read by this engine whether it is the configured
  engine or a fallback): the binary, default ``rhubarb`` on ``PATH``.
* ``time_limit_s``: the process is killed past it (``StageTimeout``); Rhubarb
  runs at roughly real time with ``phonetic``, so the default allows 3x the
  audio's length plus 5 s, capped by ``max_time_limit_s``.
* ``threads``: Rhubarb's ``--threads`` (0: its default, all cores).

Errors: missing binary -> ``EngineUnavailable``; audio that is not 16-bit PCM WAV
-> ``EngineError`` before anything runs; non-zero exit -> ``EngineError`` with
the tail of Rhubarb's stderr; output that is not Rhubarb's JSON -> ``EngineError``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from synthesis.audio import read_wav
from synthesis.engines.lipsync.phonemes import MIN_CUE, build_cues
from synthesis.interfaces import (
    MOUTH_SHAPES,
    Availability,
    EngineError,
    EngineUnavailable,
    MouthCue,
    SpeechAudio,
    StageTimeout,
)

DEFAULT_PATH = "rhubarb"
RECOGNIZERS = ("phonetic", "pocketSphinx")
INSTALL_HINT = (
    "install Rhubarb Lip Sync (a release archive from its project page) and put `rhubarb` on PATH "
    "or set RHUBARB_PATH to the binary"
)
_STDERR_TAIL = 600


def resolve_path(path: str | None = None) -> str:
    return os.environ.get("RHUBARB_PATH", "").strip() or path or DEFAULT_PATH


def find_binary(path: str | None = None) -> str | None:
    """The executable's full path, or None."""
    candidate = resolve_path(path)
    if os.sep in candidate:
        return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None
    return shutil.which(candidate)


class RhubarbLipSync:
    """Mouth cues from Rhubarb Lip Sync's audio analysis (any TTS engine's audio)."""

    name: ClassVar[str] = "rhubarb"

    def __init__(
        self,
        *,
        path: str | None = None,
        recognizer: str = "phonetic",
        extended_shapes: str = "GHX",
        dialog: bool = False,
        time_limit_s: float | None = None,
        max_time_limit_s: float = 120.0,
        threads: int = 0,
        min_cue: float = MIN_CUE,
    ) -> None:
        if recognizer not in RECOGNIZERS:
            raise ValueError(f"rhubarb: recognizer must be one of {RECOGNIZERS}, not {recognizer!r}")
        if any(shape not in "GHX" for shape in extended_shapes):
            raise ValueError(f"rhubarb: extended_shapes is a subset of GHX, not {extended_shapes!r}")
        if threads < 0:
            raise ValueError("rhubarb: threads must be >= 0")
        self.path = resolve_path(path)
        self.recognizer = recognizer
        self.extended_shapes = extended_shapes
        self.dialog = dialog
        self.time_limit_s = time_limit_s
        self.max_time_limit_s = max_time_limit_s
        self.threads = threads
        self.min_cue = min_cue

    @classmethod
    def availability(cls, path: str | None = None) -> Availability:
        if find_binary(path) is None:
            return Availability(False, f"rhubarb binary not found ({resolve_path(path)!r}): {INSTALL_HINT}")
        return Availability(True)

    def command(self, wav: Path, output: Path, dialog: Path | None = None) -> list[str]:
        binary = find_binary(self.path)
        if binary is None:
            raise EngineUnavailable(f"rhubarb binary not found ({self.path!r}): {INSTALL_HINT}")
        cmd = [binary, "-f", "json", "-r", self.recognizer, "--extendedShapes", self.extended_shapes, "-q",
               "-o", str(output)]
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        if dialog is not None:
            cmd += ["-d", str(dialog)]
        return [*cmd, str(wav)]

    def time_limit(self, duration_s: float) -> float:
        if self.time_limit_s is not None:
            return self.time_limit_s
        return min(self.max_time_limit_s, 3 * duration_s + 5)

    def generate(self, audio: SpeechAudio) -> list[MouthCue]:
        try:
            samples, rate = read_wav(audio.wav)
        except ValueError as exc:
            raise EngineError(f"rhubarb: bad audio: {exc}") from exc
        if len(samples) == 0 or rate <= 0:
            raise EngineError("rhubarb: bad audio: no samples")
        duration = len(samples) / rate
        with tempfile.TemporaryDirectory(prefix="rhubarb-") as tmp:
            wav, output = Path(tmp) / "speech.wav", Path(tmp) / "cues.json"
            wav.write_bytes(audio.wav)
            dialog = None
            if self.dialog and audio.text.strip():
                dialog = Path(tmp) / "dialog.txt"
                dialog.write_text(audio.text, encoding="utf-8")
            cmd = self.command(wav, output, dialog)
            limit = self.time_limit(duration)
            try:
                done = subprocess.run(
                    cmd, capture_output=True, timeout=limit, check=False, stdin=subprocess.DEVNULL
                )
            except subprocess.TimeoutExpired as exc:
                raise StageTimeout(
                    f"rhubarb ran past its time limit ({limit:.1f} s for {duration:.1f} s audio)"
                ) from exc
            except OSError as exc:  # not executable, wrong architecture, vanished
                raise EngineUnavailable(f"rhubarb could not be started ({cmd[0]}): {exc}") from exc
            if done.returncode != 0:
                tail = _tail(done.stderr) or _tail(done.stdout) or "no output"
                raise EngineError(f"rhubarb exited with status {done.returncode}: {tail}")
            try:
                raw = output.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise EngineError(f"rhubarb wrote no readable output: {exc}") from exc
        return build_cues(parse_cues(raw), duration, min_cue=self.min_cue)


def _tail(data: bytes | None) -> str:
    text = (data or b"").decode("utf-8", "replace").strip()
    return text[-_STDERR_TAIL:].replace("\n", " | ")


def parse_cues(raw: str) -> list[MouthCue]:
    """Rhubarb's JSON export -> cues; ``EngineError`` when it is not that format.

    The format: ``{"metadata": {"soundFile": ..., "duration": 1.23},
    "mouthCues": [{"start": 0.00, "end": 0.05, "shape": "X"}, ...]}``.
    """
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise EngineError(f"rhubarb: output is not JSON: {exc}") from exc
    cues = data.get("mouthCues") if isinstance(data, Mapping) else None
    if not isinstance(cues, list):
        raise EngineError("rhubarb: output has no mouthCues list")
    result: list[MouthCue] = []
    for i, cue in enumerate(cues):
        try:
            start, end, shape = float(cue["start"]), float(cue["end"]), str(cue["shape"])
        except (TypeError, KeyError, ValueError) as exc:
            raise EngineError(f"rhubarb: malformed cue #{i}: {cue!r}") from exc
        if shape not in MOUTH_SHAPES:
            raise EngineError(f"rhubarb: unknown mouth shape {shape!r} in cue #{i}")
        if end < start:
            raise EngineError(f"rhubarb: cue #{i} ends before it starts: {cue!r}")
        result.append(MouthCue(start, end, shape))
    return result
