"""After-commit publisher: tells the session's WebSocket group about newly stored events.

Subscribed with ``eventstore.subscribe(publish, after_commit=True)``, so clients never
hear of an event that was rolled back. The message carries the event frames; a
consumer that finds a gap before them (messages from two processes can arrive out of
order, or one may be dropped) reads the missing events from the store instead, so the
store, not the channel layer, is what guarantees "in order, no gap, no duplicate".

Where the events are appended decides how the message is sent:

* In the daphne process (embedded mode: in-process worker threads; both modes: a
  ``say`` handled in a ``database_sync_to_async`` thread) the channel layer belongs to
  the server's event loop: the in-memory layer is not thread-safe, and the Redis
  layer's connections are per loop. So the send is handed to that loop with
  ``run_coroutine_threadsafe``; the consumer registers the loop when it connects.
* In a Celery worker process (services mode) there is no server loop:
  ``async_to_sync(group_send)`` goes through Redis to daphne.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from conversations.eventstore import RecordedEvent

from . import frames

log = logging.getLogger("avatar.api.publish")

MESSAGE_TYPE = "session.events"  # handled by SessionConsumer.session_events

_server_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def group_name(session_id: uuid.UUID | str) -> str:
    return f"session.{session_id}"


def bind_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by each consumer on connect: the loop that owns this process's channel layer."""
    global _server_loop
    with _lock:
        _server_loop = loop


def _live_server_loop() -> asyncio.AbstractEventLoop | None:
    loop = _server_loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop


def publish(recorded: Sequence[RecordedEvent]) -> None:
    by_session: dict[uuid.UUID, list[RecordedEvent]] = {}
    for event in recorded:
        by_session.setdefault(event.session_id, []).append(event)
    for session_id, events in by_session.items():
        message = {
            "type": MESSAGE_TYPE,
            "last_seq": events[-1].seq,
            "events": [frames.event_frame(e) for e in events],
        }
        _send(group_name(session_id), message)


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _live_server_loop()
    if loop is not None:
        coro: Coroutine[Any, Any, None] = layer.group_send(group, message)
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # sync code called straight from the loop (not via a thread)
            loop.create_task(coro)
        else:
            asyncio.run_coroutine_threadsafe(coro, loop).add_done_callback(_log_failure)
        return
    if isinstance(layer, InMemoryChannelLayer):
        # No server loop in this process, so no consumer can be listening on its
        # in-memory layer (a CLI run, or tests without a WebSocket).
        return
    async_to_sync(layer.group_send)(group, message)


def _log_failure(future: Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("publishing to the channel layer failed", exc_info=exc)
