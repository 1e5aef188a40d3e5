"""Engine selection with the production engines: the configured engine, else the next
available one, with the reason recorded as ``StageFailed``; a stage that times out
falls back the same way; and a whole turn through Ollama (fake server) and Rhubarb
(fake binary) in the embedded mode."""

from __future__ import annotations

import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from synthesis import factory, pipeline
from synthesis.audio import write_wav
from synthesis.engines.llm import ollama as ollama_engine
from synthesis.engines.llm import openai_compat
from synthesis.interfaces import ChatMessage, MouthCue, SpeechAudio
from tests.fakes.ollama_server import FakeOllamaServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers import EngineConfig

FAKE_RHUBARB = Path(__file__).resolve().parents[2] / "fakes" / "rhubarb"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OLLAMA_HOST", "OPENAI_BASE_URL", "OPENAI_API_KEY", "RHUBARB_PATH", "FAKE_RHUBARB_MODE",
                "AVATAR_LLM_ENGINE", "AVATAR_LLM_MODEL", "AVATAR_LIPSYNC_ENGINE", "AVATAR_TTS_ENGINE",
                "AVATAR_TTS_SPEAKER_WAV"):
        monkeypatch.delenv(var, raising=False)
    ollama_engine._probe_cache.clear()
    openai_compat._probe_cache.clear()
    # Engines read OLLAMA_HOST etc. when built, and the factory keeps instances per process.
    factory._instance.cache_clear()


@pytest.fixture
def config(tmp_path: Path, settings: Any) -> EngineConfig:
    raw = yaml.safe_load(Path(settings.AVATAR_CONFIG_FILE).read_text(encoding="utf-8"))
    return EngineConfig(raw, path=tmp_path / "models_config.yaml", settings=settings)


@pytest.fixture
def rhubarb(tmp_path: Path) -> Path:
    binary = tmp_path / "rhubarb"
    shutil.copy(FAKE_RHUBARB, binary)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


@pytest.fixture
def ollama_server() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply=["Запасной ", "ответ."]) as srv:
        yield srv  # type: ignore[misc]


def audio(seconds: float = 1.0) -> SpeechAudio:
    t = np.arange(int(seconds * 16000)) / 16000
    return SpeechAudio(wav=write_wav(0.3 * np.sin(2 * np.pi * 200 * t), 16000), sample_rate=16000,
                       duration_ms=round(seconds * 1000), text="Мама мыла раму.")


def run(stage: str, call: Any) -> pipeline.Attempt:
    return pipeline.run_engines(stage, call, session_id="s", turn_id="t", index=0, degraded="none")


def test_unavailable_configured_engine_falls_back_with_the_reason(config: EngineConfig, tmp_path: Path) -> None:
    config["lipsync"] = {"engine": "rhubarb", "fallbacks": ["aligner"], "options": {"path": str(tmp_path / "nope")}}
    config.apply()
    names = [(c.name, c.availability.ok) for c in factory.candidates("lipsync")]
    assert names == [("rhubarb", False), ("aligner", True)]
    attempt = run("lipsync", lambda e: e.generate(audio()))
    assert attempt.engine == "aligner"
    [failed] = attempt.failures
    assert failed.engine == "rhubarb" and failed.fallback == "aligner"  # type: ignore[attr-defined]
    assert failed.error.startswith("unavailable: rhubarb binary not found")  # type: ignore[attr-defined]
    assert "RHUBARB_PATH" in failed.error  # type: ignore[attr-defined]


def test_configured_engine_is_used_when_available(config: EngineConfig, rhubarb: Path) -> None:
    config["lipsync"] = {"engine": "rhubarb", "fallbacks": ["aligner"], "options": {"path": str(rhubarb)}}
    config.apply()
    attempt = run("lipsync", lambda e: e.generate(audio()))
    assert attempt.engine == "rhubarb" and not attempt.failures
    assert all(isinstance(c, MouthCue) for c in attempt.result)


def test_env_selects_the_engine_and_its_binary(
    config: EngineConfig, rhubarb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.apply()  # the default config: phonemes -> aligner
    monkeypatch.setenv("AVATAR_LIPSYNC_ENGINE", "rhubarb")
    monkeypatch.setenv("RHUBARB_PATH", str(rhubarb))
    assert [c.name for c in factory.candidates("lipsync")] == ["rhubarb", "aligner"]
    assert run("lipsync", lambda e: e.generate(audio())).engine == "rhubarb"


def test_failing_engine_falls_back_with_its_error(
    config: EngineConfig, rhubarb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config["lipsync"] = {"engine": "rhubarb", "fallbacks": ["aligner"], "options": {"path": str(rhubarb)}}
    config.apply()
    monkeypatch.setenv("FAKE_RHUBARB_MODE", "exit")
    attempt = run("lipsync", lambda e: e.generate(audio()))
    assert attempt.engine == "aligner"
    assert attempt.failures[0].error.startswith("EngineError: rhubarb exited with status 1")  # type: ignore[attr-defined]


def test_a_stage_that_times_out_falls_back(
    config: EngineConfig, rhubarb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config["lipsync"] = {"engine": "rhubarb", "fallbacks": ["aligner"],
                         "options": {"path": str(rhubarb), "time_limit_s": 0.3}}
    config.apply()
    monkeypatch.setenv("FAKE_RHUBARB_MODE", "sleep")
    monkeypatch.setenv("FAKE_RHUBARB_SLEEP", "10")
    started = time.monotonic()
    attempt = run("lipsync", lambda e: e.generate(audio()))
    assert time.monotonic() - started < 3
    assert attempt.engine == "aligner"
    assert attempt.failures[0].error.startswith("StageTimeout: rhubarb ran past its time limit")  # type: ignore[attr-defined]


def test_llm_model_not_pulled_falls_back_to_the_openai_server(
    config: EngineConfig, ollama_server: FakeOllamaServer, openai_server: FakeOpenAIServer
) -> None:
    config["llm"] = {**config["llm"], "engine": "ollama", "fallbacks": ["openai"],
                     "options": {"model": "mistral:7b", "host": ollama_server.url}}
    config.apply()
    # Fallbacks run with default options: the OpenAI engine reads OPENAI_BASE_URL.
    import os

    os.environ["OPENAI_BASE_URL"] = openai_server.base_url
    try:
        cands = list(factory.candidates("llm"))
        assert not cands[0].availability.ok and "ollama pull mistral:7b" in cands[0].availability.reason
        deadline = time.monotonic() + 5
        attempt = run("llm", lambda e: "".join(e.stream([ChatMessage("user", "Привет")], deadline=deadline)))
    finally:
        del os.environ["OPENAI_BASE_URL"]
    assert attempt.engine == "openai" and attempt.result == "Запасной ответ."
    assert "ollama pull mistral:7b" in attempt.failures[0].error  # type: ignore[attr-defined]


def test_llm_timeout_falls_back(
    config: EngineConfig, ollama_server: FakeOllamaServer, openai_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ollama_server.mode, ollama_server.cut_after, ollama_server.stall_s = "stall", 0, 3.0
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    config["llm"] = {**config["llm"], "engine": "ollama", "fallbacks": ["openai"], "options": {}}
    config.apply()

    def call(engine: Any) -> str:
        return "".join(engine.stream([ChatMessage("user", "Привет")], deadline=time.monotonic() + 0.5))

    attempt = run("llm", call)
    assert attempt.engine == "openai"
    assert attempt.failures[0].error.startswith("StageTimeout: ollama")  # type: ignore[attr-defined]


def test_every_engine_unavailable_degrades(config: EngineConfig, tmp_path: Path) -> None:
    config["tts"] = {"engine": "xtts", "fallbacks": ["silero"],
                     "options": {"model_dir": str(tmp_path / "no-xtts")}}
    config.apply()
    attempt = pipeline.run_engines("tts", lambda e: e.synthesize("Привет.", timeout=5), session_id="s",
                                   turn_id="t", index=0, degraded="text-only")
    assert attempt.engine is None
    assert [(f.engine, f.fallback) for f in attempt.failures] == [  # type: ignore[attr-defined]
        ("xtts", "silero"), ("silero", "text-only"),
    ]
    assert all(f.error.startswith("unavailable: ") for f in attempt.failures)  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_whole_turn_through_ollama_and_rhubarb(
    config: EngineConfig, ollama_server: FakeOllamaServer, rhubarb: Path
) -> None:
    from conversations import services
    from tests.helpers import assert_complete_turn, wait_for_turn

    ollama_server.reply = ["Привет", "! Рада ", "тебя видеть", ". Как", " у тебя дела?"]
    config["llm"] = {**config["llm"], "engine": "ollama", "fallbacks": [],
                     "options": {"model": "qwen2.5:7b-instruct-q4_K_M", "host": ollama_server.url}}
    config["lipsync"] = {"engine": "rhubarb", "fallbacks": ["aligner"], "options": {"path": str(rhubarb)}}
    config["tts"] = {"engine": "espeak-ng", "fallbacks": []}
    config.apply()
    session_id = services.start_session(client="test")
    user = services.receive_user_message(session_id, "Привет!")
    events = wait_for_turn(session_id, user.data["turn_id"], timeout=120)
    assert_complete_turn(events)
    reply = next(e for e in events if e.type == "ReplyGenerated")
    assert reply.data["engine"] == "ollama"
    assert [e.data["text"] for e in events if e.type == "SentenceGenerated"] == [
        "Привет!", "Рада тебя видеть.", "Как у тебя дела?",
    ]
    assert {e.data["generator"] for e in events if e.type == "LipSyncGenerated"} == {"rhubarb"}
