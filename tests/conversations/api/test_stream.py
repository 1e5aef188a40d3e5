"""The WebSocket stream against the real store and the in-process pipeline.

Turns are spoken (``mode: speak``, staff only) so they run in seconds without the LLM;
the stream does not care who wrote the sentences. Every frame is schema-validated by
``receive``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import close_old_connections

from conversations import eventstore
from conversations.api import consumers, frames, publish
from conversations.domain.events import SentenceGenerated, StageFailed, UserMessageReceived
from tests.conversations.api.conftest import (
    communicator,
    open_socket,
    receive,
    receive_until,
    run,
    turn_ended,
)
from tests.helpers import wait_for_turn

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
NewSession = Callable[[], dict[str, Any]]
SCRIPT = "Привет! Я расскажу короткую историю. Жил-был кот. Он любил молоко. Конец."


def store_frames(session_id: str, after_seq: int = 0) -> list[dict[str, Any]]:
    return [frames.event_frame(e) for e in eventstore.read(session_id, after_seq=after_seq)]


def seqs(items: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in items if "data" in f]


def test_say_streams_every_event_of_the_turn_in_order(new_session: NewSession, staff_cookie: str) -> None:
    sid = new_session()["session_id"]

    async def scenario() -> None:
        comm = communicator(sid, cookie=staff_cookie)
        hello = await open_socket(comm)
        await comm.send_json_to({"type": "say", "text": SCRIPT, "client_msg_id": "m-1", "mode": "speak"})
        got = await receive_until(comm, turn_ended)
        ack = next(f for f in got if f["type"] == "ack")
        events = [f for f in got if "data" in f]
        assert seqs(events) == list(range(hello["head_seq"] + 1, events[-1]["seq"] + 1))
        assert events[0]["type"] == "UserMessageReceived" and events[0]["seq"] == ack["seq"]
        assert ack == {"type": "ack", "for": "say", "seq": ack["seq"], "turn_id": events[0]["data"]["turn_id"],
                       "client_msg_id": "m-1"}
        assert events[-1]["type"] == "TurnCompleted"
        # Exactly what the store holds, artifact URLs included.
        assert events == (await sync_to_async(store_frames)(sid, hello["head_seq"]))[: len(events)]
        speech = [f["data"] for f in events if f["type"] == "SpeechSynthesized"]
        assert len(speech) == 5 and all(s["audio"]["url"].endswith(s["audio"]["sha256"]) for s in speech)
        await comm.receive_nothing(0.3)
        await comm.disconnect()

    run(scenario)


def test_two_viewers_see_the_same_stream(new_session: NewSession, staff_cookie: str) -> None:
    session = new_session()
    sid = session["session_id"]

    async def scenario() -> None:
        speaker = communicator(sid, cookie=staff_cookie)
        viewer = communicator(sid, session["token"])
        await open_socket(speaker)
        await open_socket(viewer)
        await speaker.send_json_to({"type": "say", "text": "Раз. Два. Три.", "mode": "speak"})
        heard = [f for f in await receive_until(speaker, turn_ended) if "data" in f]
        seen = await receive_until(viewer, turn_ended)
        assert seen == heard  # the viewer gets no ack: only the speaker said something
        for comm in (speaker, viewer):
            await comm.disconnect()

    run(scenario)


def test_resume_after_a_reconnect_mid_turn_has_no_gap_and_no_duplicate(
    new_session: NewSession, staff_cookie: str
) -> None:
    session = new_session()
    sid = session["session_id"]

    async def scenario() -> None:
        first = communicator(sid, cookie=staff_cookie)
        await open_socket(first)
        await first.send_json_to({"type": "say", "text": SCRIPT, "mode": "speak"})
        before = await receive_until(first, lambda f: f["type"] == "SpeechSynthesized")
        await first.disconnect()
        last_seen = seqs(before)[-1]
        # Reconnect at once: the turn is still running, so the resume's catch-up from the
        # store and the live events overlap.
        second = communicator(sid, session["token"])
        await open_socket(second)
        await second.send_json_to({"type": "resume", "after_seq": last_seen})
        after = await receive_until(second, turn_ended)
        assert seqs(after) == list(range(last_seen + 1, seqs(after)[-1] + 1))
        await second.receive_nothing(0.3)
        stored = await sync_to_async(store_frames)(sid, 1)  # after SessionStarted
        assert [f for f in before + after if "data" in f] == stored
        await second.disconnect()

    run(scenario)


def test_resume_after_the_turn_ended_while_away(new_session: NewSession, staff_cookie: str) -> None:
    session = new_session()
    sid = session["session_id"]

    async def scenario() -> None:
        first = communicator(sid, cookie=staff_cookie)
        await open_socket(first)
        await first.send_json_to({"type": "say", "text": "Раз. Два.", "mode": "speak"})
        ack = await receive_until(first, lambda f: f["type"] == "ack")
        await first.disconnect()
        await sync_to_async(wait_for_turn)(sid, ack[-1]["turn_id"], 60)
        second = communicator(sid, session["token"])
        hello = await open_socket(second)
        await second.receive_nothing(0.2)  # without resume: only live events
        await second.send_json_to({"type": "resume", "after_seq": 1})
        after = await receive_until(second, lambda f: f.get("seq") == hello["head_seq"])
        assert after == await sync_to_async(store_frames)(sid, 1)
        # Then live events follow on the same connection.
        await second.send_json_to({"type": "resume", "after_seq": hello["head_seq"]})
        await second.receive_nothing(0.2)
        await sync_to_async(eventstore.append_retrying)(sid, [StageFailed(stage="llm", error="x", fallback="none")])
        live = await receive(second)
        assert live["seq"] == hello["head_seq"] + 1 and live["type"] == "StageFailed"
        await second.disconnect()

    run(scenario)


def test_resume_from_zero_while_another_thread_appends(new_session: NewSession) -> None:
    """Catch-up from the store (several pages) and live events from a worker thread interleave."""
    session = new_session()
    sid = session["session_id"]
    for _ in range(5):
        eventstore.append_retrying(sid, [StageFailed(stage="llm", error=f"e{i}", fallback="none") for i in range(100)])
    total = eventstore.head(sid) + 60
    started = threading.Event()

    def writer() -> None:
        started.wait(10)
        try:
            for i in range(60):
                eventstore.append_retrying(sid, [StageFailed(stage="tts", error=f"live {i}", fallback="none")])
                time.sleep(0.002)
        finally:
            close_old_connections()

    thread = threading.Thread(target=writer)
    thread.start()

    async def scenario() -> None:
        resumer = communicator(sid, session["token"])
        live_only = communicator(sid, session["token"])
        await open_socket(resumer)
        hello = await open_socket(live_only)
        await resumer.send_json_to({"type": "resume", "after_seq": 0})
        started.set()
        got = await receive_until(resumer, lambda f: f.get("seq") == total, timeout=30)
        assert seqs(got) == list(range(1, total + 1))
        live = await receive_until(live_only, lambda f: f.get("seq") == total, timeout=30)
        assert seqs(live) == list(range(hello["head_seq"] + 1, total + 1))
        await resumer.receive_nothing(0.2)
        for comm in (resumer, live_only):
            await comm.disconnect()

    try:
        run(scenario)
    finally:
        started.set()
        thread.join(30)


def test_messages_that_arrive_out_of_order_or_not_at_all_are_filled_from_the_store(
    new_session: NewSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishes from two processes can cross, and a full channel drops one: the store decides."""
    session = new_session()
    sid = session["session_id"]
    held: list[tuple[str, dict[str, Any]]] = []

    async def scenario() -> None:
        comm = communicator(sid, session["token"])
        hello = await open_socket(comm)
        h = hello["head_seq"]
        monkeypatch.setattr(publish, "_send", lambda group, message: held.append((group, message)))
        for i in range(4):
            await sync_to_async(eventstore.append_retrying)(sid, [StageFailed(stage="llm", error=f"{i}", fallback="x")])
        monkeypatch.undo()
        assert [m["last_seq"] for _, m in held] == [h + 1, h + 2, h + 3, h + 4]
        layer = get_channel_layer()
        # Delivered late and reversed, and the second one never.
        for group, message in [held[3], held[2], held[0]]:
            await layer.group_send(group, message)
        got = [await receive(comm) for _ in range(4)]
        assert seqs(got) == [h + 1, h + 2, h + 3, h + 4]
        await comm.receive_nothing(0.2)
        await comm.disconnect()

    run(scenario)


# Raw ASGI receive messages, so that an empty text frame can be sent too.
BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"text": "{"}, "bad_json"),
    ({"text": "привет"}, "bad_json"),
    ({"text": ""}, "bad_json"),
    ({"bytes": b"\x89PNG\r\n"}, "binary_not_supported"),
    ({"bytes": b""}, "binary_not_supported"),
    ({"text": '{"type": "say", "text": "' + "я" * 9000 + '"}'}, "too_large"),
    ({"text": "[" * 20000}, "too_large"),
    ({"text": "[" * 3000 + "]" * 3000}, "bad_json"),
    ({"text": '{"type": "dance"}'}, "unknown_type"),
    ({"text": '{"type": "session.events", "last_seq": 99, "events": []}'}, "unknown_type"),
    ({"text": '{"type": "websocket.disconnect"}'}, "unknown_type"),
    ({"text": "[1, 2]"}, "bad_request"),
    ({"text": '{"type": "resume", "after_seq": "0"}'}, "bad_request"),
    ({"text": '{"type": "resume", "after_seq": 999}'}, "bad_request"),
    ({"text": '{"type": "interrupt", "played_ms": -1}'}, "bad_request"),
    ({"text": '{"type": "say", "text": "Привет", "mode": "speak"}'}, "forbidden"),
]


def test_bad_input_gets_an_error_frame_and_the_connection_goes_on(
    new_session: NewSession, settings: Any
) -> None:
    settings.AVATAR_WS_FRAME_BURST = 100
    mine, other = new_session(), new_session()

    async def scenario() -> None:
        comm = communicator(mine["session_id"], mine["token"])
        neighbour = communicator(other["session_id"], other["token"])
        await open_socket(comm)
        await open_socket(neighbour)
        for message, code in BAD_INPUT:
            await comm.send_input({"type": "websocket.receive", **message})
            error = await receive(comm)
            assert error["type"] == "error" and error["code"] == code, (message, error)
        for text, reason in [("", "empty"), (" \n\t ", "empty"), ("a\x1b[2J", "control_characters"),
                             (["list"], "not_text"), ("я" * 2001, "too_long")]:
            await comm.send_json_to({"type": "say", "text": text, "client_msg_id": f"bad-{reason}"})
            error = await receive(comm)
            assert (error["code"], error["reason"], error["client_msg_id"]) == (
                "invalid_message", reason, f"bad-{reason}")
        # Still open, still streaming; nothing was stored; the other session is untouched.
        await comm.send_json_to({"type": "resume", "after_seq": 0})
        assert (await receive(comm))["type"] == "SessionStarted"
        await comm.receive_nothing(0.2)
        await neighbour.send_json_to({"type": "resume", "after_seq": 0})
        assert (await receive(neighbour))["type"] == "SessionStarted"
        for c in (comm, neighbour):
            await c.disconnect()

    run(scenario)
    assert eventstore.head(mine["session_id"]) == 1


def test_a_flood_is_rate_limited_then_closed(
    new_session: NewSession, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AVATAR_WS_FRAME_BURST = 5
    settings.AVATAR_WS_FRAMES_PER_SECOND = 4
    monkeypatch.setattr(consumers, "CLOSE_AFTER_REFUSED", 50)
    mine, other = new_session(), new_session()
    resume_at_head = {"type": "resume", "after_seq": 1}  # valid, and answers nothing

    async def scenario() -> None:
        comm = communicator(mine["session_id"], mine["token"])
        neighbour = communicator(other["session_id"], other["token"])
        await open_socket(comm)
        await open_socket(neighbour)
        for _ in range(20):
            await comm.send_json_to(resume_at_head)
        error = await receive(comm)
        assert error["code"] == "rate_limited" and 0 < error["retry_after"] <= 1
        await comm.receive_nothing(0.2)  # one error per burst, not one per frame
        await asyncio.sleep(0.6)
        await comm.send_json_to({"type": "resume", "after_seq": 0})  # the bucket refilled
        assert (await receive(comm))["type"] == "SessionStarted"
        # A client that keeps flooding is disconnected; its neighbour is not.
        for _ in range(80):
            await comm.send_json_to(resume_at_head)
        assert (await receive(comm))["code"] == "rate_limited"
        closed = await comm.receive_output(5)
        assert closed == {"type": "websocket.close", "code": 1008}
        await neighbour.send_json_to({"type": "resume", "after_seq": 0})
        assert (await receive(neighbour))["type"] == "SessionStarted"
        await neighbour.disconnect()

    run(scenario)


def test_messages_are_limited_per_session_across_connections(
    new_session: NewSession, staff_cookie: str, settings: Any
) -> None:
    settings.AVATAR_SAY_LIMIT = (1, 60)
    mine, other = new_session(), new_session()

    async def scenario() -> None:
        operator = communicator(mine["session_id"], cookie=staff_cookie)
        visitor = communicator(mine["session_id"], mine["token"])
        neighbour = communicator(other["session_id"], cookie=staff_cookie)
        for c in (operator, visitor, neighbour):
            await open_socket(c)
        await operator.send_json_to({"type": "say", "text": "Да.", "mode": "speak"})
        await receive_until(operator, lambda f: f["type"] == "ack")
        await visitor.send_json_to({"type": "say", "text": "Привет", "client_msg_id": "m-2"})
        error = await receive_until(visitor, lambda f: f["type"] == "error")
        assert error[-1]["code"] == "rate_limited" and error[-1]["client_msg_id"] == "m-2"
        await neighbour.send_json_to({"type": "say", "text": "Нет.", "mode": "speak"})
        assert (await receive_until(neighbour, lambda f: f["type"] == "ack"))[-1]["for"] == "say"
        await receive_until(operator, turn_ended)
        await receive_until(neighbour, turn_ended)
        for c in (operator, visitor, neighbour):
            await c.disconnect()

    run(scenario)


def test_interrupt_records_what_was_heard(new_session: NewSession) -> None:
    session = new_session()
    sid = session["session_id"]
    # A turn in progress, stored directly (no pipeline runs for it).
    eventstore.append(sid, [UserMessageReceived(turn_id="t-1", text="Расскажи")], expected_seq=1)
    eventstore.append(sid, [SentenceGenerated(turn_id="t-1", index=i, text=t)
                            for i, t in enumerate(["Однажды.", "Потом.", "Конец."])], expected_seq=2)

    async def scenario() -> None:
        comm = communicator(sid, session["token"])
        await open_socket(comm)
        await comm.send_json_to({"type": "interrupt", "turn_id": "t-1", "played_index": 1, "played_ms": 0})
        ack, event = await receive(comm), await receive(comm)
        if ack["type"] != "ack":  # the event frame and the ack may come in either order
            ack, event = event, ack
        assert ack == {"type": "ack", "for": "interrupt", "seq": 6, "turn_id": "t-1"}
        assert event["type"] == "TurnInterrupted" and event["seq"] == 6
        assert event["data"]["heard_sentences"] == 1 and event["data"]["heard_text"] == "Однажды."
        # Again for the same turn: the same record, nothing new stored.
        await comm.send_json_to({"type": "interrupt", "turn_id": "t-1"})
        assert await receive(comm) == ack
        await comm.send_json_to({"type": "interrupt"})
        assert (await receive(comm))["code"] == "no_active_turn"
        await comm.receive_nothing(0.2)
        await comm.disconnect()

    run(scenario)


def test_interrupting_a_running_turn_ends_its_stream(new_session: NewSession, staff_cookie: str) -> None:
    sid = new_session()["session_id"]
    long_script = " ".join(f"Это предложение номер {n}." for n in range(1, 13))

    async def scenario() -> None:
        comm = communicator(sid, cookie=staff_cookie)
        hello = await open_socket(comm)
        await comm.send_json_to({"type": "say", "text": long_script, "mode": "speak"})
        ack = (await receive_until(comm, lambda f: f["type"] == "ack"))[-1]
        await comm.send_json_to({"type": "interrupt", "turn_id": ack["turn_id"], "played_index": 0,
                                 "played_ms": 300})
        got = await receive_until(comm, lambda f: f["type"] == "TurnInterrupted")
        assert any(f["type"] == "ack" and f["for"] == "interrupt" for f in got)
        await comm.receive_nothing(1.0)
        await comm.disconnect()
        # Whatever the pipeline still stored after the interrupt, the stream was the log.
        everything = await sync_to_async(store_frames)(sid, hello["head_seq"])
        streamed = [f for f in got if "data" in f]
        assert streamed == everything[: len(streamed)]

    run(scenario)


def test_edits_and_rerenders_reach_viewers_as_validated_event_frames(new_session: NewSession) -> None:
    from conversations import services

    session = new_session()
    sid = session["session_id"]
    user = services.receive_user_message(sid, "Раз. Два.", mode="speak")
    wait_for_turn(sid, user.data["turn_id"])

    async def scenario() -> None:
        viewer = communicator(sid, session["token"])
        hello = await open_socket(viewer)
        await sync_to_async(services.revise_sentence)(sid, user.data["turn_id"], 0, text="Один.", editor="t")
        await sync_to_async(services.rerender_session)(sid, requested_by="t")
        got = await receive_until(viewer, lambda f: f["type"] == "SessionRerenderCompleted")
        events = [f for f in got if "data" in f]
        assert seqs(events) == list(range(hello["head_seq"] + 1, events[-1]["seq"] + 1))
        types = [f["type"] for f in events]
        assert types[0] == "SentenceRevised" and types.count("SentenceRevised") == 3
        assert types.count("SessionRerenderRequested") == 1
        speech = [f["data"] for f in events if f["type"] == "SpeechSynthesized"]
        assert sorted((s["index"], s["revision"]) for s in speech) == [(0, 1), (0, 2), (1, 1)]
        assert all(s["audio"]["url"].endswith(s["audio"]["sha256"]) for s in speech)
        assert events == (await sync_to_async(store_frames)(sid, hello["head_seq"]))[: len(events)]
        await viewer.disconnect()

    run(scenario)
