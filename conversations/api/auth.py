"""Who may read and write a session: the holder of its token, or a staff user.

Used by the HTTP views (``Authorization: Bearer``) and, as the ASGI middleware
``SessionAccessMiddleware``, by the WebSocket route: the middleware resolves access once
at the handshake and rejects it (HTTP 403) before any consumer code runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.http import HttpRequest

from conversations import eventstore

from . import tokens

AccessVia = Literal["token", "staff"]


@dataclass(frozen=True)
class SessionAccess:
    session_id: uuid.UUID
    via: AccessVia
    user_id: int | None = None

    @property
    def may_choose_mode(self) -> bool:
        # "speak" mode makes the avatar say arbitrary text verbatim: an operator's and
        # tests' tool, not something an anonymous visitor's token should grant.
        return self.via == "staff"


def _is_staff(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def resolve_access(session_id: uuid.UUID | str, token: str | None, user: Any) -> SessionAccess | None:
    """The access ``token`` or ``user`` has to the session, or None (sync: reads the DB)."""
    try:
        sid = uuid.UUID(str(session_id))
    except ValueError:
        return None
    if token and tokens.grants(sid, token):
        return SessionAccess(sid, "token")
    if _is_staff(user) and eventstore.session_exists(sid):
        return SessionAccess(sid, "staff", user_id=user.pk)
    return None


def bearer_token(request: HttpRequest) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def request_access(request: HttpRequest, session_id: uuid.UUID) -> SessionAccess | None:
    """HTTP: a bearer token first (no CSRF needed), else the staff login (CSRF checked by the view)."""
    token = bearer_token(request)
    if token is not None:
        return resolve_access(session_id, token, None)
    return resolve_access(session_id, None, getattr(request, "user", None))


def _query_token(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0] if values else None


class SessionAccessMiddleware:
    """ASGI middleware for a route with a ``session_id`` URL argument.

    Sits inside ``URLRouter`` (it needs the route's kwargs) and behind
    ``AuthMiddlewareStack`` (it needs ``scope["user"]``). Puts the resolved
    ``SessionAccess`` into ``scope["avatar_access"]``, or denies the handshake.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("SessionAccessMiddleware is for WebSocket routes")
        session_id = scope.get("url_route", {}).get("kwargs", {}).get("session_id")
        access = None
        if session_id is not None:
            access = await database_sync_to_async(resolve_access)(session_id, _query_token(scope), scope.get("user"))
        if access is None:
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner({**scope, "avatar_access": access}, receive, send)
