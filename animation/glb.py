"""Reading what an uploaded avatar offers for lip-sync and expressions: its morph targets.

Pure Python, no Django and no 3D library: only the binary glTF container (12-byte
header, then chunks) and its JSON chunk are read. The BIN chunk (vertex data) is never
parsed, only bounds-checked, so a hostile file costs at most one pass over its bytes.

Morph target names live in ``meshes[].extras.targetNames`` (the de-facto convention of
Blender, three.js and Ready Player Me); some exporters put them on the primitives'
``extras`` instead. ``primitives[].targets`` says how many targets a mesh has, but not
their names, so unnamed targets cannot be driven and do not count as usable.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_GLB_BYTES = 50 * 1024 * 1024
GLB_MAGIC = b"glTF"
GLB_VERSION = 2
CHUNK_JSON = 0x4E4F534A  # "JSON" little-endian
CHUNK_BIN = 0x004E4942  # "BIN\0"
_HEADER = struct.Struct("<4sII")
_CHUNK_HEADER = struct.Struct("<II")

# Apple ARKit's 52 face blend shapes (the names Ready Player Me, VRoid exports etc. use).
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
# Oculus (Meta) OVR lip-sync visemes.
OCULUS_NAMES: tuple[str, ...] = (
    "viseme_sil", "viseme_PP", "viseme_FF", "viseme_TH", "viseme_DD", "viseme_kk",
    "viseme_CH", "viseme_SS", "viseme_nn", "viseme_RR", "viseme_aa", "viseme_E",
    "viseme_I", "viseme_O", "viseme_U",
)
# The one morph each standard cannot lip-sync without: an open mouth. A file that has it
# can show speech; a file that lacks it has no usable mouth for that standard.
ARKIT_REQUIRED = "jawOpen"
OCULUS_REQUIRED = "viseme_aa"

Standard = Literal["arkit", "oculus", "both"]


class GlbInvalid(ValueError):
    """The file is not a usable avatar; ``message`` says why, in words for the uploader."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class MeshMorphs:
    mesh: str
    target_count: int  # morph targets of the mesh's primitives (the most of any primitive)
    names: tuple[str, ...]


@dataclass(frozen=True)
class AvatarMorphs:
    meshes: tuple[MeshMorphs, ...]
    arkit: tuple[str, ...]  # ARKit names present, in the standard's order
    oculus: tuple[str, ...]  # Oculus viseme names present
    standard: Standard | None  # None: no usable lip-sync morphs
    other: tuple[str, ...] = field(default=())  # named morphs of neither standard

    @property
    def names(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for mesh in self.meshes:
            seen.update(dict.fromkeys(mesh.names))
        return tuple(seen)

    def to_json(self) -> dict[str, Any]:
        """What the admin stores and shows (``Avatar.morph_info``)."""
        return {
            "standard": self.standard,
            "meshes": [
                {"mesh": m.mesh, "target_count": m.target_count, "names": list(m.names)} for m in self.meshes
            ],
            "arkit": list(self.arkit),
            "arkit_missing": [n for n in ARKIT_NAMES if n not in self.arkit],
            "oculus": list(self.oculus),
            "oculus_missing": [n for n in OCULUS_NAMES if n not in self.oculus],
            "other": list(self.other),
        }


def read_json_chunk(data: bytes, *, max_bytes: int = MAX_GLB_BYTES) -> dict[str, Any]:
    """The glTF JSON of a binary glTF (GLB) file; raises ``GlbInvalid`` on any format error."""
    if len(data) > max_bytes:
        raise GlbInvalid(f"Файл больше {max_bytes // (1024 * 1024)} МБ.")
    if len(data) < _HEADER.size:
        raise GlbInvalid("Это не GLB: файл короче заголовка (12 байт).")
    magic, version, length = _HEADER.unpack_from(data, 0)
    if magic != GLB_MAGIC:
        raise GlbInvalid("Это не GLB: нет сигнатуры 'glTF' в начале файла (нужен бинарный .glb, не .gltf).")
    if version != GLB_VERSION:
        raise GlbInvalid(f"Поддерживается glTF версии 2, а в файле версия {version}.")
    if length != len(data):
        raise GlbInvalid(f"Файл повреждён или обрезан: в заголовке длина {length} байт, а в файле {len(data)}.")
    chunks = _chunks(data)
    if not chunks or chunks[0][0] != CHUNK_JSON:
        raise GlbInvalid("Файл повреждён: первым должен идти блок JSON.")
    _, start, end = chunks[0]
    try:
        document = json.loads(data[start:end].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise GlbInvalid("Файл повреждён: блок JSON не читается как JSON в UTF-8.") from None
    if not isinstance(document, dict):
        raise GlbInvalid("Файл повреждён: JSON glTF должен быть объектом.")
    return document


def _chunks(data: bytes) -> list[tuple[int, int, int]]:
    """(type, start, end) of every chunk, after checking each lies inside the file."""
    chunks = []
    offset = _HEADER.size
    while offset < len(data):
        if offset + _CHUNK_HEADER.size > len(data):
            raise GlbInvalid("Файл обрезан: неполный заголовок блока.")
        length, kind = _CHUNK_HEADER.unpack_from(data, offset)
        start = offset + _CHUNK_HEADER.size
        if length % 4 or start + length > len(data):
            raise GlbInvalid(f"Файл повреждён: неверная длина блока ({length} байт) по смещению {offset}.")
        chunks.append((kind, start, start + length))
        offset = start + length
    return chunks


def inspect_glb(data: bytes, *, max_bytes: int = MAX_GLB_BYTES) -> AvatarMorphs:
    """The morph targets of a GLB avatar; raises ``GlbInvalid`` when it has none usable."""
    morphs = morphs_of(read_json_chunk(data, max_bytes=max_bytes))
    if morphs.standard is None:
        raise GlbInvalid(_unusable_message(morphs))
    return morphs


def morphs_of(document: Mapping[str, Any]) -> AvatarMorphs:
    """Collect and classify the morph target names of a parsed glTF document."""
    meshes = document.get("meshes", [])
    found: list[MeshMorphs] = []
    for index, mesh in enumerate(meshes if isinstance(meshes, list) else []):
        if isinstance(mesh, Mapping):
            entry = _mesh_morphs(index, mesh)
            if entry.target_count or entry.names:
                found.append(entry)
    all_names = {name for mesh in found for name in mesh.names}
    arkit = tuple(n for n in ARKIT_NAMES if n in all_names)
    oculus = tuple(n for n in OCULUS_NAMES if n in all_names)
    known = set(ARKIT_NAMES) | set(OCULUS_NAMES)
    other = tuple(sorted(all_names - known))
    has_arkit, has_oculus = ARKIT_REQUIRED in arkit, OCULUS_REQUIRED in oculus
    standard: Standard | None = (
        "both" if has_arkit and has_oculus else "arkit" if has_arkit else "oculus" if has_oculus else None
    )
    return AvatarMorphs(tuple(found), arkit, oculus, standard, other)


def _mesh_morphs(index: int, mesh: Mapping[str, Any]) -> MeshMorphs:
    names: list[str] = []
    names.extend(_target_names(mesh.get("extras")))
    count = 0
    primitives = mesh.get("primitives")
    for primitive in primitives if isinstance(primitives, list) else []:
        if not isinstance(primitive, Mapping):
            continue
        targets = primitive.get("targets")
        if isinstance(targets, list):
            count = max(count, len(targets))
        for name in _target_names(primitive.get("extras")):
            if name not in names:
                names.append(name)
    label = mesh.get("name") if isinstance(mesh.get("name"), str) else f"mesh {index}"
    # Names beyond the actual targets point at nothing (a broken export): drop them.
    return MeshMorphs(str(label), count, tuple(names[:count]))


def _target_names(extras: Any) -> list[str]:
    if not isinstance(extras, Mapping):
        return []
    names = extras.get("targetNames")
    if not isinstance(names, list):
        return []
    return [name for name in names if isinstance(name, str) and name]


def _unusable_message(morphs: AvatarMorphs) -> str:
    if not morphs.meshes:
        return (
            "В модели нет морф-таргетов (blend shapes): аватару нечем говорить. Нужны имена ARKit "
            f"(хотя бы {ARKIT_REQUIRED}) или визем Oculus (хотя бы {OCULUS_REQUIRED})."
        )
    unnamed = sum(m.target_count for m in morphs.meshes) and not morphs.names
    if unnamed:
        return (
            "У морф-таргетов модели нет имён (meshes[].extras.targetNames): их нельзя сопоставить "
            "с формами рта. Экспортируйте модель с именами blend shapes."
        )
    sample = ", ".join(morphs.names[:8]) + (" …" if len(morphs.names) > 8 else "")
    return (
        f"Не найдены морфы для липсинка: нужен {ARKIT_REQUIRED} (ARKit) или {OCULUS_REQUIRED} (Oculus). "
        f"В модели есть: {sample}."
    )
