"""Reads from the animation store: presets, avatars, viseme mappings."""

from __future__ import annotations

from animation.models import AnimationPreset, AnimationPresetQuerySet, Avatar, VisemeMapping
from animation.motion import IDLE_PRESET, base_preset_name
from animation.visemes import BUILTIN_MAPPING, MappingData, normalized, validate_mapping


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


def default_avatar() -> Avatar | None:
    """The uploaded avatar the page shows, or None: the built-in avatar."""
    return Avatar.objects.filter(is_default=True).select_related("viseme_mapping").first()


def viseme_mapping(avatar: Avatar | None = None) -> MappingData:
    """The mouth-shape table for ``avatar`` (None: the built-in avatar).

    In order: the avatar's own mapping; the shipped mapping named after its morph
    standard ("both" prefers Oculus visemes, made for speech); the default mapping; and
    the built-in table when the database has none (a fresh, unmigrated data set).
    """
    candidates: list[VisemeMapping | None] = []
    if avatar is not None:
        candidates.append(avatar.viseme_mapping)
        standard = "oculus" if avatar.standard == "both" else avatar.standard
        candidates.append(VisemeMapping.objects.filter(name=standard).first())
    candidates.append(VisemeMapping.objects.filter(is_default=True).first())
    for mapping in candidates:
        # Rows are validated on save; a row broken by hand in the database is skipped.
        if mapping is not None and not validate_mapping(mapping.mapping):
            return normalized(mapping.mapping)
    return {shape: dict(morphs) for shape, morphs in BUILTIN_MAPPING.items()}
