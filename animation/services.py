"""Writes to the animation store: preset versions, viseme mappings, avatars.

Presets are versioned: nothing here updates a preset row, every change is a new version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from animation import glb
from animation.models import AnimationPreset, Avatar, VisemeMapping
from animation.validation import PresetInvalid, ValidationIssue, ensure_valid, validate_preset
from animation.visemes import MappingInvalid, validate_mapping

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


def save_preset(data: Mapping[str, Any]) -> tuple[AnimationPreset, bool]:
    """Store ``data`` as the next version unless it equals the preset's latest version.

    Returns (the version holding this content, whether it was created). An admin "save"
    without changes must not grow the history with copies; saving an *older* version's
    content unchanged does create a new version (that is how a preset is reverted).
    """
    ensure_valid(data)
    latest = AnimationPreset.objects.latest_version(data["name"])
    if latest is not None and _same_content(latest, data):
        return latest, False
    return create_preset_version(data), True


def duplicate_preset(preset: AnimationPreset, name: str | None = None) -> AnimationPreset:
    """A new preset (version 1) with ``preset``'s content under ``name`` (default: a free "<name>-copy")."""
    target = name or free_preset_name(f"{preset.name[:55]}-copy")
    if AnimationPreset.objects.filter(name=target).exists():
        raise PresetInvalid([ValidationIssue("name", "name_taken", f"пресет '{target}' уже существует")])
    return create_preset_version({**preset.to_data(), "name": target, "version": 1})


def free_preset_name(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever no preset uses yet."""
    taken = set(AnimationPreset.objects.filter(name__startswith=base).values_list("name", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# --- Preset import and export (JSON files) -------------------------------------------------

MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_PRESETS = 200


class PresetImportRejected(ValueError):
    """The uploaded file as a whole is unusable (not JSON, too large, wrong shape)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PresetImportInvalid(ValueError):
    """Some presets of the file are invalid: ``errors`` lists (label, issues) per preset."""

    def __init__(self, errors: list[tuple[str, list[ValidationIssue]]]) -> None:
        super().__init__("; ".join(f"{label}: {len(issues)} ошибок" for label, issues in errors))
        self.errors = errors


def export_presets(presets: list[AnimationPreset]) -> bytes:
    """The presets as a JSON file (a list), in the format ``import_presets`` reads back."""
    payload = [preset.to_data() for preset in presets]
    return json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")


def parse_preset_file(raw: bytes) -> list[Any]:
    """The presets of an uploaded file: one preset object or a list of them."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise PresetImportRejected(f"Файл больше {MAX_IMPORT_BYTES // 1024} КБ.")
    try:
        payload = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise PresetImportRejected("Это не JSON: файл не читается как JSON в UTF-8.") from None
    items = payload if isinstance(payload, list) else [payload]
    if not items or not all(isinstance(item, dict) for item in items):
        raise PresetImportRejected("Нужен JSON-объект пресета или непустой список таких объектов.")
    if len(items) > MAX_IMPORT_PRESETS:
        raise PresetImportRejected(f"Не больше {MAX_IMPORT_PRESETS} пресетов в одном файле.")
    return items


def import_presets(items: list[Any]) -> tuple[list[AnimationPreset], list[AnimationPreset]]:
    """Store every preset as a new version; all or nothing.

    Returns (versions created, presets skipped because their latest version already has
    this content: re-importing an export must not duplicate the history). Raises
    ``PresetImportInvalid`` listing every invalid preset when any is invalid.
    """
    errors: list[tuple[str, list[ValidationIssue]]] = []
    names: dict[str, int] = {}
    for number, item in enumerate(items, start=1):
        issues = validate_preset(item)
        name = item.get("name") if isinstance(item, dict) else None
        label = f"№{number}" + (f" «{name}»" if isinstance(name, str) and name else "")
        if isinstance(name, str) and name in names:
            issues.append(ValidationIssue("name", "duplicate", f"то же имя, что у №{names[name]}"))
        elif isinstance(name, str):
            names[name] = number
        if issues:
            errors.append((label, issues))
    if errors:
        raise PresetImportInvalid(errors)
    created: list[AnimationPreset] = []
    unchanged: list[AnimationPreset] = []
    with transaction.atomic():
        for item in items:
            preset, is_new = save_preset(item)
            (created if is_new else unchanged).append(preset)
    return created, unchanged


# --- Viseme mappings -----------------------------------------------------------------------


def save_viseme_mapping(mapping: VisemeMapping) -> VisemeMapping:
    """Validate and store a mapping (its default flag is changed by ``make_default_mapping``)."""
    issues = validate_mapping(mapping.mapping)
    if issues:
        raise MappingInvalid(issues)
    mapping.save()
    return mapping


def make_default_mapping(mapping: VisemeMapping) -> None:
    """Make ``mapping`` the one used when an avatar has none (the built-in avatar)."""
    with transaction.atomic():
        # Clear first: the partial unique index allows one default at any moment.
        VisemeMapping.objects.filter(is_default=True).update(is_default=False)
        VisemeMapping.objects.filter(pk=mapping.pk).update(is_default=True)
        mapping.is_default = True


# --- Avatars -------------------------------------------------------------------------------


def upload_avatar(*, name: str, content: bytes, filename: str, viseme_mapping: VisemeMapping | None = None) -> Avatar:
    """Inspect a GLB and store it as a new avatar; raises ``glb.GlbInvalid`` when unusable."""
    morphs = glb.inspect_glb(content)
    assert morphs.standard is not None  # inspect_glb refuses files without a standard
    avatar = Avatar(name=name, morph_info=morphs.to_json(), standard=morphs.standard, viseme_mapping=viseme_mapping)
    stem = Path(filename).stem[:60] or "avatar"
    # Storage picks a free name itself; the file and the row are written together.
    with transaction.atomic():
        avatar.glb.save(f"{stem}.glb", ContentFile(content), save=False)
        avatar.save()
    return avatar


def update_avatar(avatar: Avatar, *, name: str, viseme_mapping: VisemeMapping | None) -> Avatar:
    """Rename an avatar or change its mapping (the file itself is replaced by a new upload)."""
    avatar.name, avatar.viseme_mapping = name, viseme_mapping
    avatar.save(update_fields=["name", "viseme_mapping"])
    return avatar


def make_default_avatar(avatar: Avatar | None) -> None:
    """Make ``avatar`` the one the page shows; None: back to the built-in avatar."""
    with transaction.atomic():
        # Clear first: the partial unique index allows one default at any moment.
        Avatar.objects.filter(is_default=True).update(is_default=False)
        if avatar is not None:
            Avatar.objects.filter(pk=avatar.pk).update(is_default=True)
            avatar.is_default = True


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
