"""Read-only admin of sessions: transcripts, engines, timings, audio, and the raw event log.

The log is append-only and the transcript is its projection: nothing here can add,
change or delete either. Audio players load the sentence WAVs from the client API's
artifact endpoint, which admits staff by their login (conversations/api/auth.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from animation.models import AnimationPreset

from . import admin_views, selectors
from .models import Session, StoredEvent, TranscriptSentence, TranscriptTurn

if TYPE_CHECKING:
    _SessionAdminBase = admin.ModelAdmin[Session]
    _TurnAdminBase = admin.ModelAdmin[TranscriptTurn]
else:
    _SessionAdminBase = _TurnAdminBase = admin.ModelAdmin

# The request being rendered: read-only field callables get only the object, and the
# transcript offers its "edit" links only to those who may use them.
_request: ContextVar[HttpRequest | None] = ContextVar("session_admin_request", default=None)


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _failures() -> QuerySet[StoredEvent]:
    # The log, not the projection: a failure outside any turn is still a failure.
    return StoredEvent.objects.filter(session=OuterRef("pk"), type="StageFailed")


class _HasEventFilter(admin.SimpleListFilter):
    """Sessions whose log has (or has not) an event of ``event_type``."""

    event_type = ""
    labels = ("", "")  # (has, has not)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", self.labels[0]), ("no", self.labels[1])]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # The log, not the projection: e.g. a failure outside any turn is still a failure.
        found = Exists(StoredEvent.objects.filter(session=OuterRef("pk"), type=self.event_type))
        if self.value() == "yes":
            return queryset.filter(found)
        if self.value() == "no":
            return queryset.exclude(found)
        return queryset


class HasFailuresFilter(_HasEventFilter):
    title = "сбои"
    parameter_name = "failures"
    event_type = "StageFailed"
    labels = ("есть сбои", "без сбоев")


class HasRevisionsFilter(_HasEventFilter):
    title = "правки"
    parameter_name = "revised"
    event_type = "SentenceRevised"
    labels = ("есть правки или перерендер", "без правок")


class _EngineFilter(admin.SimpleListFilter):
    """Sessions in which some turn (or sentence) used the chosen engine."""

    lookup: str = ""
    values_model: type[TranscriptTurn] | type[TranscriptSentence] = TranscriptTurn
    values_field: str = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        engines = (
            self.values_model.objects.exclude(**{self.values_field: ""})
            .values_list(self.values_field, flat=True)
            .distinct()
            .order_by(self.values_field)
        )
        return [(engine, engine) for engine in engines]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(**{self.lookup: self.value()}).distinct()
        return queryset


class LlmEngineFilter(_EngineFilter):
    title = "движок LLM"
    parameter_name = "llm"
    lookup = "turns__llm_engine"
    values_model = TranscriptTurn
    values_field = "llm_engine"


class TtsEngineFilter(_EngineFilter):
    title = "движок TTS"
    parameter_name = "tts"
    lookup = "turns__sentences__tts_engine"
    values_model = TranscriptSentence
    values_field = "tts_engine"


@admin.register(Session)
class SessionAdmin(ReadOnlyMixin, _SessionAdminBase):
    list_display = (
        "__str__", "created_at", "turn_count", "sentence_count", "engines", "failure_count", "head_seq", "replay_link",
    )
    list_filter = (
        ("created_at", admin.DateFieldListFilter), LlmEngineFilter, TtsEngineFilter, HasFailuresFilter,
        HasRevisionsFilter,
    )
    search_fields = ("id", "title", "turns__user_text", "turns__sentences__text")
    date_hierarchy = "created_at"
    fields = ("id", "title", "created_at", "head_seq", "replay_link", "renders", "transcript", "event_log")
    readonly_fields = fields
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        turns = TranscriptTurn.objects.filter(session=OuterRef("pk")).values("session")
        sentences = TranscriptSentence.objects.filter(turn__session=OuterRef("pk")).values("turn__session")
        failures = _failures().values("session")
        return (
            super()
            .get_queryset(request)
            .annotate(
                # Subqueries, not JOIN + COUNT: two counts over one join multiply each other.
                n_turns=Coalesce(Subquery(turns.annotate(n=Count("pk")).values("n")), 0),
                n_sentences=Coalesce(Subquery(sentences.annotate(n=Count("pk")).values("n")), 0),
                n_failures=Coalesce(Subquery(failures.annotate(n=Count("pk")).values("n")), 0),
            )
            .prefetch_related(
                Prefetch("turns", queryset=TranscriptTurn.objects.only("session_id", "llm_engine")),
                Prefetch(
                    "turns__sentences",
                    queryset=TranscriptSentence.objects.only("turn_id", "tts_engine", "lipsync_generator"),
                ),
            )
        )

    def get_urls(self) -> list[URLPattern]:
        def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                if not self.has_view_permission(request):
                    raise PermissionDenied
                return view(request, *args, admin_site=self.admin_site, **kwargs)

            return self.admin_site.admin_view(wrapper)

        return [
            path(
                "<uuid:object_id>/sentence/<str:turn_id>/<int:index>/", wrap(admin_views.revise_sentence),
                name="conversations_session_revise",
            ),
            path("<uuid:object_id>/rerender/", wrap(admin_views.rerender), name="conversations_session_rerender"),
            path("<uuid:object_id>/renders/", wrap(admin_views.render_progress), name="conversations_session_renders"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        token = _request.set(request)
        try:
            response = super().change_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()  # the readonly fields are rendered now, while the request is known
            return response
        finally:
            _request.reset(token)

    @admin.display(description="повтор")
    def replay_link(self, obj: Session) -> SafeString:
        url = reverse("avatar-replay", kwargs={"session_id": obj.pk})
        return format_html(
            '<a href="{}" target="_blank" rel="noopener" title="Воспроизвести сессию на аватаре">▶ Повтор</a>'
            ' · <a href="{}?revision=latest" target="_blank" rel="noopener"'
            ' title="С последними правками фраз">▶ Повтор с правками</a>',
            url, url,
        )

    @admin.display(description="перерендер")
    def renders(self, obj: Session) -> SafeString:
        request = _request.get()
        context = {
            "renders": [admin_views.render_row(s) for s in selectors.render_statuses(obj.pk)],
            "can_revise": request is not None and request.user.has_perm(admin_views.PERMISSION),
            "rerender_url": reverse("admin:conversations_session_rerender", args=(obj.pk,)),
            "progress_url": reverse("admin:conversations_session_renders", args=(obj.pk,)),
        }
        return SafeString(render_to_string("admin/conversations/session/renders.html", context))

    @admin.display(description="ходов", ordering="n_turns")
    def turn_count(self, obj: Any) -> int:
        return int(obj.n_turns)

    @admin.display(description="фраз", ordering="n_sentences")
    def sentence_count(self, obj: Any) -> int:
        return int(obj.n_sentences)

    @admin.display(description="сбоев", ordering="n_failures")
    def failure_count(self, obj: Any) -> SafeString | int:
        n = int(obj.n_failures)
        return format_html('<strong style="color: #ba2121">{}</strong>', n) if n else 0

    @admin.display(description="движки (LLM / TTS)")
    def engines(self, obj: Session) -> str:
        llm = sorted({t.llm_engine for t in obj.turns.all() if t.llm_engine})
        tts = sorted({s.tts_engine for t in obj.turns.all() for s in t.sentences.all() if s.tts_engine})
        return f"{', '.join(llm) or '—'} / {', '.join(tts) or '—'}"

    @admin.display(description="расшифровка")
    def transcript(self, obj: Session) -> SafeString:
        turns = list(
            TranscriptTurn.objects.filter(session=obj).prefetch_related("sentences__revisions").order_by("number")
        )
        used = {
            (r.motion_preset, r.motion_preset_version)
            for t in turns for s in t.sentences.all() for r in (s, *s.revisions.all())
        }
        presets: dict[tuple[str, int | None], int] = {
            (p.name, p.version): p.pk
            for p in AnimationPreset.objects.filter(name__in={name for name, _ in used}).only("name", "version")
            if (p.name, p.version) in used
        }
        request = _request.get()
        can_revise = request is not None and request.user.has_perm(admin_views.PERMISSION)
        context = {
            "turns": [_turn_row(obj, turn, presets, can_revise) for turn in turns],
        }
        return SafeString(render_to_string("admin/conversations/session/transcript.html", context))

    @admin.display(description="журнал событий")
    def event_log(self, obj: Session) -> SafeString:
        events = StoredEvent.objects.filter(session=obj).order_by("seq")
        rows = [
            {
                "seq": e.seq, "type": e.type, "version": e.version, "ts": e.ts, "event_id": e.event_id,
                "data": json.dumps(e.data, ensure_ascii=False, indent=1),
            }
            for e in events
        ]
        return SafeString(render_to_string("admin/conversations/session/event_log.html", {"events": rows}))


def _turn_row(
    session: Session, turn: TranscriptTurn, presets: dict[tuple[str, int | None], int], can_revise: bool
) -> dict[str, Any]:
    return {
        "turn": turn,
        "stage_totals": (turn.timings or {}).get("stages", {}),
        "totals": {k: v for k, v in (turn.timings or {}).items() if k != "stages"},
        "sentences": [_sentence_row(session, turn, s, presets, can_revise) for s in turn.sentences.all()],
    }


def _sentence_row(
    session: Session, turn: TranscriptTurn, sentence: TranscriptSentence,
    presets: dict[tuple[str, int | None], int], can_revise: bool,
) -> dict[str, Any]:
    row = admin_views.rendering_row(session, sentence, presets)
    revisions = list(sentence.revisions.all())
    # Side by side with the original: the newest revision (rendered or still in the queue).
    row["latest"] = admin_views.rendering_row(session, revisions[-1], presets) if revisions else None
    row["revision_count"] = len(revisions)
    row["edit_url"] = (
        reverse("admin:conversations_session_revise", args=(session.pk, turn.turn_id, sentence.index))
        if can_revise else ""
    )
    return row


class TranscriptSentenceInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = TranscriptSentence
    fields = ("index", "text", "emotion", "tts_engine", "duration_ms", "lipsync_generator", "motion_preset", "failures")
    readonly_fields = fields
    extra = 0


@admin.register(TranscriptTurn)
class TranscriptTurnAdmin(ReadOnlyMixin, _TurnAdminBase):
    list_display = ("session", "number", "user_text", "started_at", "completed_at", "finish_reason", "llm_engine")
    list_filter = ("finish_reason", "llm_engine", "started_at")
    search_fields = ("user_text", "session__id")
    list_select_related = ("session",)
    inlines = (TranscriptSentenceInline,)
