"""Chat through any OpenAI-compatible server (``/v1/chat/completions``, streamed SSE).

For llama.cpp's ``llama-server``, vLLM, LM Studio, text-generation-webui, or a hosted
API. Uses ``httpx`` directly (it comes with the ``ollama`` client): the OpenAI SDK
is not needed for one streamed endpoint.

Options (``llm.options`` when ``engine: openai``; environment overrides the file):

* ``base_url`` (``OPENAI_BASE_URL``): up to and including ``/v1``; default
  ``http://127.0.0.1:8080/v1`` (llama-server's default port). LM Studio:
  ``http://127.0.0.1:1234/v1``; vLLM: ``http://127.0.0.1:8000/v1``.
* ``api_key`` (``OPENAI_API_KEY``): optional; sent as ``Authorization: Bearer``.
* ``model`` (``AVATAR_LLM_MODEL``): the served model's name. Empty: the first
  model the server lists at ``/v1/models`` (llama-server ignores the name; vLLM
  needs the exact one).
* ``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``system_prompt``;
  ``extra_body``: more request fields (e.g. ``{"repeat_penalty": 1.1}``).

SSE: ``data: {chat.completion.chunk}`` events, ``:`` comment lines ignored,
``data: [DONE]`` ends the stream; a stream that ends without ``[DONE]`` or a
``finish_reason`` counts as cut.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from synthesis.engines.llm.streaming import (
    chat_messages,
    default_system_prompt,
    env_or,
    http_stream,
)
from synthesis.interfaces import (
    Availability,
    ChatMessage,
    EngineError,
    EngineUnavailable,
    StageTimeout,
)

log = logging.getLogger("avatar.synthesis.llm")

DEFAULT_BASE_URL = "http://127.0.0.1:8080/v1"
INSTALL_HINT = "pip install httpx"
PROBE_TIMEOUT_S = 1.0
PROBE_CACHE_S = 5.0
_FOREIGN_OPTIONS = frozenset({
    "models_dir", "threads", "n_parallel", "sha256", "verbose", "n_ctx", "host", "keep_alive", "repeat_penalty",
})

_probe_cache: dict[tuple[str, str], tuple[float, Availability, list[str]]] = {}
_probe_lock = threading.Lock()


def _httpx() -> Any:
    try:
        return importlib.import_module("httpx")
    except ImportError as exc:
        raise EngineUnavailable(f"httpx is not installed ({INSTALL_HINT})") from exc


def resolve_base_url(base_url: str | None = None) -> str:
    url = env_or(base_url, "OPENAI_BASE_URL", default=DEFAULT_BASE_URL).rstrip("/")
    return url if "://" in url else f"http://{url}"


def _headers(api_key: str) -> dict[str, str]:
    headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _error_message(body: bytes | str) -> str:
    """The message of an OpenAI-style error body, or the body itself."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300]
    if isinstance(data, Mapping):
        err = data.get("error", data)
        if isinstance(err, Mapping):
            return str(err.get("message") or err)[:300]
        return str(err)[:300]
    return text.strip()[:300]


def _not_running(url: str) -> str:
    return (
        f"no OpenAI-compatible server at {url}: start it (e.g. `llama-server -m model.gguf --port 8080`) "
        "or set OPENAI_BASE_URL"
    )


def _unauthorized(url: str, message: str) -> str:
    return f"{url} refused the API key ({message}): set OPENAI_API_KEY"


class OpenAICompatLLM:
    """Streamed chat completions from an OpenAI-compatible HTTP server."""

    name: ClassVar[str] = "openai"

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.7,
        max_tokens: int = 256,
        top_p: float | None = 0.9,
        seed: int | None = None,
        system_prompt: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **ignored: Any,
    ) -> None:
        if max_tokens < 1 or temperature < 0:
            raise ValueError("openai: max_tokens >= 1 and temperature >= 0")
        unknown = set(ignored) - _FOREIGN_OPTIONS
        if unknown:
            log.warning("openai: ignoring unknown options %s", sorted(unknown))
        self.base_url = resolve_base_url(base_url)
        self.api_key = env_or(api_key, "OPENAI_API_KEY")
        self.model = (model or "").strip()
        self.system_prompt = default_system_prompt(system_prompt)
        self.sampling: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
        if top_p is not None:
            self.sampling["top_p"] = top_p
        if seed is not None:
            self.sampling["seed"] = seed
        self.extra_body = dict(extra_body or {})

    @classmethod
    def availability(cls, base_url: str | None = None, api_key: str | None = None) -> Availability:
        """The server answers ``GET /models`` (1 s timeout, cached ~5 s)."""
        if importlib.util.find_spec("httpx") is None:
            return Availability(False, f"httpx is not installed ({INSTALL_HINT})")
        return _probe(resolve_base_url(base_url), env_or(api_key, "OPENAI_API_KEY"))[0]

    def served_model(self) -> str:
        """The configured model, else the first one the server lists."""
        if self.model:
            return self.model
        _, models = _probe(self.base_url, self.api_key)
        return models[0] if models else "default"

    def request(self, messages: Sequence[ChatMessage], **overrides: Any) -> dict[str, Any]:
        return {
            "model": self.served_model(),
            "messages": chat_messages(messages, self.system_prompt),
            "stream": True,
            **self.sampling,
            **self.extra_body,
            **overrides,
        }

    def stream(
        self, messages: Sequence[ChatMessage], *, deadline: float, **overrides: Any
    ) -> Generator[str, None, None]:
        httpx = _httpx()
        body = self.request(messages, **overrides)
        yield from http_stream(
            httpx,
            lambda timeout: httpx.Client(base_url=self.base_url, headers=_headers(self.api_key), timeout=timeout),
            lambda client, emit, stopped: self._read(client, body, emit, stopped),
            deadline=deadline,
            name="openai-stream",
            timeout_message=f"{self.base_url} ({body['model']}) passed its deadline",
        )

    def _read(
        self, client: Any, body: dict[str, Any], emit: Callable[[str], None], stopped: Callable[[], bool]
    ) -> None:
        httpx = _httpx()
        url = self.base_url
        try:
            with client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code != 200:
                    self._raise_status(response.status_code, _error_message(response.read()), body["model"])
                finished = False
                for data in _sse_data(response.iter_lines()):
                    if stopped():
                        return
                    if data == "[DONE]":
                        return
                    text, finish = _chunk(data)
                    if text:
                        emit(text)
                    finished = finished or finish
                if not finished and not stopped():
                    raise EngineError(f"{url}: the stream ended before the reply was done (no [DONE])")
        except httpx.ConnectError as exc:
            raise EngineUnavailable(_not_running(url)) from exc
        except httpx.TimeoutException as exc:
            raise StageTimeout(f"{url} did not answer in time: {exc}") from exc
        except httpx.TransportError as exc:
            raise EngineError(f"{url}: connection cut mid-stream: {exc}") from exc

    def _raise_status(self, status: int, message: str, model: str) -> None:
        url = self.base_url
        if status in (401, 403):
            raise EngineUnavailable(_unauthorized(url, message))
        if status == 404:
            served = _probe(url, self.api_key)[1]
            hint = f"; served: {', '.join(served)} (set AVATAR_LLM_MODEL)" if served else ""
            raise EngineUnavailable(f"{url}: model {model!r} not found ({message}){hint}")
        raise EngineError(f"{url}: HTTP {status}: {message}")


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The ``data`` payloads of a server-sent event stream (multi-line data joined)."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # a comment / keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _chunk(data: str) -> tuple[str, bool]:
    """(content delta, whether a choice finished) of one ``chat.completion.chunk``."""
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise EngineError(f"malformed stream event: {data[:100]!r}") from exc
    if not isinstance(chunk, Mapping):
        raise EngineError(f"malformed stream event: {data[:100]!r}")
    if "error" in chunk:
        raise EngineError(f"server error mid-stream: {_error_message(json.dumps(chunk))}")
    parts: list[str] = []
    finished = False
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str):
            parts.append(content)
        finished = finished or bool(choice.get("finish_reason"))
    return "".join(parts), finished


def _probe(url: str, api_key: str) -> tuple[Availability, list[str]]:
    key = (url, api_key)
    with _probe_lock:
        cached = _probe_cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < PROBE_CACHE_S:
            return cached[1], cached[2]
    httpx = importlib.import_module("httpx")
    models: list[str] = []
    try:
        response = httpx.get(f"{url}/models", headers=_headers(api_key), timeout=PROBE_TIMEOUT_S)
        if response.status_code in (401, 403):
            result = Availability(False, _unauthorized(url, _error_message(response.content)))
        else:
            # 404: a server without /models can still chat; anything else answering is a server.
            result = Availability(True)
            if response.status_code == 200:
                data = response.json().get("data") or []
                models = [str(m.get("id")) for m in data if isinstance(m, Mapping) and m.get("id")]
    except httpx.ConnectError:
        result = Availability(False, _not_running(url))
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        result = Availability(False, f"{url} did not answer as an OpenAI-compatible server: {exc}")
    with _probe_lock:
        _probe_cache[key] = (time.monotonic(), result, models)
    return result, models
