"""Read-only admin views of sessions, their event logs and transcripts.

The log is append-only: nothing here can add, change or delete an event.
(A fuller curation admin — replay, editing with re-render — is planned.)
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Session, StoredEvent, TranscriptSentence, TranscriptTurn


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StoredEventInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = StoredEvent
    fields = ("seq", "type", "version", "ts", "data")
    readonly_fields = fields
    extra = 0
    ordering = ("seq",)


@admin.register(Session)
class SessionAdmin(ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "title", "created_at", "head_seq")
    search_fields = ("id", "title")
    date_hierarchy = "created_at"
    inlines = (StoredEventInline,)


class TranscriptSentenceInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = TranscriptSentence
    fields = ("index", "text", "emotion", "tts_engine", "duration_ms", "lipsync_generator", "motion_preset", "failures")
    readonly_fields = fields
    extra = 0


@admin.register(TranscriptTurn)
class TranscriptTurnAdmin(ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("session", "number", "user_text", "started_at", "completed_at", "finish_reason", "llm_engine")
    list_filter = ("finish_reason", "llm_engine", "started_at")
    search_fields = ("user_text", "session__id")
    inlines = (TranscriptSentenceInline,)
