"""``manage.py engines`` and ``manage.py download_models`` (offline behaviour)."""

from __future__ import annotations

import io
import json
import sys
import types
import urllib.error
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command

from synthesis import factory
from synthesis.engines.llm import ollama as ollama_engine
from tests.fakes.ollama_server import FakeOllamaServer
from tests.helpers import EngineConfig


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OLLAMA_HOST", "OPENAI_BASE_URL", "RHUBARB_PATH", "AVATAR_LLM_ENGINE", "AVATAR_LIPSYNC_ENGINE",
                "AVATAR_TTS_ENGINE", "AVATAR_SENTIMENT_ENGINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    ollama_engine._probe_cache.clear()
    factory._instance.cache_clear()


@pytest.fixture
def config(tmp_path: Path, settings: Any) -> EngineConfig:
    raw = yaml.safe_load(Path(settings.AVATAR_CONFIG_FILE).read_text(encoding="utf-8"))
    return EngineConfig(raw, path=tmp_path / "models_config.yaml", settings=settings)


def engines_json(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("engines", "--json", *args, stdout=out)
    return json.loads(out.getvalue())["stages"]  # type: ignore[no-any-return]


def test_lists_every_stage_with_order_choice_and_reasons(config: EngineConfig, tmp_path: Path) -> None:
    config["lipsync"] = {"engine": "rhubarb", "fallbacks": ["aligner"], "options": {"path": str(tmp_path / "nope")}}
    config.apply()
    stages = engines_json()
    assert list(stages) == ["llm", "sentiment", "tts", "lipsync", "motion"]
    lipsync = stages["lipsync"]
    assert lipsync["configured"] == "rhubarb" and lipsync["order"] == ["rhubarb", "aligner"]
    assert lipsync["chosen"] == "aligner" and lipsync["env"] == "AVATAR_LIPSYNC_ENGINE"
    by_name = {e["name"]: e for e in lipsync["engines"]}
    assert by_name["rhubarb"] == {"name": "rhubarb", "position": 0, "available": False,
                                  "reason": by_name["rhubarb"]["reason"]}
    assert "rhubarb binary not found" in by_name["rhubarb"]["reason"]
    assert by_name["phonemes"]["position"] is None  # registered, not in the order
    for stage, info in stages.items():
        assert {e["name"] for e in info["engines"]} == set(factory.REGISTRY[stage]), stage
    tts = {e["name"]: e for e in stages["tts"]["engines"]}
    assert not tts["xtts"]["available"] and tts["xtts"]["reason"]


def test_ollama_reason_names_the_pull_command(config: EngineConfig) -> None:
    with FakeOllamaServer(models=["llama3.2:3b"]) as server:
        config["llm"] = {**config["llm"], "engine": "ollama", "fallbacks": ["llamacpp"],
                         "options": {"model": "qwen2.5:7b", "host": server.url}}
        config.apply()
        llm = engines_json("--stage", "llm")["llm"]
    ollama = next(e for e in llm["engines"] if e["name"] == "ollama")
    assert "`ollama pull qwen2.5:7b`" in ollama["reason"]
    assert llm["chosen"] in ("llamacpp", None)


def test_nothing_available_shows_the_degraded_mode(config: EngineConfig, tmp_path: Path) -> None:
    config["lipsync"] = {"engine": "rhubarb", "fallbacks": [], "options": {"path": str(tmp_path / "nope")}}
    config.apply()
    lipsync = engines_json("--stage", "lipsync")["lipsync"]
    assert lipsync["chosen"] is None and lipsync["degraded"] == "no cues"


def test_text_output_marks_the_chosen_engine(config: EngineConfig, tmp_path: Path) -> None:
    config["lipsync"] = {"engine": "rhubarb", "fallbacks": ["aligner"], "options": {"path": str(tmp_path / "nope")}}
    config.apply()
    out = io.StringIO()
    call_command("engines", "--stage", "lipsync", stdout=out)
    text = out.getvalue()
    assert text.startswith("lipsync: uses aligner  (configured: rhubarb, order: rhubarb -> aligner")
    assert "  * aligner       available" in text
    assert "    rhubarb       unavailable: rhubarb binary not found" in text
    assert "[not in the order]" in text


def test_env_override_shows_in_the_listing(config: EngineConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    config.apply()
    monkeypatch.setenv("AVATAR_TTS_ENGINE", "silero")
    tts = engines_json("--stage", "tts")["tts"]
    assert tts["configured"] == "silero" and tts["order"][0] == "silero"
    assert tts["chosen"] != "silero"
    assert "download_models silero" in tts["engines"][0]["reason"] or "not installed" in tts["engines"][0]["reason"]


# --- download_models -------------------------------------------------------------------


def test_download_refuses_xtts_without_the_licence(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--agree-cpml"):
        call_command("download_models", "xtts", "--models-dir", str(tmp_path))


def test_download_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="unknown model"):
        call_command("download_models", "gpt5", "--models-dir", str(tmp_path))


def test_download_offline_mode_says_what_to_copy_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CommandError, match=r"HF_HUB_OFFLINE is set.*needs network.*rubert-base-cased-sentiment"):
        call_command("download_models", "rubert", "--models-dir", str(tmp_path))


def test_download_network_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(**kwargs: Any) -> str:
        raise OSError("Name or service not known")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=no_network))
    with pytest.raises(CommandError, match=r"cannot download blanchefort/rubert-base-cased-sentiment.*needs network"):
        call_command("download_models", "rubert", "--models-dir", str(tmp_path))

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("offline")

    monkeypatch.setattr("urllib.request.urlopen", refused)
    with pytest.raises(CommandError, match=r"cannot download https://models.silero.ai.*silero/v4_ru.pt"):
        call_command("download_models", "silero", "--models-dir", str(tmp_path))


def test_download_puts_files_where_the_engines_look(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def snapshot_download(*, repo_id: str, local_dir: str, allow_patterns: list[str]) -> str:
        calls.append({"repo_id": repo_id, "allow_patterns": allow_patterns})
        for name in allow_patterns:
            if not name.endswith(".bin"):
                (Path(local_dir) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(local_dir) / name).write_text("{}")
        return local_dir

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: io.BytesIO(b"PK-fake-package"))
    out = io.StringIO()
    call_command("download_models", "--all", "--agree-cpml", "--models-dir", str(tmp_path), stdout=out)
    assert [c["repo_id"] for c in calls] == ["blanchefort/rubert-base-cased-sentiment", "coqui/XTTS-v2"]
    assert (tmp_path / "rubert-base-cased-sentiment" / "config.json").is_file()
    assert {"config.json", "model.pth", "vocab.json", "speakers_xtts.pth"} <= {
        p.name for p in (tmp_path / "xtts_v2").iterdir()
    }
    assert (tmp_path / "silero" / "v4_ru.pt").read_bytes() == b"PK-fake-package"
    out = io.StringIO()
    call_command("download_models", "--all", "--agree-cpml", "--models-dir", str(tmp_path), stdout=out)
    assert out.getvalue().count("already") == 3
