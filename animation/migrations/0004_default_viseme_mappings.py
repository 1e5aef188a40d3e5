"""The viseme mappings that ship with the server.

* ``builtin`` (the default): the built-in avatar's morphs mouth_A..mouth_H, mouth_X
  (static/avatar/rig.js ``mouthMorphName``), one morph per shape.
* ``oculus`` and ``arkit``: starting points for uploaded GLB avatars with Oculus viseme
  or ARKit blend-shape names; the avatar selector picks them by the detected standard.

The data is frozen here on purpose (not imported from animation.visemes): a migration
must create the same rows whenever it runs. Existing rows (edited by staff) are kept.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

SHAPES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")

MAPPINGS: list[dict[str, Any]] = [
    {
        "name": "builtin",
        "is_default": True,
        "description": "Встроенный аватар: одна форма рта — один морф mouth_<форма>.",
        "mapping": {shape: {f"mouth_{shape}": 1.0} for shape in SHAPES},
    },
    {
        "name": "oculus",
        "is_default": False,
        "description": "Аватары с визем-морфами Oculus (viseme_PP, viseme_aa, …), например Ready Player Me.",
        "mapping": {
            "A": {"viseme_PP": 1.0},  # closed lips: M, B, P
            "B": {"viseme_kk": 0.7, "viseme_SS": 0.3},  # slightly open, teeth together: K, S, T
            "C": {"viseme_E": 1.0},  # open: EH, AE
            "D": {"viseme_aa": 1.0},  # wide open: AA
            "E": {"viseme_O": 1.0},  # rounded: AO, ER
            "F": {"viseme_U": 1.0},  # puckered: UW, OW, W
            "G": {"viseme_FF": 1.0},  # upper teeth on lower lip: F, V
            "H": {"viseme_nn": 1.0},  # tongue up: L
            "X": {"viseme_sil": 1.0},  # rest
        },
    },
    {
        "name": "arkit",
        "is_default": False,
        "description": "Аватары с blend shapes ARKit (jawOpen, mouthFunnel, …).",
        "mapping": {
            "A": {"mouthClose": 1.0, "mouthPressLeft": 0.3, "mouthPressRight": 0.3},
            "B": {"jawOpen": 0.15, "mouthStretchLeft": 0.2, "mouthStretchRight": 0.2},
            "C": {"jawOpen": 0.35, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3},
            "D": {"jawOpen": 0.7},
            "E": {"jawOpen": 0.4, "mouthFunnel": 0.5},
            "F": {"jawOpen": 0.15, "mouthPucker": 0.8},
            "G": {"mouthRollLower": 0.6, "mouthUpperUpLeft": 0.3, "mouthUpperUpRight": 0.3},
            "H": {"jawOpen": 0.3, "tongueOut": 0.2},
            "X": {},
        },
    },
]


def create_mappings(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    model = apps.get_model("animation", "VisemeMapping")
    has_default = model.objects.filter(is_default=True).exists()
    for row in MAPPINGS:
        if model.objects.filter(name=row["name"]).exists():
            continue
        is_default = row["is_default"] and not has_default
        model.objects.create(**{**row, "is_default": is_default})


class Migration(migrations.Migration):
    dependencies = [("animation", "0003_avatars_visemes")]

    # Reversing keeps the rows: staff may have edited them, and they are plain data.
    operations = [migrations.RunPython(create_mappings, migrations.RunPython.noop)]
