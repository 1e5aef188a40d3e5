"""Shared plumbing of the HTTP LLM providers (Ollama, OpenAI-compatible servers).

The HTTP clients block while reading, so a stream with a deadline runs the read
loop on a worker thread and hands deltas over a queue; the consumer waits on the
queue no longer than the deadline allows. Closing the consumer generator (early
stop, timeout, error) sets a stop flag and closes the HTTP response, which makes
the server stop generating (Ollama, llama.cpp server and vLLM all cancel a
request whose connection closes).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from synthesis.interfaces import ChatMessage, StageTimeout
from synthesis.prompts import DEFAULT_SYSTEM_PROMPT_RU

log = logging.getLogger("avatar.synthesis.llm")

# How long a closed stream waits for its reader thread to notice.
STOP_JOIN_S = 0.5
# A server that accepts no connection in this time is not there.
CONNECT_TIMEOUT_S = 5.0


def env_or(option: str | None, *names: str, default: str = "") -> str:
    """The first set environment variable of ``names``, else ``option``, else ``default``.

    Environment variables override the config file, as everywhere in the project.
    """
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return option if option else default


def chat_messages(messages: Sequence[ChatMessage], system_prompt: str) -> list[dict[str, str]]:
    """Messages as JSON dicts, with ``system_prompt`` first when the caller sent none."""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    if system_prompt and not any(m.role == "system" for m in messages):
        chat.insert(0, {"role": "system", "content": system_prompt})
    return chat


def default_system_prompt(configured: str | None) -> str:
    """None: the built-in Russian prompt; "": none."""
    return DEFAULT_SYSTEM_PROMPT_RU if configured is None else configured


@dataclass(frozen=True)
class _Event:
    kind: Literal["delta", "error", "done"]
    text: str = ""
    error: BaseException | None = None


class ThreadedStream:
    """Run ``produce(emit, stopped)`` on a thread and yield what it emits until a deadline.

    ``produce`` calls ``emit(text)`` for each delta and returns at the end of the
    stream; it should return early once ``stopped()`` is true. ``on_close`` is
    called (from the consumer) when the consumer stops early, to abort the
    blocking read (e.g. close the HTTP response).
    """

    def __init__(
        self,
        produce: Callable[[Callable[[str], None], Callable[[], bool]], None],
        *,
        deadline: float,
        name: str,
        timeout_message: str,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._produce = produce
        self._deadline = deadline
        self._timeout_message = timeout_message
        self._on_close = on_close
        self._queue: queue.Queue[_Event] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _emit(self, text: str) -> None:
        if text:
            self._queue.put(_Event("delta", text=text))

    def _run(self) -> None:
        try:
            self._produce(self._emit, self._stop.is_set)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            if not self._stop.is_set():
                self._queue.put(_Event("error", error=exc))
        finally:
            self._queue.put(_Event("done"))

    def deltas(self) -> Generator[str, None, None]:
        if time.monotonic() >= self._deadline:
            self._close()
            raise StageTimeout(self._timeout_message + " (deadline passed before the request)")
        self._thread.start()
        try:
            while True:
                remaining = self._deadline - time.monotonic()
                try:
                    # timeout 0 still returns an item already queued.
                    event = self._queue.get(timeout=max(0.0, remaining))
                except queue.Empty:
                    raise StageTimeout(self._timeout_message) from None
                if event.kind == "delta":
                    yield event.text
                    continue
                if event.error is not None:
                    raise event.error
                return
        finally:
            self._stop.set()
            if self._thread.is_alive():
                self._close()
            self._thread.join(timeout=STOP_JOIN_S)

    def _close(self) -> None:
        if self._on_close is not None:
            try:
                self._on_close()
            except Exception as exc:  # closing a half-read response may complain
                log.debug("closing the stream: %s", exc)


def http_stream(
    httpx: Any,
    open_client: Callable[[Any], Any],
    read: Callable[[Any, Callable[[str], None], Callable[[], bool]], None],
    *,
    deadline: float,
    name: str,
    timeout_message: str,
) -> Generator[str, None, None]:
    """The deltas that ``read(client, emit, stopped)`` emits, read on a thread until ``deadline``.

    ``open_client(timeout)`` makes the HTTP client, given an ``httpx.Timeout`` for the
    time left (connecting at most ``CONNECT_TIMEOUT_S``). The client is closed when the
    read ends, and also when the consumer stops early or the deadline passes, which
    cuts the connection so that the server stops generating.
    """
    remaining = max(0.001, deadline - time.monotonic())
    client = open_client(httpx.Timeout(remaining, connect=min(CONNECT_TIMEOUT_S, remaining)))

    def produce(emit: Callable[[str], None], stopped: Callable[[], bool]) -> None:
        try:
            read(client, emit, stopped)
        finally:
            client.close()

    yield from ThreadedStream(
        produce,
        deadline=deadline,
        name=name,
        timeout_message=timeout_message,
        on_close=client.close,
    ).deltas()


def iterate(stream: Iterator[Any], stopped: Callable[[], bool]) -> Iterator[Any]:
    """``stream`` until ``stopped()``."""
    for item in stream:
        if stopped():
            return
        yield item
