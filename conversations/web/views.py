"""The avatar page and the staff replay page: templates that boot the ES modules under static/avatar/.

Both pages get the avatar to show in their config: the admin's default GLB avatar (served by
``avatar_glb``, since uploads live in media storage, which nothing else serves) with its
viseme mapping, and the mapping of the built-in avatar, which the page shows when there is
no default avatar or its GLB cannot be loaded.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from animation import selectors
from animation.models import Avatar
from conversations.domain.validation import MAX_MESSAGE_CHARS
from conversations.models import Session

GLB_CONTENT_TYPE = "model/gltf-binary"


def _is_staff(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def avatar_config() -> dict[str, Any]:
    """The avatar part of a page's config: ``avatar`` (the default GLB, or None) and ``mapping``."""
    avatar = selectors.default_avatar()
    glb = None
    if avatar is not None:
        glb = {
            "id": avatar.pk,
            "name": avatar.name,
            "url": reverse("avatar-glb", args=(avatar.pk,)),
            "standard": avatar.standard,
            "mapping": selectors.viseme_mapping(avatar),
        }
    return {"avatar": glb, "mapping": selectors.viseme_mapping(None)}


@require_GET
@ensure_csrf_cookie  # the page's POST /api/sessions sends it back as X-CSRFToken
def page(request: HttpRequest) -> HttpResponse:
    config = {
        "apiBase": "",
        "wsPath": "/ws/sessions/",
        "maxChars": MAX_MESSAGE_CHARS,
        **avatar_config(),
    }
    response = render(request, "avatar/page.html", {"config": config})
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def replay(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """A stored session played on the avatar from its event log (staff only).

    Anonymous visitors go to the admin login; a logged-in user without staff rights gets 403.
    The page reads the events and artifacts over the client API with the staff login cookie.
    """
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not _is_staff(request):
        raise PermissionDenied("Повтор разговоров доступен только персоналу.")
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        raise Http404("Нет такой сессии.")
    config = {
        "apiBase": "",
        "sessionId": str(session.pk),
        "title": session.title,
        "createdAt": session.created_at.isoformat(),
        "adminUrl": reverse("admin:conversations_session_change", args=(session.pk,)),
        "pollMs": 1500,
        **avatar_config(),
    }
    response = render(request, "avatar/replay.html", {"config": config, "session": session})
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def avatar_glb(request: HttpRequest, avatar_id: int) -> FileResponse:
    """An uploaded avatar's GLB file: the default one for everyone (the page shows it), any one for staff."""
    avatar = Avatar.objects.filter(pk=avatar_id).first()
    if avatar is None or not (avatar.is_default or _is_staff(request)):
        raise Http404("Нет такого аватара.")
    try:
        handle = avatar.glb.open("rb")
    except (FileNotFoundError, ValueError):  # the row outlived its file: the page falls back
        raise Http404("Файл аватара не найден.") from None
    response = FileResponse(handle, content_type=GLB_CONTENT_TYPE)
    # Which avatar is the default changes in the admin, so the answer may not be shared for long.
    response["Cache-Control"] = "private, max-age=3600"
    return response
