"""OllamaLLM through the official ``ollama`` client against a fake Ollama server on loopback.

The fake (tests/fakes/ollama_server.py) speaks Ollama's real /api/chat NDJSON streaming
protocol and /api/tags, including its 404 "model not found" error, a stream cut midway,
an error line midway, a stream without ``done`` and a stall.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from synthesis.engines.llm import ollama as ollama_engine
from synthesis.engines.llm.ollama import DEFAULT_MODEL, OllamaLLM
from synthesis.interfaces import ChatMessage, EngineError, EngineUnavailable, StageTimeout
from synthesis.prompts import DEFAULT_SYSTEM_PROMPT_RU
from tests.fakes.http_base import free_port
from tests.fakes.ollama_server import FakeOllamaServer

HELLO = [ChatMessage("user", "Привет!")]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    ollama_engine._probe_cache.clear()


@pytest.fixture
def server() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as srv:
        yield srv  # type: ignore[misc]


def collect(engine: OllamaLLM, timeout: float = 5.0) -> list[str]:
    return list(engine.stream(HELLO, deadline=time.monotonic() + timeout))


def test_streams_deltas_in_order(server: FakeOllamaServer) -> None:
    deltas = collect(OllamaLLM(host=server.url))
    assert deltas == server.reply
    assert "".join(deltas) == "Привет! Я Алиса. Как дела?"


def test_request_carries_model_options_keep_alive_and_system_prompt(server: FakeOllamaServer) -> None:
    engine = OllamaLLM(host=server.url, temperature=0.3, max_tokens=64, n_ctx=2048, seed=5, keep_alive="1h")
    collect(engine)
    chat = server.chats[-1]
    assert chat["model"] == DEFAULT_MODEL
    assert chat["stream"] is True
    assert chat["keep_alive"] == "1h"
    assert chat["options"] == {
        "temperature": 0.3, "num_predict": 64, "num_ctx": 2048, "top_p": 0.9, "repeat_penalty": 1.1, "seed": 5,
    }
    assert chat["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT_RU},
        {"role": "user", "content": "Привет!"},
    ]


def test_callers_system_message_is_kept_and_no_default_added(server: FakeOllamaServer) -> None:
    engine = OllamaLLM(host=server.url)
    list(engine.stream([ChatMessage("system", "Ты кот."), *HELLO], deadline=time.monotonic() + 5))
    assert [m["role"] for m in server.chats[-1]["messages"]] == ["system", "user"]
    assert server.chats[-1]["messages"][0]["content"] == "Ты кот."


def test_ollama_host_env_overrides_the_option(server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", server.url.removeprefix("http://"))  # host:port, as Ollama allows
    engine = OllamaLLM(host="http://127.0.0.1:1")
    assert engine.host == server.url
    assert collect(engine) == server.reply
    assert OllamaLLM.availability(host="http://127.0.0.1:1").ok


def test_registry_name_of_the_default_config_maps_to_an_ollama_tag(server: FakeOllamaServer) -> None:
    server.models.append("qwen2.5-coder:1.5b-instruct-q4_K_M")
    engine = OllamaLLM(host=server.url, model="qwen2.5-coder-1.5b-instruct-q4_k_m", n_parallel=1, threads=2)
    collect(engine)
    assert server.chats[-1]["model"] == "qwen2.5-coder:1.5b-instruct-q4_K_M"


def test_a_gguf_file_name_is_refused_with_advice() -> None:
    with pytest.raises(ValueError, match="not an Ollama model"):
        OllamaLLM(model="model.gguf")
    assert "GGUF" in OllamaLLM.availability(model="model.gguf").reason


def test_unknown_options_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="avatar.synthesis.llm"):
        OllamaLLM(host="http://127.0.0.1:1", mirostat=2)
    assert "mirostat" in caplog.text


def test_model_not_pulled_names_the_pull_command(server: FakeOllamaServer) -> None:
    engine = OllamaLLM(host=server.url, model="mistral:7b-instruct-q4_K_M")
    with pytest.raises(EngineUnavailable, match=r"`ollama pull mistral:7b-instruct-q4_K_M`"):
        collect(engine)
    avail = OllamaLLM.availability(host=server.url, model="mistral:7b-instruct-q4_K_M")
    assert not avail.ok and "ollama pull mistral:7b-instruct-q4_K_M" in avail.reason


def test_model_name_without_tag_means_latest(server: FakeOllamaServer) -> None:
    server.models.append("mistral:latest")
    assert OllamaLLM.availability(host=server.url, model="mistral").ok
    assert collect(OllamaLLM(host=server.url, model="mistral")) == server.reply


def test_server_not_running() -> None:
    host = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EngineUnavailable, match=r"not running.*ollama serve"):
        collect(OllamaLLM(host=host))
    avail = OllamaLLM.availability(host=host)
    assert not avail.ok and "not running" in avail.reason and host in avail.reason


def test_stream_cut_midway_is_an_engine_error_after_the_deltas_that_came(server: FakeOllamaServer) -> None:
    server.mode, server.cut_after = "cut", 2
    got: list[str] = []
    with pytest.raises(EngineError, match="cut mid-stream"):
        for delta in OllamaLLM(host=server.url).stream(HELLO, deadline=time.monotonic() + 5):
            got.append(delta)
    assert got == server.reply[:2]


def test_error_line_midway(server: FakeOllamaServer) -> None:
    server.mode = "error"
    with pytest.raises(EngineError, match="llama runner process has terminated"):
        collect(OllamaLLM(host=server.url))


def test_stream_without_done_is_an_error(server: FakeOllamaServer) -> None:
    server.mode = "no_done"
    with pytest.raises(EngineError, match="ended before the reply was done"):
        collect(OllamaLLM(host=server.url))


def test_stalled_stream_times_out_at_the_deadline(server: FakeOllamaServer) -> None:
    server.mode, server.stall_s = "stall", 3.0
    started = time.monotonic()
    got: list[str] = []
    with pytest.raises(StageTimeout):
        for delta in OllamaLLM(host=server.url).stream(HELLO, deadline=started + 0.5):
            got.append(delta)
    assert time.monotonic() - started < 1.5
    assert got == server.reply[:2]


def test_deadline_already_passed() -> None:
    with pytest.raises(StageTimeout):
        list(OllamaLLM(host="http://127.0.0.1:1").stream(HELLO, deadline=time.monotonic() - 1))


def test_closing_the_stream_early_closes_the_connection(server: FakeOllamaServer) -> None:
    server.reply = [f"слово{i} " for i in range(200)]
    server.delay_s = 0.01
    stream = OllamaLLM(host=server.url).stream(HELLO, deadline=time.monotonic() + 10)
    assert next(stream) == "слово0 "
    stream.close()
    assert server.stopped_early.wait(3.0), "the server kept writing to a closed connection"
    assert server.sent < 200


def test_built_by_the_factory_from_the_config(server: FakeOllamaServer, tmp_path: object, settings: object) -> None:
    from pathlib import Path

    from synthesis import factory

    config = Path(str(tmp_path)) / "models.yaml"
    config.write_text(
        "llm: {engine: ollama, fallbacks: [], options: {model: 'qwen2.5:7b-instruct-q4_K_M', host: '"
        + server.url + "', max_tokens: 32}}\n"
        "sentiment: {engine: rules}\ntts: {engine: espeak-ng}\nlipsync: {engine: aligner}\nmotion: {engine: presets}\n",
        encoding="utf-8",
    )
    settings.AVATAR_CONFIG_FILE = config  # type: ignore[attr-defined]
    [candidate] = list(factory.candidates("llm"))
    assert candidate.name == "ollama" and candidate.availability.ok
    engine = factory.get_engine("llm", "ollama")
    assert collect(engine) == server.reply
    assert server.chats[-1]["options"]["num_predict"] == 32


def test_preload_asks_ollama_to_load_the_model(server: FakeOllamaServer) -> None:
    OllamaLLM(host=server.url, keep_alive="-1").preload()
    assert server.loaded == [DEFAULT_MODEL]
    assert server.chats[-1]["messages"] == [] and server.chats[-1]["keep_alive"] == "-1"
    with pytest.raises(EngineUnavailable, match="ollama pull nope"):
        OllamaLLM(host=server.url, model="nope").preload()
    with pytest.raises(EngineUnavailable, match="not running"):
        OllamaLLM(host=f"http://127.0.0.1:{free_port()}").preload()
