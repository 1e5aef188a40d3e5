"""The WebSocket consumer of ``/ws/sessions/<id>/``: a thin adapter to services and the store.

Access was decided by the ASGI stack before this runs (``scope["avatar_access"]``).
Each client frame is parsed by ``frames.parse`` and handled by the entry of a fixed
table keyed by the parsed frame's class. Events reach the client from the store's
sequence: ``sent_seq`` is the last one sent, and everything sent is ``sent_seq + 1``
onwards, from a publish message when it continues the sequence, else from the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from conversations import eventstore, services
from conversations.domain.validation import InvalidMessage

from . import frames, publish, ratelimit
from .auth import SessionAccess

log = logging.getLogger("avatar.api.ws")

PAGE = 200  # events per store read when catching up
# After this many frames in a row refused by the rate limit, the client is not
# listening to its error frames: close with 1008 (policy violation).
CLOSE_AFTER_REFUSED = 200
POLICY_VIOLATION = 1008


class SessionConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    access: SessionAccess
    sent_seq: int
    bucket: ratelimit.TokenBucket
    refused_in_a_row: int

    async def connect(self) -> None:
        access = self.scope.get("avatar_access")
        if not isinstance(access, SessionAccess):  # only reachable if the route lost its middleware
            await self.close()
            return
        self.access = access
        self.bucket = ratelimit.connection_bucket()
        self.refused_in_a_row = 0
        publish.bind_server_loop(asyncio.get_running_loop())
        # Join the group before reading the head: an event stored in between is counted
        # in the head *and* announced to us; the announcement is then ignored
        # (seq <= sent_seq). The other order could miss it.
        group = publish.group_name(access.session_id)
        await self.channel_layer.group_add(group, self.channel_name)
        try:
            self.sent_seq = await database_sync_to_async(eventstore.head)(access.session_id)
        except eventstore.SessionNotFound:  # deleted since the handshake was authorized
            await self.channel_layer.group_discard(group, self.channel_name)
            del self.access  # disconnect() has nothing left to leave
            await self.close()
            return
        await self.accept()
        await self._send(frames.hello_frame(access.session_id, self.sent_seq, settings.AVATAR_WS_MAX_FRAME_BYTES))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "access"):
            await self.channel_layer.group_discard(publish.group_name(self.access.session_id), self.channel_name)

    # --- Client frames -------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        retry_after = self.bucket.take()
        if retry_after:
            await self._refuse_flood(retry_after)
            return
        self.refused_in_a_row = 0
        try:
            frame = frames.parse(text_data, bytes_data, settings.AVATAR_WS_MAX_FRAME_BYTES)
            await self._handlers[type(frame)](self, frame)
        except frames.FrameError as exc:
            await self._send(exc.frame())
        except Exception:  # one bad frame must not end the connection or the server
            log.exception("session %s: handling a client frame failed", self.access.session_id)
            await self._send(frames.error_frame("server_error", "Внутренняя ошибка сервера, попробуйте ещё раз."))

    async def _refuse_flood(self, retry_after: float) -> None:
        self.refused_in_a_row += 1
        if self.refused_in_a_row == 1:  # one error per burst: answering each would amplify it
            await self._send(frames.error_frame(
                "rate_limited", "Слишком много кадров, подождите.", retry_after=round(retry_after, 3)))
        elif self.refused_in_a_row >= CLOSE_AFTER_REFUSED:
            log.warning("session %s: closing a flooding connection", self.access.session_id)
            await self.close(code=POLICY_VIOLATION)

    async def _say(self, frame: frames.Say) -> None:
        if frame.mode == "speak" and not self.access.may_choose_mode:
            raise frames.FrameError("forbidden", "Режим speak доступен только персоналу.",
                                    client_msg_id=frame.client_msg_id)
        retry_after = await ratelimit.ahit_say(self.access.session_id)
        if retry_after:
            raise frames.FrameError("rate_limited", "Слишком много сообщений в этой сессии, подождите.",
                                    retry_after=round(retry_after, 3), client_msg_id=frame.client_msg_id)
        try:
            recorded = await database_sync_to_async(services.receive_user_message)(
                self.access.session_id, frame.text, frame.client_msg_id, frame.mode or "llm")
        except InvalidMessage as exc:
            raise frames.FrameError("invalid_message", exc.message, reason=exc.code,
                                    client_msg_id=frame.client_msg_id) from None
        await self._send(frames.ack_frame("say", recorded))

    async def _resume(self, frame: frames.Resume) -> None:
        head = await database_sync_to_async(eventstore.head)(self.access.session_id)
        if frame.after_seq > head:
            raise frames.FrameError("bad_request", f"after_seq {frame.after_seq} больше последнего события ({head}).")
        self.sent_seq = frame.after_seq
        await self._catch_up()

    async def _interrupt(self, frame: frames.Interrupt) -> None:
        try:
            recorded = await database_sync_to_async(services.interrupt_turn)(
                self.access.session_id, turn_id=frame.turn_id,
                played_index=frame.played_index, played_ms=frame.played_ms)
        except services.NoActiveTurn:
            raise frames.FrameError("no_active_turn", "Сейчас нечего прерывать.") from None
        except ValueError as exc:
            raise frames.FrameError("bad_request", str(exc) or "Неверные поля кадра interrupt.") from None
        await self._send(frames.ack_frame("interrupt", recorded))

    _handlers: dict[type, Callable[[Any, Any], Awaitable[None]]] = {
        frames.Say: _say,
        frames.Resume: _resume,
        frames.Interrupt: _interrupt,
    }

    # --- Events --------------------------------------------------------------------------

    async def session_events(self, message: dict[str, Any]) -> None:
        """A publish message (``publish.MESSAGE_TYPE``): new events were committed."""
        if not hasattr(self, "sent_seq") or message["last_seq"] <= self.sent_seq:
            return
        fresh = [f for f in message["events"] if f["seq"] > self.sent_seq]
        if [f["seq"] for f in fresh] == list(range(self.sent_seq + 1, message["last_seq"] + 1)):
            for frame in fresh:
                await self._send(frame)
            self.sent_seq = message["last_seq"]
        else:
            await self._catch_up()

    async def _catch_up(self) -> None:
        """Send every stored event after ``sent_seq``, in order."""
        while True:
            events = await database_sync_to_async(eventstore.read)(
                self.access.session_id, after_seq=self.sent_seq, limit=PAGE)
            for event in events:
                await self._send(frames.event_frame(event))
                self.sent_seq = event.seq
            if len(events) < PAGE:
                return

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=frames.encode(frame))
