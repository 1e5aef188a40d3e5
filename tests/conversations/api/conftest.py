"""Fixtures for the client API: real store, real in-process pipeline, the real ASGI app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import jsonschema
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from avatar_project.asgi import application
from conversations.api.schemas import SERVER_FRAME_SCHEMA

ORIGIN = b"http://localhost"
# Built once: jsonschema.validate() would re-check the schema itself on every frame.
jsonschema.validators.validator_for(SERVER_FRAME_SCHEMA).check_schema(SERVER_FRAME_SCHEMA)
SERVER_FRAME = jsonschema.validators.validator_for(SERVER_FRAME_SCHEMA)(SERVER_FRAME_SCHEMA)


@pytest.fixture(autouse=True)
def _fresh_limits_and_layer() -> Iterator[None]:
    cache.clear()  # rate-limit counters
    yield  # (the root conftest drains the in-process queues)
    cache.clear()
    layer = get_channel_layer()
    if layer is not None and hasattr(layer, "flush"):
        async_to_sync(layer.flush)()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run an async scenario; thread-sensitive DB work runs on this (the test's) thread."""
    async_to_sync(scenario)()


@pytest.fixture
def api() -> Client:
    return Client()


@pytest.fixture
def new_session(api: Client) -> Callable[[], dict[str, Any]]:
    def create() -> dict[str, Any]:
        response = api.post("/api/sessions", {"title": "тест"}, content_type="application/json")
        assert response.status_code == 201, response.content
        body: dict[str, Any] = response.json()
        return body

    return create


@pytest.fixture
def staff_cookie(django_user_model: Any) -> str:
    user = django_user_model.objects.create_user("operator", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.fixture
def plain_user_cookie(django_user_model: Any) -> str:
    user = get_user_model().objects.create_user("visitor", password="x")
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def communicator(
    session_id: uuid.UUID | str, token: str | None = None, *, origin: bytes | None = ORIGIN,
    cookie: str | None = None, path: str | None = None,
) -> WebsocketCommunicator:
    url = path or f"/ws/sessions/{session_id}/" + (f"?token={token}" if token is not None else "")
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, url, headers=headers)


async def receive(comm: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    """The next server frame, validated against the protocol's schema."""
    raw = await comm.receive_output(timeout)
    assert raw["type"] == "websocket.send", raw
    assert raw.get("text") is not None, "the server sends only text frames"
    frame: dict[str, Any] = json.loads(raw["text"])
    SERVER_FRAME.validate(frame)
    return frame


async def open_socket(comm: WebsocketCommunicator) -> dict[str, Any]:
    connected, _ = await comm.connect(timeout=10)
    assert connected
    hello = await receive(comm)
    assert hello["type"] == "hello"
    return hello


async def receive_until(
    comm: WebsocketCommunicator, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await receive(comm, timeout)
        frames.append(frame)
        if done(frame):
            return frames


def turn_ended(frame: dict[str, Any]) -> bool:
    return frame.get("type") in ("TurnCompleted", "TurnInterrupted")
