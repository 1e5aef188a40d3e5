"""Reads from the preset store."""

from __future__ import annotations

from animation.models import AnimationPreset, AnimationPresetQuerySet
from animation.motion import IDLE_PRESET, base_preset_name


def latest_preset(name: str) -> AnimationPreset | None:
    """The newest version of the preset called ``name``, or None."""
    return AnimationPreset.objects.latest_version(name)


def preset_for_emotion(emotion: str | None) -> AnimationPreset | None:
    """The preset that expresses ``emotion`` (the same choice the motion stage makes).

    Falls back, in order, to the newest preset tagged with that emotion, then to idle;
    None only when even idle is missing.
    """
    name = base_preset_name(emotion)
    preset = latest_preset(name)
    if preset is None and emotion is not None:
        preset = (
            AnimationPreset.objects.latest_versions()
            .filter(emotion=emotion)
            .order_by("-created_at", "name")
            .first()
        )
    return preset or latest_preset(IDLE_PRESET)


def list_presets() -> AnimationPresetQuerySet:
    """The newest version of every preset, by name."""
    return AnimationPreset.objects.latest_versions().order_by("name")


def preset_versions(name: str) -> AnimationPresetQuerySet:
    """Every stored version of one preset, newest first (its history)."""
    return AnimationPreset.objects.filter(name=name).order_by("-version")
