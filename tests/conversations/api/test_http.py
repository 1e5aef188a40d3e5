"""HTTP JSON views: sessions, events, messages, interrupt, artifacts; auth and CSRF."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from django.conf import settings
from django.test import Client

from conversations import eventstore, services
from conversations.api.schemas import (
    ACCEPTED_SCHEMA,
    EVENTS_PAGE_SCHEMA,
    HTTP_ERROR_SCHEMA,
    SESSION_CREATED_SCHEMA,
)
from conversations.domain.events import SentenceGenerated, UserMessageReceived
from conversations.models import SessionToken
from tests.conversations.api.conftest import bearer
from tests.helpers import wait_for_turn

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
JSON = "application/json"
NewSession = Callable[[], dict[str, Any]]


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"] == "application/json"
    body = response.json()
    jsonschema.validate(body, HTTP_ERROR_SCHEMA)
    assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def staff_client(django_user_model: Any, *, enforce_csrf: bool = False) -> Client:
    user = django_user_model.objects.create_user("admin", password="x", is_staff=True)
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


def speak_turn(client: Client, session_id: str, text: str = "Раз. Два.") -> tuple[int, str]:
    """A fast turn without the LLM (staff only), through the HTTP view; waits for its end."""
    response = client.post(f"/api/sessions/{session_id}/messages", {"text": text, "mode": "speak"},
                           content_type="application/json")
    assert response.status_code == 202, response.content
    body = response.json()
    wait_for_turn(session_id, body["turn_id"], timeout=60)
    return body["seq"], body["turn_id"]


# --- POST /api/sessions -----------------------------------------------------------------------


def test_create_session_returns_a_token_stored_only_as_its_hash(api: Client) -> None:
    response = api.post("/api/sessions", {"title": "  Первый визит "}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    jsonschema.validate(body, SESSION_CREATED_SCHEMA)
    assert body["ws_url"] == f"/ws/sessions/{body['session_id']}/"
    assert response["Location"] == body["events_url"] and response["Cache-Control"] == "no-store"
    stored = SessionToken.objects.get(session_id=body["session_id"])
    assert stored.token_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in str(list(SessionToken.objects.values()))
    (started,) = eventstore.read(body["session_id"])
    assert started.type == "SessionStarted" and started.data["title"] == "Первый визит"


def test_create_session_without_a_body(api: Client) -> None:
    assert api.post("/api/sessions", content_type=JSON).status_code == 201


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{", "application/json", 400, "bad_json"),
        ("[1]", "application/json", 400, "bad_request"),
        ('{"title": 5}', "application/json", 400, "bad_request"),
        ('{"title": "' + "x" * 201 + '"}', "application/json", 400, "bad_request"),
        ("x" * 20000, "text/plain", 413, "too_large"),
    ],
)
def test_create_session_refuses_bad_bodies(api: Client, body: str, content_type: str, status: int, code: str) -> None:
    error_of(api.post("/api/sessions", body, content_type=content_type), status, code)


def test_wrong_method_and_unknown_path_get_json_errors(api: Client) -> None:
    response = api.get("/api/sessions")
    error_of(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    error_of(api.get("/api/nothing/here"), 404, "not_found")
    error_of(api.get(f"/api/sessions/{uuid.uuid4()}/events/"), 404, "not_found")


def test_session_creation_is_limited_per_address(api: Client, settings: Any) -> None:
    settings.AVATAR_SESSION_CREATE_LIMIT = (2, 3600)
    assert api.post("/api/sessions", content_type=JSON).status_code == 201
    assert api.post("/api/sessions", content_type=JSON).status_code == 201
    response = api.post("/api/sessions", content_type=JSON)
    error = error_of(response, 429, "rate_limited")
    assert error["retry_after"] > 0 and int(response["Retry-After"]) >= 1
    other = Client(REMOTE_ADDR="10.0.0.2")
    assert other.post("/api/sessions", content_type=JSON).status_code == 201


def test_logged_in_user_must_send_csrf_to_create_a_session(django_user_model: Any) -> None:
    client = staff_client(django_user_model, enforce_csrf=True)
    error_of(client.post("/api/sessions", content_type=JSON), 403, "csrf_failed")
    client.get("/admin/")  # a page with a form sets the CSRF cookie
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    assert client.post("/api/sessions", content_type=JSON, HTTP_X_CSRFTOKEN=token).status_code == 201


# --- Access ------------------------------------------------------------------------------------


def test_events_need_the_sessions_token(api: Client, new_session: NewSession) -> None:
    mine, other = new_session(), new_session()
    url = f"/api/sessions/{mine['session_id']}/events"
    response = api.get(url)
    error_of(response, 401, "unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")
    error_of(api.get(url, headers=bearer("wrong")), 403, "forbidden")
    error_of(api.get(url, headers=bearer(other["token"])), 403, "forbidden")
    error_of(api.get(url, headers={"Authorization": f"Token {mine['token']}"}), 401, "unauthorized")
    error_of(api.get(f"/api/sessions/{uuid.uuid4()}/events", headers=bearer(mine["token"])), 403, "forbidden")
    assert api.get(url, headers=bearer(mine["token"])).status_code == 200


def test_staff_reads_every_session_and_other_users_none(
    new_session: NewSession, django_user_model: Any
) -> None:
    session = new_session()
    url = f"/api/sessions/{session['session_id']}/events"
    assert staff_client(django_user_model).get(url).status_code == 200
    visitor = django_user_model.objects.create_user("visitor", password="x")
    client = Client()
    client.force_login(visitor)
    error_of(client.get(url), 403, "forbidden")
    error_of(staff_client_for(django_user_model, "admin2").get(f"/api/sessions/{uuid.uuid4()}/events"),
             403, "forbidden")


def staff_client_for(django_user_model: Any, name: str) -> Client:
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


# --- GET events ---------------------------------------------------------------------------------


def test_events_are_paged_by_seq(api: Client, new_session: NewSession) -> None:
    session = new_session()
    sid = session["session_id"]
    turn = "t-page"
    eventstore.append(sid, [UserMessageReceived(turn_id=turn, text="Привет")], expected_seq=1)
    eventstore.append(sid, [SentenceGenerated(turn_id=turn, index=i, text=f"Фраза {i}.") for i in range(5)],
                      expected_seq=2)
    auth = bearer(session["token"])
    page = api.get(f"/api/sessions/{sid}/events?after_seq=2&limit=3", headers=auth).json()
    jsonschema.validate(page, EVENTS_PAGE_SCHEMA)
    assert [e["seq"] for e in page["events"]] == [3, 4, 5]
    assert page["head_seq"] == 7 and page["has_more"] is True
    rest = api.get(f"/api/sessions/{sid}/events?after_seq=5", headers=auth).json()
    assert [e["seq"] for e in rest["events"]] == [6, 7] and rest["has_more"] is False
    assert [e["data"]["index"] for e in rest["events"]] == [3, 4]
    for bad in ("after_seq=-1", "after_seq=x", "limit=0", "limit=1001", "after_seq=99999999999"):
        error_of(api.get(f"/api/sessions/{sid}/events?{bad}", headers=auth), 400, "bad_request")


# --- POST messages -------------------------------------------------------------------------------


def test_message_validation_and_modes(api: Client, new_session: NewSession) -> None:
    session = new_session()
    url = f"/api/sessions/{session['session_id']}/messages"
    auth = bearer(session["token"])

    def post(body: dict[str, Any]) -> Any:
        return api.post(url, body, content_type="application/json", headers=auth)

    assert error_of(post({"text": "  "}), 422, "invalid_message")["reason"] == "empty"
    assert error_of(post({"text": "a\x00b"}), 422, "invalid_message")["reason"] == "control_characters"
    assert error_of(post({"text": 5}), 422, "invalid_message")["reason"] == "not_text"
    assert error_of(post({"text": "я" * 2001}), 422, "invalid_message")["reason"] == "too_long"
    error_of(post({"text": "Привет", "mode": "speak"}), 403, "forbidden")
    error_of(post({}), 400, "bad_request")
    error_of(api.post(url, "{", content_type="application/json", headers=auth), 400, "bad_json")
    error_of(api.post(url, "", content_type="application/json", headers=auth), 400, "bad_json")
    assert eventstore.head(session["session_id"]) == 1  # nothing stored


def test_token_post_is_csrf_exempt_and_a_retry_is_stored_once(
    new_session: NewSession, django_user_model: Any
) -> None:
    session = new_session()
    sid = session["session_id"]
    speak_turn(staff_client(django_user_model), sid)  # a turn already in the session
    # The page retries the same client_msg_id after a network error: stored once, no new turn.
    staff = staff_client_for(django_user_model, "admin2")
    first = staff.post(f"/api/sessions/{sid}/messages", {"text": "Да.", "client_msg_id": "m-1", "mode": "speak"},
                       content_type="application/json")
    wait_for_turn(sid, first.json()["turn_id"], timeout=60)
    head = eventstore.head(sid)
    csrf_client = Client(enforce_csrf_checks=True)
    retry = csrf_client.post(f"/api/sessions/{sid}/messages", {"text": "Да.", "client_msg_id": "m-1"},
                             content_type="application/json", headers=bearer(session["token"]))
    assert retry.status_code == 202
    jsonschema.validate(retry.json(), ACCEPTED_SCHEMA)
    assert retry.json() == first.json() and retry.json()["client_msg_id"] == "m-1"
    assert eventstore.head(sid) == head


def test_staff_cookie_post_needs_csrf(new_session: NewSession, django_user_model: Any) -> None:
    sid = new_session()["session_id"]
    client = staff_client(django_user_model, enforce_csrf=True)
    url = f"/api/sessions/{sid}/messages"
    error_of(client.post(url, {"text": "Да.", "mode": "speak"}, content_type="application/json"), 403, "csrf_failed")
    client.get("/admin/")
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(url, {"text": "Да.", "mode": "speak"}, content_type="application/json",
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 202
    wait_for_turn(sid, response.json()["turn_id"], timeout=60)


def test_messages_are_limited_per_session(
    new_session: NewSession, django_user_model: Any, settings: Any
) -> None:
    settings.AVATAR_SAY_LIMIT = (1, 60)
    a, b = new_session()["session_id"], new_session()["session_id"]
    staff = staff_client(django_user_model)
    speak_turn(staff, a, "Раз.")
    response = staff.post(f"/api/sessions/{a}/messages", {"text": "Два.", "mode": "speak"},
                          content_type="application/json")
    assert error_of(response, 429, "rate_limited")["retry_after"] > 0
    speak_turn(staff, b, "Три.")  # another session has its own budget


# --- Interrupt --------------------------------------------------------------------------------------


def test_interrupt_over_http(api: Client, new_session: NewSession) -> None:
    session = new_session()
    sid, auth = session["session_id"], bearer(session["token"])
    url = f"/api/sessions/{sid}/interrupt"
    error_of(api.post(url, content_type=JSON, headers=auth), 409, "no_active_turn")
    # A turn in progress (stored directly: no pipeline runs, so it stays in progress).
    eventstore.append(sid, [UserMessageReceived(turn_id="t-1", text="Привет")], expected_seq=1)
    eventstore.append(sid, [SentenceGenerated(turn_id="t-1", index=0, text="Здравствуйте!")], expected_seq=2)
    error_of(api.post(url, {"played_ms": -1}, content_type="application/json", headers=auth), 400, "bad_request")
    response = api.post(url, {"turn_id": "t-1", "played_index": 1}, content_type="application/json", headers=auth)
    assert response.status_code == 202, response.content
    assert response.json() == {"seq": 4, "turn_id": "t-1"}
    assert eventstore.read(sid, after_seq=3)[0].data["heard_text"] == "Здравствуйте!"
    error_of(api.post(url, content_type=JSON, headers=auth), 409, "no_active_turn")


# --- Artifacts -----------------------------------------------------------------------------------------


def test_artifacts_are_served_only_to_the_sessions_holders(
    api: Client, new_session: NewSession, django_user_model: Any
) -> None:
    mine, other = new_session(), new_session()
    staff = staff_client(django_user_model)
    speak_turn(staff, mine["session_id"], "Слушайте внимательно.")
    speak_turn(staff, other["session_id"], "Совсем другие слова.")
    events = api.get(f"/api/sessions/{mine['session_id']}/events", headers=bearer(mine["token"])).json()["events"]
    audio = next(e["data"]["audio"] for e in events if e["type"] == "SpeechSynthesized")
    cues = next(e["data"]["cues_artifact"] for e in events if e["type"] == "LipSyncGenerated")
    assert audio["url"] == f"/api/sessions/{mine['session_id']}/artifacts/{audio['sha256']}"

    response = api.get(audio["url"], headers=bearer(mine["token"]))
    assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
    assert hashlib.sha256(response.content).hexdigest() == audio["sha256"]
    assert response.content[:4] == b"RIFF" and response["ETag"] == f'"{audio["sha256"]}"'
    assert "immutable" in response["Cache-Control"]
    cached = api.get(audio["url"], headers={**bearer(mine["token"]), "If-None-Match": response["ETag"]})
    assert cached.status_code == 304 and cached.content == b""
    assert api.get(cues["url"], headers=bearer(mine["token"]))["Content-Type"] == "application/json"

    error_of(api.get(audio["url"]), 401, "unauthorized")
    error_of(api.get(audio["url"], headers=bearer(other["token"])), 403, "forbidden")
    # The other session's audio exists, but this session does not reference it.
    theirs = next(e for e in eventstore.read(other["session_id"]) if e.type == "SpeechSynthesized")
    foreign = f"/api/sessions/{mine['session_id']}/artifacts/{theirs.data['audio']['sha256']}"
    error_of(api.get(foreign, headers=bearer(mine["token"])), 404, "not_found")
    error_of(api.get(f"/api/sessions/{mine['session_id']}/artifacts/{'0' * 64}", headers=bearer(mine["token"])),
             404, "not_found")
    error_of(api.get(f"/api/sessions/{mine['session_id']}/artifacts/..%2F..%2Fsecret_key",
                     headers=bearer(mine["token"])), 404, "not_found")


def test_a_wrong_token_never_reaches_a_session_that_does_not_exist(api: Client) -> None:
    services.start_session()
    error_of(api.get(f"/api/sessions/{uuid.uuid4()}/events", headers=bearer("x" * 500)), 403, "forbidden")
