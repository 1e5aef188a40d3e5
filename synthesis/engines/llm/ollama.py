"""Chat through an Ollama server with the official ``ollama`` client, streamed.

Options (config ``llm.options`` when ``engine: ollama``; env overrides the file):

* ``model`` (``AVATAR_LLM_MODEL``): an Ollama tag, e.g. ``qwen2.5:7b-instruct-q4_K_M``
  (the default) or ``mistral:7b-instruct-q4_K_M``. The llama.cpp registry names of
  the default config are mapped to their Ollama tags.
* ``host`` (``OLLAMA_HOST``, read by this engine whether it is the configured
  engine or a fallback): default ``http://127.0.0.1:11434``.
* ``temperature``, ``max_tokens`` (Ollama's ``num_predict``), ``n_ctx``
  (``num_ctx``), ``top_p``, ``repeat_penalty``, ``seed``: sampling.
* ``keep_alive``: how long Ollama keeps the model loaded after a request
  (default ``30m``; ``-1`` forever, ``0`` unload at once).
* ``system_prompt``: None for the built-in Russian prompt.

Errors: server not running -> ``EngineUnavailable`` naming the host and
``ollama serve``; model not pulled (HTTP 404) -> ``EngineUnavailable`` naming the
``ollama pull <model>`` to run; stream cut midway -> ``EngineError``; deadline
-> ``StageTimeout``. ``availability()`` asks the server (``/api/tags``, 1 s
timeout, cached for a few seconds) so ``manage.py engines`` shows both problems.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, ClassVar

from synthesis.engines.llm.streaming import (
    chat_messages,
    default_system_prompt,
    env_or,
    http_stream,
    iterate,
)
from synthesis.interfaces import (
    Availability,
    ChatMessage,
    EngineError,
    EngineUnavailable,
    StageTimeout,
)

log = logging.getLogger("avatar.synthesis.llm")

DEFAULT_MODEL = "qwen2.5:7b-instruct-q4_K_M"
DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_KEEP_ALIVE = "30m"
INSTALL_HINT = "pip install ollama"
PROBE_TIMEOUT_S = 1.0
PROBE_CACHE_S = 5.0

# The llama.cpp engine's registry names (the default config's model) -> Ollama tags,
# so that AVATAR_LLM_ENGINE=ollama alone works with the default config file.
MODEL_ALIASES: dict[str, str] = {
    "qwen2.5-coder-1.5b-instruct-q4_k_m": "qwen2.5-coder:1.5b-instruct-q4_K_M",
    "qwen2.5-coder-0.5b-instruct-q4_k_m": "qwen2.5-coder:0.5b-instruct-q4_K_M",
}
# Options of other LLM engines that may sit in the same config section.
_FOREIGN_OPTIONS = frozenset({"models_dir", "threads", "n_parallel", "sha256", "verbose", "base_url", "api_key"})

_probe_cache: dict[tuple[str, str], tuple[float, Availability]] = {}
_probe_lock = threading.Lock()


def _ollama() -> Any:
    try:
        return importlib.import_module("ollama")
    except ImportError as exc:
        raise EngineUnavailable(f"the ollama client is not installed ({INSTALL_HINT}): {exc}") from exc


def _httpx() -> Any:
    return importlib.import_module("httpx")  # a dependency of ollama


def resolve_host(host: str | None = None) -> str:
    """OLLAMA_HOST, else the option, else the default; as a URL (``host:port`` allowed)."""
    raw = env_or(host, "OLLAMA_HOST", default=DEFAULT_HOST)
    try:
        parse = importlib.import_module("ollama._client")._parse_host
        return str(parse(raw))
    except (ImportError, AttributeError):
        return raw if "://" in raw else f"http://{raw}"


def resolve_model(model: str | None) -> str:
    name = (model or DEFAULT_MODEL).strip()
    if name in MODEL_ALIASES:
        return MODEL_ALIASES[name]
    if name.endswith(".gguf"):
        raise ValueError(
            f"ollama: {name!r} is a GGUF file name, not an Ollama model; set AVATAR_LLM_MODEL "
            f"to an Ollama tag (e.g. {DEFAULT_MODEL}) or import the file with `ollama create`"
        )
    return name


def _same_model(wanted: str, available: str) -> bool:
    """Ollama treats ``name`` as ``name:latest``."""

    def full(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    return full(wanted) == full(available)


def pull_hint(model: str) -> str:
    return f"run `ollama pull {model}`"


def _not_running(host: str) -> str:
    return f"ollama server not running at {host}: start it with `ollama serve` (or set OLLAMA_HOST)"


def _not_pulled(model: str, host: str) -> str:
    return f"ollama model {model!r} is not pulled on {host}: {pull_hint(model)}"


class OllamaLLM:
    """Streamed chat completions from an Ollama server."""

    name: ClassVar[str] = "ollama"

    def __init__(
        self,
        *,
        model: str | None = None,
        host: str | None = None,
        temperature: float = 0.7,
        max_tokens: int = 256,
        n_ctx: int | None = 4096,
        top_p: float | None = 0.9,
        repeat_penalty: float | None = 1.1,
        seed: int | None = None,
        keep_alive: str | float | None = DEFAULT_KEEP_ALIVE,
        system_prompt: str | None = None,
        think: bool | None = None,
        **ignored: Any,
    ) -> None:
        if max_tokens < 1 or temperature < 0:
            raise ValueError("ollama: max_tokens >= 1 and temperature >= 0")
        unknown = set(ignored) - _FOREIGN_OPTIONS
        if unknown:
            log.warning("ollama: ignoring unknown options %s", sorted(unknown))
        self.model = resolve_model(model)
        self.host = resolve_host(host)
        self.keep_alive = keep_alive
        self.think = think
        self.system_prompt = default_system_prompt(system_prompt)
        options: dict[str, Any] = {"temperature": temperature, "num_predict": max_tokens}
        for key, value in (("num_ctx", n_ctx), ("top_p", top_p), ("repeat_penalty", repeat_penalty), ("seed", seed)):
            if value is not None:
                options[key] = value
        self.options = options

    @classmethod
    def availability(cls, model: str | None = None, host: str | None = None) -> Availability:
        """The client is installed, the server answers and has the model (cached ~5 s)."""
        if importlib.util.find_spec("ollama") is None:
            return Availability(False, f"the ollama client is not installed ({INSTALL_HINT})")
        try:
            name = resolve_model(model)
        except ValueError as exc:
            return Availability(False, str(exc))
        url = resolve_host(host)
        key = (url, name)
        with _probe_lock:
            cached = _probe_cache.get(key)
            if cached is not None and time.monotonic() - cached[0] < PROBE_CACHE_S:
                return cached[1]
        result = _probe(url, name)
        with _probe_lock:
            _probe_cache[key] = (time.monotonic(), result)
        return result

    def preload(self, *, timeout: float = 120.0) -> None:
        """Have Ollama load the model now (a chat with no messages only loads it).

        Called by the worker warm-up, so the first reply does not wait for Ollama
        to read ~5 GB from disk; ``keep_alive`` then keeps it loaded.
        """
        ollama = _ollama()
        httpx = _httpx()
        kwargs: dict[str, Any] = {"model": self.model, "messages": []}
        if self.keep_alive is not None:
            kwargs["keep_alive"] = self.keep_alive
        try:
            with ollama.Client(host=self.host, timeout=timeout) as client:
                client.chat(**kwargs)
        except ollama.ResponseError as exc:
            if getattr(exc, "status_code", -1) == 404:
                raise EngineUnavailable(_not_pulled(self.model, self.host)) from None
            raise EngineError(f"ollama: {getattr(exc, 'error', exc)}") from None
        except (ConnectionError, httpx.ConnectError) as exc:
            raise EngineUnavailable(_not_running(self.host)) from exc

    def request(self, messages: Sequence[ChatMessage], **overrides: Any) -> dict[str, Any]:
        """The keyword arguments of ``ollama.Client.chat`` for this conversation."""
        options = {**self.options}
        if "max_tokens" in overrides:
            options["num_predict"] = overrides.pop("max_tokens")
        options.update(overrides)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": chat_messages(messages, self.system_prompt),
            "stream": True,
            "options": options,
        }
        if self.keep_alive is not None:
            kwargs["keep_alive"] = self.keep_alive
        if self.think is not None:
            kwargs["think"] = self.think
        return kwargs

    def stream(
        self, messages: Sequence[ChatMessage], *, deadline: float, **overrides: Any
    ) -> Generator[str, None, None]:
        """Yield content deltas; ``close()`` stops generation (the connection is closed)."""
        ollama = _ollama()
        kwargs = self.request(messages, **overrides)
        yield from http_stream(
            _httpx(),
            lambda timeout: ollama.Client(host=self.host, timeout=timeout),
            lambda client, emit, stopped: self._read(client, kwargs, emit, stopped),
            deadline=deadline,
            name="ollama-stream",
            timeout_message=f"ollama ({self.model}) passed its deadline",
        )

    def _read(
        self, client: Any, kwargs: dict[str, Any], emit: Callable[[str], None], stopped: Callable[[], bool]
    ) -> None:
        ollama = _ollama()
        httpx = _httpx()
        done = False
        try:
            for part in iterate(client.chat(**kwargs), stopped):
                message = getattr(part, "message", None)
                content = getattr(message, "content", None) if message is not None else None
                if content:
                    emit(content)
                if getattr(part, "done", False):
                    done = True
                    break
        except ollama.ResponseError as exc:
            status = getattr(exc, "status_code", -1)
            error = str(getattr(exc, "error", exc))
            if status == 404 and "not found" in error.lower():
                raise EngineUnavailable(_not_pulled(self.model, self.host)) from None
            raise EngineError(f"ollama: {error}" + (f" (HTTP {status})" if status > 0 else "")) from None
        except (ConnectionError, httpx.ConnectError) as exc:
            raise EngineUnavailable(_not_running(self.host)) from exc
        except httpx.TimeoutException as exc:
            raise StageTimeout(f"ollama ({self.model}) did not answer in time: {exc}") from exc
        except httpx.TransportError as exc:
            raise EngineError(f"ollama: connection cut mid-stream: {exc}") from exc
        except ValueError as exc:  # a line that is not JSON
            raise EngineError(f"ollama: malformed stream: {exc}") from exc
        if not done and not stopped():
            raise EngineError("ollama: the stream ended before the reply was done (server stopped?)")


def _probe(host: str, model: str) -> Availability:
    ollama = importlib.import_module("ollama")
    try:
        with ollama.Client(host=host, timeout=PROBE_TIMEOUT_S) as client:
            listing = client.list()
    except ConnectionError:
        return Availability(False, _not_running(host))
    except Exception as exc:  # timeouts, a non-Ollama server answering, ...
        return Availability(False, f"ollama server at {host} did not answer: {type(exc).__name__}: {exc}")
    names = [str(getattr(m, "model", "") or "") for m in getattr(listing, "models", None) or ()]
    if not any(_same_model(model, n) for n in names):
        return Availability(False, _not_pulled(model, host))
    return Availability(True)
