"""OpenAICompatLLM against a fake OpenAI-compatible server (SSE /v1/chat/completions)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from synthesis.engines.llm import openai_compat
from synthesis.engines.llm.openai_compat import OpenAICompatLLM, _sse_data
from synthesis.interfaces import ChatMessage, EngineError, EngineUnavailable, StageTimeout
from synthesis.prompts import DEFAULT_SYSTEM_PROMPT_RU
from tests.fakes.http_base import free_port
from tests.fakes.openai_server import FakeOpenAIServer

HELLO = [ChatMessage("user", "Привет!")]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    openai_compat._probe_cache.clear()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv  # type: ignore[misc]


def collect(engine: OpenAICompatLLM, timeout: float = 5.0) -> list[str]:
    return list(engine.stream(HELLO, deadline=time.monotonic() + timeout))


def test_streams_deltas_and_sends_an_openai_request(server: FakeOpenAIServer) -> None:
    engine = OpenAICompatLLM(base_url=server.base_url, model="qwen2.5-7b-instruct", temperature=0.2, max_tokens=50,
                             seed=1, extra_body={"repeat_penalty": 1.1})
    assert collect(engine) == server.reply
    chat = server.chats[-1]
    assert chat == {
        "model": "qwen2.5-7b-instruct",
        "messages": [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT_RU}, {"role": "user", "content": "Привет!"}],
        "stream": True, "temperature": 0.2, "max_tokens": 50, "top_p": 0.9, "seed": 1, "repeat_penalty": 1.1,
    }
    assert "Authorization" not in server.requests[-1]["headers"]


def test_without_a_model_uses_the_first_served_one(server: FakeOpenAIServer) -> None:
    server.models = ["served-model", "other"]
    collect(OpenAICompatLLM(base_url=server.base_url))
    assert server.chats[-1]["model"] == "served-model"


def test_base_url_and_key_from_the_environment(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.api_key = "sk-test"
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    engine = OpenAICompatLLM(base_url="http://127.0.0.1:1/v1", model="m")
    assert engine.base_url == server.base_url
    assert OpenAICompatLLM.availability().ok
    assert collect(engine) == server.reply
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer sk-test"


def test_wrong_key(server: FakeOpenAIServer) -> None:
    server.api_key = "sk-right"
    engine = OpenAICompatLLM(base_url=server.base_url, api_key="sk-wrong", model="m")
    with pytest.raises(EngineUnavailable, match="OPENAI_API_KEY"):
        collect(engine)
    assert "OPENAI_API_KEY" in OpenAICompatLLM.availability(base_url=server.base_url, api_key="sk-wrong").reason


def test_unknown_model_lists_the_served_ones(server: FakeOpenAIServer) -> None:
    server.strict_model = True  # like vLLM
    with pytest.raises(EngineUnavailable, match=r"model 'nope' not found.*served: qwen2.5-7b-instruct"):
        collect(OpenAICompatLLM(base_url=server.base_url, model="nope"))


def test_server_not_running() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EngineUnavailable, match="no OpenAI-compatible server"):
        collect(OpenAICompatLLM(base_url=url, model="m"))
    assert "OPENAI_BASE_URL" in OpenAICompatLLM.availability(base_url=url).reason


@pytest.mark.parametrize(
    ("mode", "message"),
    [("cut", "cut mid-stream"), ("error", "the model crashed"), ("no_done", r"no \[DONE\]")],
)
def test_broken_streams(server: FakeOpenAIServer, mode: str, message: str) -> None:
    server.mode = mode
    got: list[str] = []
    with pytest.raises(EngineError, match=message):
        for delta in OpenAICompatLLM(base_url=server.base_url, model="m").stream(HELLO, deadline=time.monotonic() + 5):
            got.append(delta)
    assert got == server.reply[: len(got)] and got


def test_stall_times_out_at_the_deadline(server: FakeOpenAIServer) -> None:
    server.mode, server.stall_s = "stall", 3.0
    started = time.monotonic()
    with pytest.raises(StageTimeout):
        collect(OpenAICompatLLM(base_url=server.base_url, model="m"), timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_closing_early_stops_the_server(server: FakeOpenAIServer) -> None:
    server.reply = [f"w{i} " for i in range(200)]
    server.delay_s = 0.01
    stream = OpenAICompatLLM(base_url=server.base_url, model="m").stream(HELLO, deadline=time.monotonic() + 10)
    next(stream)
    stream.close()
    assert server.stopped_early.wait(3.0)


def test_sse_parsing_follows_the_spec() -> None:
    lines = [": comment", "data: a", "", "event: x", "data:b", "data: c", "", "data: [DONE]", ""]
    assert list(_sse_data(iter(lines))) == ["a", "b\nc", "[DONE]"]
