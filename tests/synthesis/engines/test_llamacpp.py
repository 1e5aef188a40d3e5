"""LlamaCppLLM against the real installed GGUF model (Qwen2.5-Coder-1.5B, ~2 s to load).

Tests marked ``model`` fail, not skip, when the model is missing: a silent skip
would let the LLM path go untested. Install it with ``python manage.py install_model``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from synthesis.engines.llm.llamacpp import LlamaCppLLM
from synthesis.engines.llm.models import DEFAULT_MODEL, MODELS, HashMismatchError
from synthesis.interfaces import ChatMessage, EngineError, LLMProvider, StageTimeout
from synthesis.prompts import DEFAULT_SYSTEM_PROMPT_RU

MODELS_DIR = Path(os.environ.get("AVATAR_MODELS_DIR", Path(__file__).resolve().parents[3] / "var" / "models"))
MODEL_FILE = MODELS_DIR / MODELS[DEFAULT_MODEL].filename
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)

SYSTEM = ChatMessage("system", DEFAULT_SYSTEM_PROMPT_RU)
HELLO = [SYSTEM, ChatMessage("user", "Привет! Расскажи о себе.")]
LONG = [SYSTEM, ChatMessage("user", "Назови словами все числа от одного до ста, через запятую.")]


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "llamacpp-generate" and t.is_alive()]


def workers_stop(within: float = 10.0) -> bool:
    """Whether every generation thread has returned within ``within`` seconds.

    Stopping takes one token (~40 ms idle); the bound is loose because the machine is
    shared, and still far below the ~15 s a reply that is not stopped would run on.
    """
    deadline = time.monotonic() + within
    while worker_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not worker_threads()


@pytest.fixture(scope="module")
def llm() -> LlamaCppLLM:
    if not MODEL_FILE.is_file():
        pytest.fail(
            f"model file {MODEL_FILE} is missing: run `python manage.py install_model` "
            "(or set AVATAR_MODELS_DIR to where it is installed)"
        )
    engine = LlamaCppLLM(models_dir=MODELS_DIR, seed=7, temperature=0.3, max_tokens=400)
    engine.preload()
    return engine


def timed_deltas(engine: LlamaCppLLM, messages: list[ChatMessage]) -> tuple[list[tuple[float, str]], float]:
    start = time.monotonic()
    got = [(time.monotonic() - start, d) for d in engine.stream(messages, deadline=start + 120)]
    return got, time.monotonic() - start


@pytest.mark.model
def test_streams_a_russian_reply_incrementally(llm: LlamaCppLLM) -> None:
    deltas, total = timed_deltas(llm, HELLO)
    text = "".join(d for _, d in deltas)
    assert len(deltas) >= 5, text
    first_at = deltas[0][0]
    assert first_at < total - 0.1, f"first delta at {first_at:.2f}s of {total:.2f}s: not streamed"
    assert CYRILLIC.search(text), text


@pytest.mark.model
def test_early_close_stops_generation(llm: LlamaCppLLM) -> None:
    gen = llm.stream(LONG, deadline=time.monotonic() + 120)
    taken = [next(gen) for _ in range(3)]
    start = time.monotonic()
    gen.close()
    assert time.monotonic() - start < 5.0
    assert workers_stop()  # the worker saw the stop flag and returned
    assert all(isinstance(t, str) for t in taken)
    deltas, _ = timed_deltas(LlamaCppLLM(models_dir=MODELS_DIR, max_tokens=4), HELLO)
    assert deltas


@pytest.mark.model
def test_deadline_in_the_past_raises_at_once(llm: LlamaCppLLM) -> None:
    with pytest.raises(StageTimeout):
        next(llm.stream(HELLO, deadline=time.monotonic() - 1))


@pytest.mark.model
def test_short_deadline_yields_what_came_then_raises(llm: LlamaCppLLM) -> None:
    # Time to first token varies with the machine's load: measure it, then give the
    # stream that long plus 1.5 s, well short of the whole reply (~400 tokens).
    first, _ = timed_deltas(LlamaCppLLM(models_dir=MODELS_DIR, max_tokens=2), LONG)
    budget = first[0][0] + 1.5
    start = time.monotonic()
    got: list[str] = []
    with pytest.raises(StageTimeout):
        for delta in llm.stream(LONG, deadline=start + budget):
            got.append(delta)
    elapsed = time.monotonic() - start
    assert budget - 0.1 < elapsed < budget + 3.0, (elapsed, budget)
    assert got, "nothing was yielded before the deadline"
    assert workers_stop()


@pytest.mark.model
def test_concurrent_requests_are_serialized_and_both_complete(llm: LlamaCppLLM) -> None:
    short = LlamaCppLLM(models_dir=MODELS_DIR, max_tokens=12, seed=1)
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append("".join(short.stream(HELLO, deadline=time.monotonic() + 60)))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(results) == 2 and all(results)


@pytest.mark.model
def test_llamacpp_error_chunk_is_raised_not_swallowed(llm: LlamaCppLLM) -> None:
    # A second server with a small context (llama.cpp's minimum is 256): the prompt
    # does not fit, llama.cpp answers with an error chunk inside the callback,
    # and the consumer must raise it.
    small = LlamaCppLLM(models_dir=MODELS_DIR, n_ctx=256, max_tokens=8)
    too_long = [SYSTEM, ChatMessage("user", "Расскажи длинную историю про кота. " * 60)]
    with pytest.raises(EngineError, match="context size"):
        list(small.stream(too_long, deadline=time.monotonic() + 60))


@pytest.mark.model
def test_wrong_pinned_hash_refuses_to_load(llm: LlamaCppLLM) -> None:
    with pytest.raises(HashMismatchError, match="0000"):
        LlamaCppLLM(models_dir=MODELS_DIR, sha256="0" * 64).preload()


@pytest.mark.model
def test_ready_with_the_installed_model(llm: LlamaCppLLM) -> None:
    assert llm.ready().ok


def test_missing_model_is_unavailable_with_install_hint(tmp_path: Path) -> None:
    provider: LLMProvider = LlamaCppLLM(models_dir=tmp_path)  # mypy checks the protocol
    assert provider.name == "llamacpp"
    status = LlamaCppLLM(models_dir=tmp_path).ready()
    assert not status.ok and "install_model" in status.reason


def test_default_system_prompt_only_when_none_given(tmp_path: Path) -> None:
    engine = LlamaCppLLM(models_dir=tmp_path, max_tokens=32, seed=3)
    plain = engine.request([ChatMessage("user", "Привет")])
    assert plain["messages"][0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT_RU}
    assert (plain["stream"], plain["max_tokens"], plain["seed"]) == (True, 32, 3)
    own = engine.request([ChatMessage("system", "Своя роль"), ChatMessage("user", "Привет")])
    assert [m["content"] for m in own["messages"]] == ["Своя роль", "Привет"]
    bare = LlamaCppLLM(models_dir=tmp_path, system_prompt="").request([ChatMessage("user", "Привет")])
    assert [m["role"] for m in bare["messages"]] == ["user"]


def test_model_given_as_path(tmp_path: Path) -> None:
    own = tmp_path / "my.gguf"
    assert LlamaCppLLM(model=str(own)).path == own
    assert LlamaCppLLM(model="my.gguf", models_dir=tmp_path).path == own
    known = LlamaCppLLM(model=str(tmp_path / MODELS[DEFAULT_MODEL].filename))
    assert known.sha256 == MODELS[DEFAULT_MODEL].sha256  # a registry file keeps its pin
    with pytest.raises(EngineError, match="known: "):
        LlamaCppLLM(model="no-such-model")
