"""Who may open the WebSocket: decided by the ASGI stack, before any consumer code runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.conversations.api.conftest import communicator, open_socket, run

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
NewSession = Callable[[], dict[str, Any]]


def refused(comm: Any) -> None:
    async def scenario() -> None:
        connected, _ = await comm.connect(timeout=10)
        assert not connected
        await comm.disconnect()  # the browser side goes away; the app must finish cleanly

    run(scenario)


def test_the_sessions_token_opens_it(new_session: NewSession) -> None:
    session = new_session()

    async def scenario() -> None:
        comm = communicator(session["session_id"], session["token"])
        hello = await open_socket(comm)
        assert hello == {"type": "hello", "session_id": session["session_id"], "head_seq": 1,
                         "max_frame_bytes": 16384}
        await comm.disconnect()

    run(scenario)


def test_missing_token_is_refused(new_session: NewSession) -> None:
    refused(communicator(new_session()["session_id"]))


def test_wrong_token_is_refused(new_session: NewSession) -> None:
    refused(communicator(new_session()["session_id"], "not-the-token"))


def test_another_sessions_token_is_refused(new_session: NewSession) -> None:
    mine, other = new_session(), new_session()
    refused(communicator(mine["session_id"], other["token"]))


def test_unknown_session_is_refused(new_session: NewSession) -> None:
    refused(communicator(uuid.uuid4(), new_session()["token"]))


@pytest.mark.parametrize("origin", [b"http://evil.example", b"null", b"http://localhost.evil.example"])
def test_foreign_origin_is_refused_even_with_the_token(new_session: NewSession, origin: bytes) -> None:
    session = new_session()
    refused(communicator(session["session_id"], session["token"], origin=origin))


def test_missing_origin_is_refused(new_session: NewSession) -> None:
    session = new_session()
    refused(communicator(session["session_id"], session["token"], origin=None))


@pytest.mark.parametrize("path", ["/ws/other/", "/ws/sessions/not-a-uuid/", "/"])
def test_unknown_paths_are_refused(new_session: NewSession, path: str) -> None:
    session = new_session()
    refused(communicator(session["session_id"], session["token"], path=f"{path}?token={session['token']}"))


def test_staff_login_opens_any_session(new_session: NewSession, staff_cookie: str) -> None:
    session = new_session()

    async def scenario() -> None:
        comm = communicator(session["session_id"], cookie=staff_cookie)
        await open_socket(comm)
        await comm.disconnect()

    run(scenario)


def test_staff_login_does_not_open_an_unknown_session(staff_cookie: str) -> None:
    refused(communicator(uuid.uuid4(), cookie=staff_cookie))


def test_a_non_staff_login_is_not_access(new_session: NewSession, plain_user_cookie: str) -> None:
    refused(communicator(new_session()["session_id"], cookie=plain_user_cookie))


def test_staff_cookie_from_a_foreign_origin_is_refused(new_session: NewSession, staff_cookie: str) -> None:
    refused(communicator(new_session()["session_id"], cookie=staff_cookie, origin=b"https://evil.example"))
