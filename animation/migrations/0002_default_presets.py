"""Load the bundled default presets (animation/presets/*.json) as their first versions.

Self-contained on purpose: it reads the files and writes through the historical model,
importing only the pure ``validate_preset`` so an invalid bundled file stops the
migration instead of landing in the database. Later changes to the files are picked up
by ``animation.services.load_default_presets`` as new versions, not by this migration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from animation.validation import validate_preset

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"


def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    issues = validate_preset(data)
    if issues:
        raise ValueError(f"{path.name}: " + "; ".join(str(issue) for issue in issues))
    return data


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "emotion": data["emotion"],
        "loop": data["loop"],
        "duration": data["duration"],
        "interpolation": data.get("interpolation", "smooth"),
        "tracks": data["tracks"],
        "description": data.get("description", ""),
    }


def load_presets(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    preset_model = apps.get_model("animation", "AnimationPreset")
    for path in sorted(PRESETS_DIR.glob("*.json")):
        data = _read(path)
        fields = _fields(data)
        # Re-applied after a (no-op) reverse, the rows are still there: add a version only
        # when the content differs, and never clash with existing version numbers.
        latest = preset_model.objects.filter(name=data["name"]).order_by("-version").first()
        if latest is not None and all(getattr(latest, k) == v for k, v in fields.items()):
            continue
        version = latest.version + 1 if latest else 1
        preset_model.objects.create(name=data["name"], version=version, **fields)


class Migration(migrations.Migration):
    dependencies = [("animation", "0001_initial")]

    # Reversing keeps the rows: they are ordinary preset versions by now and may be in use.
    operations = [migrations.RunPython(load_presets, migrations.RunPython.noop)]
