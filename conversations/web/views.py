"""The avatar page: a template that boots the ES modules under static/avatar/."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from conversations.domain.validation import MAX_MESSAGE_CHARS


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
