from __future__ import annotations

from django.contrib import admin

from .models import Artifact


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("sha256", "kind", "content_type", "size", "created_at")
    list_filter = ("kind",)
    search_fields = ("sha256", "name")
    readonly_fields = ("sha256", "kind", "content_type", "size", "name", "created_at")
