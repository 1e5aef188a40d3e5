"""The avatar page and the staff replay page: templates that boot the ES modules under static/avatar/."""

from __future__ import annotations

import uuid

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from conversations.domain.validation import MAX_MESSAGE_CHARS
from conversations.models import Session


@require_GET
@ensure_csrf_cookie  # the page's POST /api/sessions sends it back as X-CSRFToken
def page(request: HttpRequest) -> HttpResponse:
    config = {
        "apiBase": "",
        "wsPath": "/ws/sessions/",
        "maxChars": MAX_MESSAGE_CHARS,
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
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not (user.is_active and user.is_staff):
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
    }
    response = render(request, "avatar/replay.html", {"config": config, "session": session})
    response["Cache-Control"] = "no-store"
    return response
