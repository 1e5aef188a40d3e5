"""A read-only browser for preset versions (a later issue builds the real editor).

Versions are immutable and new ones must go through ``create_preset_version`` (which
validates and numbers them), so this admin neither adds nor edits rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from animation.models import AnimationPreset

# ModelAdmin is generic only in django-stubs; at runtime it cannot be subscripted.
if TYPE_CHECKING:
    _PresetAdminBase = admin.ModelAdmin[AnimationPreset]
else:
    _PresetAdminBase = admin.ModelAdmin


@admin.register(AnimationPreset)
class AnimationPresetAdmin(_PresetAdminBase):
    list_display = ("name", "version", "emotion", "loop", "duration", "interpolation", "created_at")
    list_filter = ("emotion", "loop", "interpolation")
    search_fields = ("name", "description")
    ordering = ("name", "-version")
    readonly_fields = (
        "name", "version", "emotion", "loop", "duration", "interpolation",
        "tracks", "description", "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing stays allowed through the view permission; saving never is.
        return False
