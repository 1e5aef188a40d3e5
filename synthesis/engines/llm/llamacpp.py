"""In-process llama.cpp chat model (``xllamacpp``) behind the ``LLMProvider`` protocol.

Why in-process: no server to deploy, and ``xllamacpp`` ships a prebuilt wheel.
Its ``Server.handle_chat_completions`` blocks until generation ends and reports
chunks through a callback, so ``stream`` runs it on a worker thread and hands
deltas to the consuming generator through a queue. The callback is also the
only way to stop generation (return True), which is how early close and
deadlines are honoured.

Pitfalls handled here (see docs / OFFLINE.md): an exception raised inside the
callback is swallowed by xllamacpp and silently ends the stream, so the callback
catches everything and the consumer re-raises it; llama.cpp errors (prompt
longer than the context, bad field) arrive as ``{"error": ...}`` chunks, not as
exceptions; ``Server`` also opens an HTTP listener on a random loopback port,
which we lock with a random API key so other local users cannot drive it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from synthesis.engines.llm.models import DEFAULT_MODEL, MODELS, get_spec, verify_file
from synthesis.gpu import default_models_dir
from synthesis.interfaces import (
    Availability,
    ChatMessage,
    EngineError,
    EngineUnavailable,
    StageTimeout,
)
from synthesis.prompts import DEFAULT_SYSTEM_PROMPT_RU

logger = logging.getLogger("avatar.synthesis.llm")

# Tuned on Qwen2.5-Coder-1.5B (seeds 1-4, temperature 0.5/0.7): the reply is
# spoken sentence by sentence, so it must be a few short plain sentences. Naming
# the forbidden forms ("списки, пункты, markdown") cut bulleted recipes most of
# the time; stating what the avatar is stops "I was made by Microsoft/Meta" in
# most self-introductions. The model still invents facts: it is a 1.5B coder.

INSTALL_HINT = "run `python manage.py install_model`"
# How long close()/timeout wait for the worker to notice the stop flag. Decoding
# checks it every token (~40 ms); prompt processing cannot be interrupted, and
# waiting for it would delay StageTimeout, so such a worker finishes in the
# background (holding the slot, so the next request queues behind it).
STOP_JOIN_S = 0.5


@dataclass(frozen=True)
class _LoadKey:
    path: str
    n_ctx: int
    threads: int
    n_parallel: int
    verbose: bool


class _LoadedModel:
    """A loaded ``xllamacpp.Server`` and the slots that bound concurrent generations."""

    def __init__(self, server: Any, n_parallel: int) -> None:
        self.server = server
        # n_parallel=1 would serialize inside llama.cpp anyway; doing it here lets
        # a timed-out or closed request give up its place without ever starting.
        self.slots = threading.BoundedSemaphore(n_parallel)
        self.pins: set[str | None] = set()  # hashes the file was checked against


_LOADED: dict[_LoadKey, _LoadedModel] = {}
_LOAD_LOCK = threading.Lock()
_VERIFIED: set[tuple[str, int, int, str | None]] = set()  # (path, size, mtime_ns, sha256)


def default_threads() -> int:
    # The affinity mask, not os.cpu_count(): containers often get fewer cores than
    # the host has, and oversubscribed llama.cpp threads are much slower.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def resolve_model(model: str, models_dir: Path) -> tuple[Path, str | None]:
    """The GGUF path for a registry name or a ``.gguf`` path (relative to ``models_dir``),
    and the SHA-256 pinned for it if known."""
    if model in MODELS:
        spec = get_spec(model)
        return models_dir / spec.filename, spec.sha256
    path = Path(model).expanduser()
    if path.suffix != ".gguf":
        get_spec(model)  # raises UnknownModelError listing the known names
    path = path if path.is_absolute() else models_dir / path
    pinned = next((s.sha256 for s in MODELS.values() if s.filename == path.name), None)
    return path, pinned


def _xllamacpp() -> Any:
    # Imported lazily: it is optional, and the module has no type stubs.
    try:
        return importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise EngineUnavailable(f"xllamacpp is not installed: {exc}") from exc


def _ensure_verified(path: Path, sha256: str | None) -> None:
    """Check the file against its pinned hash once per process.

    ``verify_file`` trusts a ``.sha256`` sidecar written by a previous full check
    when it is not older than the model, so a normal start costs two ``stat``s;
    a missing or stale sidecar costs one full hash (~1 s warm, a few s cold).
    """
    if not path.is_file():
        raise EngineUnavailable(f"model not installed: {path} is missing; {INSTALL_HINT}")
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, sha256)
    if key in _VERIFIED:
        return
    if sha256 is None:
        logger.warning("no pinned SHA-256 for %s; loading it unverified", path)
    else:
        verify_file(path, sha256)
    _VERIFIED.add(key)


def _load(key: _LoadKey) -> _LoadedModel:
    xl = _xllamacpp()
    params = xl.CommonParams()
    params.model.path = key.path
    params.n_ctx = key.n_ctx  # split across n_parallel slots by llama.cpp
    params.n_parallel = key.n_parallel
    params.cpuparams.n_threads = key.threads
    params.cpuparams_batch.n_threads = key.threads
    params.verbosity = 3 if key.verbose else 0
    params.api_keys = [secrets.token_hex(16)]  # lock the loopback HTTP listener
    started = time.monotonic()
    try:
        server = xl.Server(params)
    except Exception as exc:
        raise EngineError(f"llama.cpp could not load {key.path}: {exc}") from exc
    logger.info("loaded %s in %.1f s", key.path, time.monotonic() - started)
    return _LoadedModel(server, key.n_parallel)


def _get_loaded(key: _LoadKey, sha256: str | None) -> _LoadedModel:
    # One global lock: loading is rare and two simultaneous 1 GB loads would only
    # compete for the same two cores and memory.
    with _LOAD_LOCK:
        loaded = _LOADED.get(key)
        if loaded is not None and sha256 in loaded.pins:
            return loaded
        # Also for a loaded model: another instance may pin another hash.
        _ensure_verified(Path(key.path), sha256)
        if loaded is None:
            loaded = _LOADED[key] = _load(key)
        loaded.pins.add(sha256)
        return loaded


@dataclass(frozen=True)
class _Event:
    kind: Literal["delta", "error", "timeout", "done"]
    text: str = ""
    error: BaseException | None = None


def _chunk_text(chunk: Mapping[str, Any]) -> str:
    """The content delta of one OpenAI-style chunk; raise on an error chunk."""
    if "error" in chunk:
        err = chunk["error"]
        message = err.get("message", err) if isinstance(err, Mapping) else err
        raise EngineError(f"llama.cpp: {message}")
    parts = [c.get("delta", {}).get("content") for c in chunk.get("choices", ())]
    return "".join(p for p in parts if isinstance(p, str))


class _Generation:
    """One streamed completion running on a worker thread."""

    def __init__(self, loaded: _LoadedModel, request: dict[str, Any], deadline: float) -> None:
        self._loaded = loaded
        self._request = request
        self._deadline = deadline
        self._queue: queue.Queue[_Event] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llamacpp-generate", daemon=True)

    def _callback(self, chunk: Mapping[str, Any]) -> bool:
        # Must never raise: xllamacpp would swallow the exception and end quietly.
        try:
            if self._stop.is_set():
                return True
            if time.monotonic() >= self._deadline:
                self._queue.put(_Event("timeout"))
                return True
            text = _chunk_text(chunk)
            if text:
                self._queue.put(_Event("delta", text=text))
            return False
        except BaseException as exc:  # handed to the consumer, see above
            self._queue.put(_Event("error", error=exc))
            return True

    def _run(self) -> None:
        try:
            with self._loaded.slots:
                if not self._stop.is_set():
                    self._loaded.server.handle_chat_completions(self._request, self._callback)
        except BaseException as exc:  # re-raised by the consumer
            self._queue.put(_Event("error", error=exc))
        finally:
            self._queue.put(_Event("done"))

    def _next(self) -> _Event:
        # timeout=0 still returns an item already queued: what came is yielded.
        remaining = max(0.0, self._deadline - time.monotonic())
        try:
            return self._queue.get(timeout=remaining)
        except queue.Empty:
            return _Event("timeout")

    def deltas(self) -> Iterator[str]:
        self._thread.start()
        try:
            while (event := self._next()).kind == "delta":
                yield event.text
            if event.kind == "timeout":
                raise StageTimeout("llama.cpp generation passed its deadline")
            if event.error is not None:
                raise event.error
        finally:
            # Early close, timeout or error: tell the worker to stop at its next token.
            self._stop.set()
            self._thread.join(timeout=STOP_JOIN_S)


class LlamaCppLLM:
    """Chat completions from a local GGUF model through llama.cpp, streamed.

    The model is loaded on first use and shared by every instance in the process
    with the same file and load parameters; sampling options are per request.
    """

    name: ClassVar[str] = "llamacpp"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        models_dir: str | Path | None = None,
        n_ctx: int = 4096,
        threads: int = 0,
        n_parallel: int = 1,
        temperature: float = 0.7,
        max_tokens: int = 256,
        top_p: float = 0.9,
        repeat_penalty: float = 1.1,
        seed: int | None = None,
        system_prompt: str | None = None,
        sha256: str | None = None,
        verbose: bool = False,
    ) -> None:
        if n_ctx < 0 or threads < 0 or n_parallel < 1 or max_tokens < 1 or temperature < 0:
            raise ValueError("llamacpp: n_ctx/threads >= 0, n_parallel/max_tokens >= 1, temperature >= 0")
        directory = Path(models_dir) if models_dir else default_models_dir()
        self.path, pinned = resolve_model(model, directory)
        self.sha256 = sha256 or pinned
        self.key = _LoadKey(str(self.path), n_ctx, threads or default_threads(), n_parallel, verbose)
        self.sampling: dict[str, Any] = {
            "temperature": temperature,
            "max_tokens": max_tokens,
            "top_p": top_p,
            "repeat_penalty": repeat_penalty,
        }
        if seed is not None:
            self.sampling["seed"] = seed
        # None: the default prompt; "": none. Used only when the caller sends no system message.
        self.system_prompt = DEFAULT_SYSTEM_PROMPT_RU if system_prompt is None else system_prompt

    @classmethod
    def availability(cls, model: str = DEFAULT_MODEL, models_dir: str | Path | None = None) -> Availability:
        """Whether that model could be loaded here (cheap: no hashing, no loading)."""
        try:
            return cls(model=model, models_dir=models_dir).ready()
        except EngineError as exc:  # e.g. an unknown model name
            return Availability(False, str(exc))

    def ready(self) -> Availability:
        """Whether this instance's model could be loaded (cheap: no hashing, no loading)."""
        if importlib.util.find_spec("xllamacpp") is None:
            return Availability(False, "xllamacpp is not installed (pip install xllamacpp)")
        if not self.path.is_file():
            return Availability(False, f"model not installed: {self.path}; {INSTALL_HINT}")
        return Availability(True)

    def preload(self, *, warm: bool = True) -> None:
        """Verify and load the model now (e.g. at worker start) instead of on first use.

        ``warm`` also runs the system prompt through the model once: llama.cpp keeps
        it in the slot's KV cache, which cut the first reply's first-token time
        from ~2 s to ~0.3 s on 2 cores (~90 prompt tokens at ~50 tokens/s).
        """
        _get_loaded(self.key, self.sha256)
        if warm and self.system_prompt:
            deadline = time.monotonic() + 60
            for _ in self.stream([ChatMessage("user", "Привет")], deadline=deadline, max_tokens=1):
                pass

    def request(self, messages: Sequence[ChatMessage], **overrides: Any) -> dict[str, Any]:
        chat = [{"role": m.role, "content": m.content} for m in messages]
        if self.system_prompt and not any(m.role == "system" for m in messages):
            chat.insert(0, {"role": "system", "content": self.system_prompt})
        return {"messages": chat, "stream": True, **self.sampling, **overrides}

    def stream(
        self, messages: Sequence[ChatMessage], *, deadline: float, **overrides: Any
    ) -> Generator[str, None, None]:
        """Yield deltas; ``close()`` the generator to stop generation early (GC also does).

        ``overrides`` replace sampling fields of this one request (e.g. ``max_tokens``).
        """
        if time.monotonic() >= deadline:
            raise StageTimeout("llama.cpp: deadline already passed before generation")
        loaded = _get_loaded(self.key, self.sha256)
        yield from _Generation(loaded, self.request(messages, **overrides), deadline).deltas()
