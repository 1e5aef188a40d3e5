"""The GLB reader on files written here with struct: header, JSON chunk, BIN chunk."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

import pytest

from animation import glb


def make_glb(
    morph_names: Sequence[str] = (),
    *,
    targets: int | None = None,
    names_on_primitive: bool = False,
    document: dict[str, Any] | None = None,
    version: int = 2,
    bin_chunk: bytes = b"\0" * 16,
) -> bytes:
    """A minimal binary glTF: one mesh whose primitive has ``targets`` morph targets."""
    count = len(morph_names) if targets is None else targets
    primitive: dict[str, Any] = {"attributes": {"POSITION": 0}}
    if count:
        primitive["targets"] = [{"POSITION": 0} for _ in range(count)]
    mesh: dict[str, Any] = {"name": "Head", "primitives": [primitive]}
    if morph_names:
        extras = {"targetNames": list(morph_names)}
        if names_on_primitive:
            primitive["extras"] = extras
        else:
            mesh["extras"] = extras
    doc = document if document is not None else {
        "asset": {"version": "2.0"},
        "meshes": [mesh],
        "buffers": [{"byteLength": len(bin_chunk)}],
    }
    json_bytes = json.dumps(doc).encode()
    json_bytes += b" " * (-len(json_bytes) % 4)  # the spec pads JSON with spaces
    bin_bytes = bin_chunk + b"\0" * (-len(bin_chunk) % 4)
    body = struct.pack("<II", len(json_bytes), glb.CHUNK_JSON) + json_bytes
    if bin_bytes:
        body += struct.pack("<II", len(bin_bytes), glb.CHUNK_BIN) + bin_bytes
    return struct.pack("<4sII", b"glTF", version, 12 + len(body)) + body


OCULUS = list(glb.OCULUS_NAMES)
ARKIT = list(glb.ARKIT_NAMES)


def test_oculus_visemes_are_detected() -> None:
    morphs = glb.inspect_glb(make_glb([*OCULUS, "eyesClosed"]))
    assert morphs.standard == "oculus"
    assert morphs.oculus == glb.OCULUS_NAMES
    assert morphs.arkit == ()
    assert morphs.other == ("eyesClosed",)
    info = morphs.to_json()
    assert info["oculus_missing"] == [] and len(info["arkit_missing"]) == 52
    assert info["meshes"] == [{"mesh": "Head", "target_count": 16, "names": [*OCULUS, "eyesClosed"]}]


def test_arkit_blendshapes_are_detected() -> None:
    morphs = glb.inspect_glb(make_glb(ARKIT))
    assert len(glb.ARKIT_NAMES) == 52
    assert morphs.standard == "arkit"
    assert morphs.arkit == glb.ARKIT_NAMES


def test_both_standards_and_names_on_the_primitive() -> None:
    morphs = glb.inspect_glb(make_glb(["jawOpen", "mouthFunnel", "viseme_aa", "viseme_PP"], names_on_primitive=True))
    assert morphs.standard == "both"
    assert morphs.arkit == ("jawOpen", "mouthFunnel")  # in the standard's order
    assert set(morphs.oculus) == {"viseme_aa", "viseme_PP"}


def test_a_glb_without_a_bin_chunk_is_fine() -> None:
    assert glb.inspect_glb(make_glb(OCULUS, bin_chunk=b"")).standard == "oculus"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (make_glb([]), "нет морф-таргетов"),
        (make_glb([], targets=5), "нет имён"),
        (make_glb(["smile", "blink"]), "Не найдены морфы для липсинка"),
        # An open mouth is what speech needs; closing-only shapes do not count.
        (make_glb(["viseme_PP", "mouthClose"]), "jawOpen"),
        (b"PK\x03\x04 this is a zip file, not a model" * 4, "нет сигнатуры 'glTF'"),
        (b"glTF", "короче заголовка"),
        (make_glb(OCULUS, version=1), "версии 2"),
        (make_glb(OCULUS)[:-8], "обрезан"),
        (make_glb(OCULUS) + b"\0\0\0\0", "обрезан"),
    ],
    ids=["no-morphs", "unnamed-morphs", "no-lipsync-morphs", "no-open-mouth", "garbage", "tiny",
         "version-1", "truncated", "trailing-bytes"],
)
def test_unusable_files_are_rejected_with_a_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(glb.GlbInvalid) as caught:
        glb.inspect_glb(data)
    assert fragment in caught.value.message


def _with_header_length_fixed(data: bytes) -> bytes:
    return data[:8] + struct.pack("<I", len(data)) + data[12:]


def test_bad_chunk_lengths_are_rejected() -> None:
    good = make_glb(OCULUS)
    json_length = struct.unpack_from("<I", good, 12)[0]
    too_long = good[:12] + struct.pack("<I", json_length + 4000) + good[16:]
    with pytest.raises(glb.GlbInvalid, match="длина блока"):
        glb.inspect_glb(too_long)
    unaligned = good[:12] + struct.pack("<I", json_length - 1) + good[16:]
    with pytest.raises(glb.GlbInvalid, match="длина блока"):
        glb.inspect_glb(unaligned)
    # A first chunk that is not JSON.
    bin_first = _with_header_length_fixed(
        good[:12] + struct.pack("<II", 4, glb.CHUNK_BIN) + b"\0\0\0\0" + good[12:]
    )
    with pytest.raises(glb.GlbInvalid, match="блок JSON"):
        glb.inspect_glb(bin_first)


def test_a_json_chunk_that_is_not_json_is_rejected() -> None:
    payload = b"{not json}  "
    data = struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(payload)) + struct.pack("<II", len(payload), glb.CHUNK_JSON)
    with pytest.raises(glb.GlbInvalid, match="не читается как JSON"):
        glb.inspect_glb(data + payload)


def test_size_limit() -> None:
    data = make_glb(OCULUS, bin_chunk=b"\0" * 4096)
    with pytest.raises(glb.GlbInvalid, match="больше"):
        glb.inspect_glb(data, max_bytes=1024)
    assert glb.inspect_glb(data, max_bytes=len(data)).standard == "oculus"


def test_names_beyond_the_targets_are_ignored() -> None:
    morphs = glb.inspect_glb(make_glb(["viseme_aa", "viseme_PP", "jawOpen"], targets=2))
    assert morphs.names == ("viseme_aa", "viseme_PP")
    assert morphs.standard == "oculus"
