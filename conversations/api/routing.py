"""WebSocket routes. Each session route is wrapped in ``SessionAccessMiddleware``, which
needs the route's ``session_id``; the origin check and the login cookie are applied
around the whole router in ``avatar_project/asgi.py``."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import WebsocketDenier
from django.urls import path, re_path

from .auth import SessionAccessMiddleware
from .consumers import SessionConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/sessions/<uuid:session_id>/", SessionAccessMiddleware(SessionConsumer.as_asgi())),
    # Any other path: a clean 403 at the handshake instead of an error in the router.
    re_path(r"", WebsocketDenier.as_asgi()),
]
