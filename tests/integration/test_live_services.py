"""The live path through real processes: daphne, the Redis channel layer, Celery workers.

A real WebSocket client talks to a daphne subprocess on a free loopback port; the
turn's events are appended by Celery worker processes and reach the socket through
Redis. Run by ``scripts/test.sh`` with DATABASE_URL and REDIS_URL set.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.conf import settings
from django.test import Client
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from conversations.api.schemas import SERVER_FRAME_SCHEMA
from tests.helpers import wav_stats
from tests.integration.test_turn_services import _database_url, workers  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("workers"),
]
FRAME = jsonschema.validators.validator_for(SERVER_FRAME_SCHEMA)(SERVER_FRAME_SCHEMA)
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"

    def http(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.origin + path, data=data, method=method, headers={
            "Content-Type": "application/json", **(headers or {})})
        try:
            with _no_proxy.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def new_session(self) -> dict[str, Any]:
        status, _, body = self.http("POST", "/api/sessions", {"title": "live"})
        assert status == 201, body
        result: dict[str, Any] = json.loads(body)
        return result

    def ws(self, session_id: str, token: str | None = None, *, origin: str | None = None,
           cookie: str | None = None) -> ClientConnection:
        query = f"?token={token}" if token else ""
        return connect(
            f"ws://127.0.0.1:{self.port}/ws/sessions/{session_id}/{query}",
            origin=Origin(origin or self.origin),
            additional_headers={"Cookie": cookie} if cookie else None,
            proxy=None, open_timeout=20,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL,
           "AVATAR_MODELS_DIR": str(settings.AVATAR_MODELS_DIR)}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "avatar_project.asgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    live = Server(port)
    deadline = time.monotonic() + 60
    while True:
        try:
            if live.http("GET", "/api/ready-check")[0] == 404:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("daphne did not start:\n" + log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.3)
    yield live
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def recv(ws: ClientConnection, timeout: float = 120) -> dict[str, Any]:
    raw = ws.recv(timeout=timeout)
    assert isinstance(raw, str), "the server sends only text frames"
    frame: dict[str, Any] = json.loads(raw)
    FRAME.validate(frame)
    return frame


def recv_until(ws: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float = 300
               ) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    frames = []
    while True:
        frames.append(recv(ws, max(0.1, deadline - time.monotonic())))
        if done(frames[-1]):
            return frames


def events_of(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if "data" in f]


def assert_contiguous(frames: list[dict[str, Any]], first: int) -> None:
    assert [f["seq"] for f in frames] == list(range(first, first + len(frames)))


def test_visitor_talks_to_the_llm_and_a_second_viewer_watches(server: Server) -> None:
    session = server.new_session()
    sid, token = session["session_id"], session["token"]
    with server.ws(sid, token) as talker, server.ws(sid, token) as watcher:
        hello = recv(talker)
        assert recv(watcher)["type"] == "hello"
        talker.send(json.dumps({"type": "say", "text": "Привет! Скажи одну короткую фразу о погоде.",
                                "client_msg_id": "live-1"}))
        said = recv_until(talker, lambda f: f["type"] == "TurnCompleted")
        seen = recv_until(watcher, lambda f: f["type"] == "TurnCompleted")
    ack = next(f for f in said if f["type"] == "ack")
    events = events_of(said)
    assert seen == events and ack["client_msg_id"] == "live-1"
    assert_contiguous(events, hello["head_seq"] + 1)
    assert events[0]["type"] == "UserMessageReceived" and events[0]["seq"] == ack["seq"]
    # Every stage ran in a worker process (queue waits measured) and reached us through Redis.
    assert set(events[-1]["data"]["timings"]["stages"]) >= {"llm", "sentiment", "tts", "lipsync", "motion"}
    # The stream is the log: the HTTP read of the session returns the same frames.
    status, _, body = server.http("GET", f"/api/sessions/{sid}/events?after_seq={hello['head_seq']}",
                                  headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)["events"] == events
    # Audio comes over HTTP with the token, never through the socket.
    audio = next(f["data"]["audio"] for f in events if f["type"] == "SpeechSynthesized")
    status, headers, wav = server.http("GET", audio["url"], headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and headers["Content-Type"] == "audio/wav"
    assert hashlib.sha256(wav).hexdigest() == audio["sha256"] and wav_stats(wav)[2] > 0.01
    assert server.http("GET", audio["url"])[0] == 401


def test_refused_handshakes_on_the_real_server(server: Server) -> None:
    mine, other = server.new_session(), server.new_session()
    attempts: list[dict[str, Any]] = [
        {"session_id": mine["session_id"]},
        {"session_id": mine["session_id"], "token": "wrong"},
        {"session_id": mine["session_id"], "token": other["token"]},
        {"session_id": mine["session_id"], "token": mine["token"], "origin": "http://evil.example"},
    ]
    for attempt in attempts:
        with pytest.raises(InvalidStatus) as info:
            server.ws(**attempt).close()
        assert info.value.response.status_code == 403, attempt
    with server.ws(mine["session_id"], mine["token"]) as ws:  # and the server goes on
        assert recv(ws)["type"] == "hello"
        ws.send(b"\x00\x01")
        assert recv(ws)["code"] == "binary_not_supported"
        ws.send("x" * 20000)
        assert recv(ws)["code"] == "too_large"


def test_an_idle_connection_stays_open(server: Server) -> None:
    """Longer than the channel layer's blocking read (5 s): redis-py 8's default socket
    timeout used to end every idle consumer there (django/channels_redis#422)."""
    session = server.new_session()
    with server.ws(session["session_id"], session["token"]) as ws:
        recv(ws)
        time.sleep(7)
        ws.send(json.dumps({"type": "resume", "after_seq": 0}))
        assert recv(ws, timeout=10)["type"] == "SessionStarted"


def test_operator_resumes_mid_turn_and_interrupts(server: Server, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("operator", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    sid = server.new_session()["session_id"]
    script = "Раз. Два. Три. Четыре. Пять."

    with server.ws(sid, cookie=cookie) as ws:
        hello = recv(ws)
        ws.send(json.dumps({"type": "say", "text": script, "mode": "speak"}))
        before = events_of(recv_until(ws, lambda f: f["type"] == "SentimentAnalyzed"))
    # Away while workers keep appending; back with the last seq seen.
    with server.ws(sid, cookie=cookie) as ws:
        recv(ws)
        ws.send(json.dumps({"type": "resume", "after_seq": before[-1]["seq"]}))
        after = events_of(recv_until(ws, lambda f: f["type"] == "TurnCompleted"))
    assert_contiguous(before + after, hello["head_seq"] + 1)
    status, _, body = server.http("GET", f"/api/sessions/{sid}/events?after_seq={hello['head_seq']}",
                                  headers={"Cookie": cookie})
    assert status == 200 and json.loads(body)["events"] == before + after

    long_script = " ".join(f"Это предложение номер {n}." for n in range(1, 16))
    with server.ws(sid, cookie=cookie) as ws:
        recv(ws)
        ws.send(json.dumps({"type": "say", "text": long_script, "mode": "speak"}))
        ack = recv_until(ws, lambda f: f["type"] == "ack")[-1]
        ws.send(json.dumps({"type": "interrupt", "turn_id": ack["turn_id"], "played_index": 0, "played_ms": 200}))
        got = recv_until(ws, lambda f: f["type"] == "TurnInterrupted", timeout=60)
    assert any(f["type"] == "ack" and f["for"] == "interrupt" for f in got)
    interrupted = got[-1]["data"]
    assert interrupted["turn_id"] == ack["turn_id"] and interrupted["heard_sentences"] == 0
