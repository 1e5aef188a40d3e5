"""Writes to the preset store. Presets are versioned: nothing here updates a row."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction

from animation.models import AnimationPreset
from animation.validation import PresetInvalid, ensure_valid, validate_preset

DEFAULT_PRESETS_DIR = Path(__file__).resolve().parent / "presets"
# Two writers racing for the same next version: the loser retries with a fresh number.
_VERSION_ATTEMPTS = 3


def create_preset_version(data: Mapping[str, Any]) -> AnimationPreset:
    """Validate ``data`` and store it as the next version of its preset name.

    Raises ``animation.validation.PresetInvalid`` with every problem when invalid.
    A ``version`` key in ``data`` is ignored: the store assigns version numbers.
    """
    ensure_valid(data)
    fields = _model_fields(data)
    for attempt in range(_VERSION_ATTEMPTS):
        try:
            return _insert_next_version(fields)
        except IntegrityError:
            # The unique (name, version) constraint caught a concurrent writer.
            if attempt == _VERSION_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def load_default_presets(directory: Path = DEFAULT_PRESETS_DIR) -> list[AnimationPreset]:
    """Store each bundled preset file whose content differs from its latest version.

    Idempotent: unchanged files create nothing. Returns the versions created. Every file
    is validated before anything is written, so one broken file stores none of them.
    """
    presets = [_read_preset_file(path) for path in sorted(directory.glob("*.json"))]
    created: list[AnimationPreset] = []
    with transaction.atomic():
        for data in presets:
            latest = AnimationPreset.objects.latest_version(data["name"])
            if latest is None or not _same_content(latest, data):
                created.append(create_preset_version(data))
    return created


def _insert_next_version(fields: Mapping[str, Any]) -> AnimationPreset:
    with transaction.atomic():
        latest = (
            AnimationPreset.objects.select_for_update()
            .filter(name=fields["name"])
            .order_by("-version")
            .values_list("version", flat=True)
            .first()
        )
        return AnimationPreset.objects.create(version=(latest or 0) + 1, **fields)


def _model_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": data["name"],
        "emotion": data["emotion"],
        "loop": data["loop"],
        "duration": float(data["duration"]),
        "interpolation": data.get("interpolation", "smooth"),
        "tracks": data["tracks"],
        "description": data.get("description", ""),
    }


def _same_content(preset: AnimationPreset, data: Mapping[str, Any]) -> bool:
    return all(getattr(preset, key) == value for key, value in _model_fields(data).items())


def _read_preset_file(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    # Name the file in every issue: "tracks[3].values[2]" alone does not say which preset.
    issues = [replace(issue, path=f"{path.name}:{issue.path}") for issue in validate_preset(data)]
    if issues:
        raise PresetInvalid(issues)
    return dict(data)  # validation guarantees a JSON object
