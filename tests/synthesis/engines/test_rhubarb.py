"""RhubarbLipSync against an executable that writes Rhubarb Lip Sync's real JSON format.

tests/fakes/rhubarb takes Rhubarb's command line, reads the WAV's length and writes
``{"metadata": {...}, "mouthCues": [...]}``; FAKE_RHUBARB_MODE selects a failure.
"""

from __future__ import annotations

import itertools
import json
import shutil
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from synthesis.audio import write_wav
from synthesis.engines.lipsync.rhubarb import RhubarbLipSync, parse_cues
from synthesis.interfaces import MOUTH_SHAPES, EngineError, MouthCue, SpeechAudio, StageTimeout

FAKE = Path(__file__).resolve().parents[2] / "fakes" / "rhubarb"


@pytest.fixture
def rhubarb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RHUBARB_PATH", raising=False)
    monkeypatch.delenv("FAKE_RHUBARB_MODE", raising=False)
    binary = tmp_path / "bin" / "rhubarb"
    binary.parent.mkdir()
    shutil.copy(FAKE, binary)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def speech(seconds: float = 1.37, rate: int = 16000, text: str = "Привет, как дела?") -> SpeechAudio:
    t = np.arange(int(seconds * rate)) / rate
    wav = write_wav(0.3 * np.sin(2 * np.pi * 220 * t), rate)
    return SpeechAudio(wav=wav, sample_rate=rate, duration_ms=round(seconds * 1000), text=text)


def assert_covers(cues: list[MouthCue], duration: float) -> None:
    assert cues[0].start == 0.0
    assert cues[-1].end == pytest.approx(duration, abs=1e-6)
    for a, b in itertools.pairwise(cues):
        assert a.end == pytest.approx(b.start) and a.shape != b.shape
    assert all(c.shape in MOUTH_SHAPES and c.end > c.start for c in cues)


def test_availability(rhubarb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert RhubarbLipSync.availability(path=str(rhubarb)).ok
    missing = RhubarbLipSync.availability(path=str(tmp_path / "nope"))
    assert not missing.ok and "RHUBARB_PATH" in missing.reason and "nope" in missing.reason
    not_exec = tmp_path / "plain"
    not_exec.write_text("")
    assert not RhubarbLipSync.availability(path=str(not_exec)).ok
    monkeypatch.setenv("RHUBARB_PATH", str(rhubarb))
    assert RhubarbLipSync.availability(path=str(tmp_path / "nope")).ok  # the env wins


def test_cues_cover_the_audio_and_the_command_line_is_rhubarbs(
    rhubarb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args_file = tmp_path / "args.json"
    monkeypatch.setenv("FAKE_RHUBARB_ARGS", str(args_file))
    audio = speech(1.37)
    cues = RhubarbLipSync(path=str(rhubarb)).generate(audio)
    assert_covers(cues, len(np.frombuffer(audio.wav[44:], "<i2")) / 16000)
    assert cues[0].shape == "X" and cues[-1].shape == "X"
    assert len({c.shape for c in cues}) >= 5
    args = json.loads(args_file.read_text())
    assert args[:8] == ["-f", "json", "-r", "phonetic", "--extendedShapes", "GHX", "-q", "-o"]
    assert args[-1].endswith(".wav") and "-d" not in args


def test_dialog_file_and_threads(rhubarb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args_file = tmp_path / "args.json"
    monkeypatch.setenv("FAKE_RHUBARB_ARGS", str(args_file))
    RhubarbLipSync(path=str(rhubarb), dialog=True, threads=2, recognizer="pocketSphinx").generate(speech())
    args = json.loads(args_file.read_text())
    assert args[args.index("-d") + 1].endswith("dialog.txt")
    assert args[args.index("--threads") + 1] == "2"
    assert args[args.index("-r") + 1] == "pocketSphinx"


def test_rhubarb_path_env(rhubarb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RHUBARB_PATH", str(rhubarb))
    assert RhubarbLipSync().generate(speech(0.5))


def test_short_audio(rhubarb: Path) -> None:
    cues = RhubarbLipSync(path=str(rhubarb)).generate(speech(0.05))
    assert_covers(cues, 0.05)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("exit", r"exited with status 1: \[Fatal\].*Could not open sound file"),
        ("garbage", "not JSON"),
        ("badshape", "unknown mouth shape 'Q'"),
        ("nooutput", "no readable output"),
    ],
)
def test_failures(rhubarb: Path, monkeypatch: pytest.MonkeyPatch, mode: str, message: str) -> None:
    monkeypatch.setenv("FAKE_RHUBARB_MODE", mode)
    with pytest.raises(EngineError, match=message):
        RhubarbLipSync(path=str(rhubarb)).generate(speech())


def test_time_limit(rhubarb: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_RHUBARB_MODE", "sleep")
    monkeypatch.setenv("FAKE_RHUBARB_SLEEP", "10")
    started = time.monotonic()
    with pytest.raises(StageTimeout, match="time limit"):
        RhubarbLipSync(path=str(rhubarb), time_limit_s=0.5).generate(speech())
    assert time.monotonic() - started < 3


def test_default_time_limit_scales_with_the_audio() -> None:
    engine = RhubarbLipSync(path="x")
    assert engine.time_limit(2.0) == 11.0
    assert engine.time_limit(100.0) == 120.0


def test_bad_audio_fails_before_running(tmp_path: Path) -> None:
    bad = SpeechAudio(wav=b"RIFF....not a wav", sample_rate=16000, duration_ms=100, text="x")
    with pytest.raises(EngineError, match="bad audio"):
        RhubarbLipSync(path=str(tmp_path / "never-run")).generate(bad)


def test_missing_binary_at_run_time(tmp_path: Path) -> None:
    from synthesis.interfaces import EngineUnavailable

    with pytest.raises(EngineUnavailable, match="not found"):
        RhubarbLipSync(path=str(tmp_path / "gone")).generate(speech())


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        RhubarbLipSync(recognizer="whisper")
    with pytest.raises(ValueError):
        RhubarbLipSync(extended_shapes="GZ")


def test_parse_rhubarb_json_example() -> None:
    # Rhubarb's documented JSON export.
    raw = """{
      "metadata": {"soundFile": "C:\\\\Users\\\\Daniel\\\\Desktop\\\\av\\\\sound.wav", "duration": 6.92},
      "mouthCues": [
        { "start": 0.00, "end": 0.04, "shape": "X" },
        { "start": 0.04, "end": 0.12, "shape": "B" },
        { "start": 0.12, "end": 0.18, "shape": "C" }
      ]
    }"""
    cues = parse_cues(raw)
    assert [(c.start, c.end, c.shape) for c in cues] == [(0.0, 0.04, "X"), (0.04, 0.12, "B"), (0.12, 0.18, "C")]
    for bad in ('{"metadata": {}}', '{"mouthCues": [{"start": 0}]}', '{"mouthCues": [{"start": 1, "end": 0.5, '
                '"shape": "A"}]}', "[]"):
        with pytest.raises(EngineError):
            parse_cues(bad)
