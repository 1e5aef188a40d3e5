"""Admin views that write to a session's log: editing a sentence, re-rendering the session.

The session admin itself is read-only (the log is append-only); these views are the
only writes, each through a service, and need the ``conversations.revise_session``
permission on top of staff status. Wired in by ``SessionAdmin.get_urls``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from animation import selectors as animation_selectors
from synthesis.config import STAGES
from synthesis.factory import engines_in_use

from . import selectors, services
from .domain.validation import EMOTIONS, MAX_SENTENCE_CHARS, InvalidRevision
from .models import Session, TranscriptRevision, TranscriptSentence

PERMISSION = "conversations.revise_session"
EMOTION_LABELS = {"happy": "радость", "sad": "грусть", "neutral": "спокойствие", "thinking": "задумчивость"}


def _require_permission(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("Нужно право «Can edit sentences and re-render sessions».")


def _session(object_id: uuid.UUID) -> Session:
    session = Session.objects.filter(pk=object_id).first()  # the URL's converter made it a UUID
    if session is None:
        raise Http404("Нет такой сессии.")
    return session


class RevisionForm(forms.Form):
    text = forms.CharField(label="текст", max_length=MAX_SENTENCE_CHARS, widget=forms.Textarea(attrs={"rows": 3}))
    emotion = forms.ChoiceField(label="эмоция", required=False)
    action = forms.ChoiceField(label="жест (пресет)", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("emotion", [("", "определить по тексту"), *((e, EMOTION_LABELS[e]) for e in EMOTIONS)])
        # Gestures play once over the sentence: loops (idle and the like) cannot be one.
        names = sorted(set(
            animation_selectors.list_presets().filter(loop=False).values_list("name", flat=True)
        ))
        current = self.initial.get("action")
        if current and current not in names:  # a gesture the LLM asked for that no preset has
            names.append(current)
        self._choices("action", [("", "без жеста (по эмоции)"), *((n, n) for n in names)])

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


@require_http_methods(["GET", "POST"])
def revise_sentence(
    request: HttpRequest, object_id: uuid.UUID, turn_id: str, index: int, admin_site: Any
) -> HttpResponse:
    _require_permission(request)
    session = _session(object_id)
    sentence = (
        TranscriptSentence.objects.filter(turn__session=session, turn__turn_id=turn_id, index=index)
        .select_related("turn").first()
    )
    if sentence is None:
        raise Http404("Нет такой фразы.")
    current = services.current_content(selectors.turn_events(session.pk, turn_id), index)
    initial = {"text": current.text, "emotion": current.emotion or "", "action": current.action or ""}
    form = RevisionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            revised = services.revise_sentence(
                session.pk, turn_id, index, text=form.cleaned_data["text"], emotion=form.cleaned_data["emotion"],
                action=form.cleaned_data["action"], editor=request.user.get_username(),
            )
        except InvalidRevision as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except services.NoSuchSentence as exc:
            raise Http404(str(exc)) from exc
        else:
            messages.success(
                request, f"Фраза {index} хода {sentence.turn.number}: правка {revised.data['revision']} "
                "сохранена и отправлена на озвучивание.",
            )
            return redirect(_change_url(session) + f"#turn-{sentence.turn.number}")
    revisions = list(sentence.revisions.order_by("-revision"))
    context = {
        **admin_site.each_context(request),
        "original": rendering_row(session, sentence, {}),
        "latest": rendering_row(session, revisions[0], {}) if revisions else None,
        "title": f"Правка фразы {index} (ход {sentence.turn.number})",
        "session": session, "sentence": sentence, "form": form, "current_revision": current.revision,
        "revisions": revisions,
        "change_url": _change_url(session), "opts": Session._meta,
    }
    return TemplateResponse(request, "admin/conversations/session/revise_sentence.html", context)


@require_POST
def rerender(request: HttpRequest, object_id: uuid.UUID, admin_site: Any) -> HttpResponse:
    _require_permission(request)
    session = _session(object_id)
    try:
        requested = services.rerender_session(
            session.pk, requested_by=request.user.get_username(), engines=engines_in_use(),
        )
    except services.RerenderInProgress as exc:
        messages.error(request, f"Перерендер уже идёт: {exc}")
    else:
        count = len(requested.data["sentences"])
        messages.success(request, f"Перерендер запущен: {count} фраз(ы) в очереди.")
    return redirect(_change_url(session) + "#renders")


@require_GET
def render_progress(request: HttpRequest, object_id: uuid.UUID, admin_site: Any) -> JsonResponse:
    """Progress of the session's re-renders, polled by the change page."""
    session = _session(object_id)
    return JsonResponse({"renders": [render_row(s) for s in selectors.render_statuses(session.pk)]})


def render_row(status: selectors.RenderStatus) -> dict[str, Any]:
    return {
        "render_id": status.render_id, "requested_by": status.requested_by,
        "requested_at": status.requested_at.isoformat(), "total": status.total, "rendered": status.rendered,
        "failures": status.failures, "completed": status.completed, "percent": status.percent,
        "engines": status.engines,
    }


def rendering_row(
    session: Session, rendering: TranscriptSentence | TranscriptRevision, presets: dict[tuple[str, int | None], int]
) -> dict[str, Any]:
    """One rendering of a sentence (the original or a revision) as the admin templates show it."""
    audio_url = (
        reverse("conversations-api:artifact", kwargs={"session_id": session.pk, "sha256": rendering.audio_sha256})
        if rendering.audio_sha256
        else ""
    )
    preset_pk = presets.get((rendering.motion_preset, rendering.motion_preset_version))
    # The exact version the sentence was animated with (versions are never overwritten).
    preset_url = reverse("admin:animation_animationpreset_change", args=(preset_pk,)) if preset_pk else ""
    timings = rendering.timings or {}
    return {
        "s": rendering,
        "audio_url": audio_url,
        "preset_url": preset_url,
        "timings": [(stage, timings.get(stage)) for stage in STAGES],
    }


def _change_url(session: Session) -> str:
    return reverse("admin:conversations_session_change", args=(session.pk,))
