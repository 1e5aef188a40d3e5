"""HTTP JSON views of the client API (docs/protocol.md).

Errors are ``{"error": {"code", "message"}}`` with a fitting status. Calls carrying
``Authorization: Bearer`` are exempt from CSRF (a browser never adds that header on
its own to a cross-site request); calls that rely on the staff login cookie are
CSRF-checked, as Django would check any form.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from conversations import eventstore, services
from conversations.domain.validation import InvalidMessage
from synthesis import artifacts

from . import frames, ratelimit, selectors, tokens
from .auth import SessionAccess, bearer_token, request_access

MAX_EVENTS_PAGE = 1000
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> JsonResponse:
        body = {"code": self.code, "message": self.message, **{k: v for k, v in self.extra.items() if v is not None}}
        response = JsonResponse({"error": body}, status=self.status, json_dumps_params={"ensure_ascii": False})
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="avatar"'
        if "retry_after" in self.extra:
            response["Retry-After"] = str(max(1, round(self.extra["retry_after"])))
        return response


View = Callable[..., HttpResponseBase]


def api_view(*methods: str) -> Callable[[View], View]:
    """JSON errors for ApiError and for a wrong method; CSRF decided per call, see module doc."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                if request.method not in methods:
                    raise ApiError(405, "method_not_allowed", f"Метод {request.method} здесь не поддерживается.")
                return view(request, *args, **kwargs)
            except ApiError as exc:
                response = exc.response()
                if exc.status == 405:
                    response["Allow"] = ", ".join(methods)
                return response

        return wrapper

    return decorate


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        raise ApiError(403, "csrf_failed", f"Проверка CSRF не пройдена: {reason}")


def _check_csrf_for_cookie_auth(request: HttpRequest) -> None:
    """Enforce CSRF when the call is authorized by the login cookie (ambient authority)."""
    if bearer_token(request) is None and request.user.is_authenticated:
        check = _CsrfCheck(lambda r: HttpResponse())
        check.process_request(request)
        check.process_view(request, lambda r: HttpResponse(), (), {})


def _session_access(request: HttpRequest, session_id: uuid.UUID) -> SessionAccess:
    if bearer_token(request) is None and not request.user.is_authenticated:
        raise ApiError(401, "unauthorized", "Нужен заголовок Authorization: Bearer <token>.")
    access = request_access(request, session_id)
    if access is None:
        raise ApiError(403, "forbidden", "Нет доступа к этой сессии.")
    if access.via == "staff" and request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        _check_csrf_for_cookie_auth(request)
    return access


def _json_body(request: HttpRequest, *, required: bool) -> dict[str, Any]:
    if len(request.body) > settings.AVATAR_WS_MAX_FRAME_BYTES:
        raise ApiError(413, "too_large", f"Тело запроса больше {settings.AVATAR_WS_MAX_FRAME_BYTES} байт.")
    if not request.body.strip():
        if required:
            raise ApiError(400, "bad_json", "Нужно JSON-тело запроса.")
        return {}
    try:
        payload = frames.load_json(request.body)
    except frames.FrameError as exc:
        raise _frame_error(exc) from None
    if not isinstance(payload, dict):
        raise ApiError(400, "bad_request", "Тело запроса должно быть JSON-объектом.")
    return payload


def _frame_error(exc: frames.FrameError) -> ApiError:
    return ApiError(400, exc.code, exc.message, **exc.extra)


def _json(payload: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(payload, status=status, json_dumps_params={"ensure_ascii": False})


@api_view("POST")
def create_session(request: HttpRequest) -> HttpResponseBase:
    """POST /api/sessions: a new session and its token (open to anyone, limited per address)."""
    if request.user.is_authenticated:
        _check_csrf_for_cookie_auth(request)
    body = _json_body(request, required=False)
    title = body.get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise ApiError(400, "bad_request", "Поле title должно быть строкой не длиннее 200 символов.")
    retry_after = ratelimit.hit_session_create(request.META.get("REMOTE_ADDR") or "unknown")
    if retry_after:
        raise ApiError(429, "rate_limited", "Слишком много новых сессий, подождите.", retry_after=round(retry_after, 3))
    session_id, token = tokens.start_session_with_token(title=title.strip(), client="web")
    events_url = reverse("conversations-api:events", kwargs={"session_id": session_id})
    response = _json(
        {"session_id": str(session_id), "token": token, "ws_url": f"/ws/sessions/{session_id}/",
         "events_url": events_url},
        status=201,
    )
    response["Location"] = events_url
    response["Cache-Control"] = "no-store"  # the body holds a secret
    return response


@api_view("GET")
def session_events(request: HttpRequest, session_id: uuid.UUID) -> HttpResponseBase:
    """GET /api/sessions/<id>/events?after_seq=N&limit=M: stored events after N, in order."""
    _session_access(request, session_id)
    after_seq = _int_param(request, "after_seq", 0, 0, frames.MAX_INT)
    limit = _int_param(request, "limit", 500, 1, MAX_EVENTS_PAGE)
    with transaction.atomic():  # one snapshot: head_seq agrees with the page
        events = eventstore.read(session_id, after_seq=after_seq, limit=limit)
        head = eventstore.head(session_id)
    last = events[-1].seq if events else after_seq
    return _json({"events": [frames.event_frame(e) for e in events], "head_seq": head, "has_more": last < head})


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(400, "bad_request", f"Параметр {name} должен быть целым числом от {low} до {high}.")
    return value


@api_view("POST")
def post_message(request: HttpRequest, session_id: uuid.UUID) -> HttpResponseBase:
    """POST /api/sessions/<id>/messages: the same as a WebSocket ``say``."""
    access = _session_access(request, session_id)
    body = _json_body(request, required=True)
    try:
        say = frames.parse_say(body)
    except frames.FrameError as exc:
        raise _frame_error(exc) from None
    if say.mode == "speak" and not access.may_choose_mode:
        raise ApiError(403, "forbidden", "Режим speak доступен только персоналу.")
    retry_after = ratelimit.hit_say(session_id)
    if retry_after:
        raise ApiError(429, "rate_limited", "Слишком много сообщений в этой сессии, подождите.",
                       retry_after=round(retry_after, 3))
    try:
        recorded = services.receive_user_message(session_id, say.text, say.client_msg_id, say.mode or "llm")
    except InvalidMessage as exc:
        raise ApiError(422, "invalid_message", exc.message, reason=exc.code) from None
    return _json(
        {"seq": recorded.seq, "turn_id": recorded.data["turn_id"], "client_msg_id": recorded.data["client_msg_id"]},
        status=202,
    )


@api_view("POST")
def interrupt(request: HttpRequest, session_id: uuid.UUID) -> HttpResponseBase:
    """POST /api/sessions/<id>/interrupt: the same as a WebSocket ``interrupt``."""
    _session_access(request, session_id)
    body = _json_body(request, required=False)
    try:
        frame = frames.parse_interrupt(body)
    except frames.FrameError as exc:
        raise _frame_error(exc) from None
    try:
        recorded = services.interrupt_turn(
            session_id, turn_id=frame.turn_id, played_index=frame.played_index, played_ms=frame.played_ms)
    except services.NoActiveTurn:
        raise ApiError(409, "no_active_turn", "Сейчас нечего прерывать.") from None
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc) or "Неверные поля запроса.") from None
    return _json({"seq": recorded.seq, "turn_id": recorded.data["turn_id"]}, status=202)


@api_view("GET")
def artifact(request: HttpRequest, session_id: uuid.UUID, sha256: str) -> HttpResponseBase:
    """GET /api/sessions/<id>/artifacts/<sha256>: the bytes, if this session references them."""
    _session_access(request, session_id)
    found = selectors.session_artifact(session_id, sha256) if _SHA256.fullmatch(sha256) else None
    if found is None:
        raise ApiError(404, "not_found", "Нет такого файла в этой сессии.")
    etag = f'"{found.sha256}"'
    # Content-addressed: the bytes behind a URL never change, so the client may keep them.
    cache_headers = {"ETag": etag, "Cache-Control": "private, max-age=31536000, immutable"}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return HttpResponse(status=304, headers=cache_headers)
    content = artifacts.read(
        {"sha256": found.sha256, "name": found.name, "content_type": found.content_type, "size": found.size})
    return HttpResponse(content, content_type=found.content_type, headers=cache_headers)


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> HttpResponseBase:
    """Any other path under /api/: a JSON 404 rather than the HTML page."""
    return ApiError(404, "not_found", "Нет такого адреса API.").response()
