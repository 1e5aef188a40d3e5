"""Every validation rule, each with a passing baseline and a failing case."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest

from animation import rig
from animation.validation import PresetInvalid, ValidationIssue, ensure_valid, validate_preset

Preset = dict[str, Any]


def _valid(loop: bool = False) -> Preset:
    """A small preset that passes every rule; each case below breaks exactly one."""
    return {
        "name": "test_nod",
        "emotion": None,
        "loop": loop,
        "duration": 1.0,
        "interpolation": "smooth",
        "description": "тест",
        "tracks": [
            {
                "target": "bone",
                "name": "head",
                "property": "rotation",
                "times": [0.0, 0.5, 1.0],
                "values": [0.0, 0.0, 0.0, 0.2, 0.1, -0.1, 0.0, 0.0, 0.0],
            },
            {
                "target": "morph",
                "name": "smile",
                "property": "influence",
                "times": [0.0, 1.0],
                "values": [0.0, 0.0],
            },
        ],
    }


def _codes(issues: list[ValidationIssue]) -> list[tuple[str, str]]:
    return [(issue.path, issue.code) for issue in issues]


def test_baseline_presets_are_valid() -> None:
    assert validate_preset(_valid()) == []
    assert validate_preset(_valid(loop=True)) == []


def test_hips_may_move_within_range() -> None:
    data = _valid()
    data["tracks"].append({
        "target": "bone", "name": "hips", "property": "position",
        "times": [0, 1], "values": [0, 0.05, 0, 0, 0, 0],
    })
    assert validate_preset(data) == []


def _set(path: str, value: Any) -> Callable[[Preset], None]:
    """A mutation that sets a dotted path ("tracks.0.times") to ``value``."""

    def mutate(data: Preset) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(key: str) -> Callable[[Preset], None]:
    return lambda data: data.pop(key)


def _append_track(track: dict[str, Any]) -> Callable[[Preset], None]:
    return lambda data: data["tracks"].append(track)


_HEAD = {"target": "bone", "name": "head", "property": "rotation", "times": [0], "values": [0, 0, 0]}

CASES: list[tuple[str, Callable[[Preset], None], str, str]] = [
    ("missing field", _delete("duration"), "duration", "required"),
    ("typo field", _set("interpolaton", "linear"), "interpolaton", "unknown_field"),
    ("name not a slug", _set("name", "Кивок!"), "name", "name"),
    ("name empty", _set("name", ""), "name", "name"),
    ("unknown emotion", _set("emotion", "angry"), "emotion", "emotion"),
    ("loop not bool", _set("loop", "yes"), "loop", "type"),
    ("unknown interpolation", _set("interpolation", "cubic"), "interpolation", "interpolation"),
    ("description not text", _set("description", 5), "description", "type"),
    ("version zero", _set("version", 0), "version", "type"),
    ("duration zero", _set("duration", 0), "duration", "duration"),
    ("duration negative", _set("duration", -1.0), "duration", "duration"),
    ("duration too long", _set("duration", 10_000.0), "duration", "duration"),
    ("duration NaN", _set("duration", math.nan), "duration", "not_finite"),
    ("duration bool", _set("duration", True), "duration", "not_finite"),
    ("tracks not a list", _set("tracks", {}), "tracks", "type"),
    ("no tracks", _set("tracks", []), "tracks", "tracks_empty"),
    ("track not an object", _set("tracks.1", "smile"), "tracks[1]", "type"),
    ("track field missing", lambda d: d["tracks"][1].pop("times"), "tracks[1].times", "required"),
    ("track field unknown", _set("tracks.1.easing", "in"), "tracks[1].easing", "unknown_field"),
    ("unknown target", _set("tracks.0.target", "light"), "tracks[0].target", "target"),
    ("unknown bone", _set("tracks.0.name", "tail"), "tracks[0].name", "unknown_bone"),
    # The mouth belongs to lip-sync: presets may not open the jaw.
    ("viseme morph", _set("tracks.1.name", "jawOpen"), "tracks[1].name", "unknown_morph"),
    ("bone scale", _set("tracks.0.property", "scale"), "tracks[0].property", "property"),
    ("head cannot move", _set("tracks.0.property", "position"), "tracks[0].property", "property"),
    ("morph rotation", _set("tracks.1.property", "rotation"), "tracks[1].property", "property"),
    ("no keys", _set("tracks.1.times", []), "tracks[1].times", "times_empty"),
    ("times not a list", _set("tracks.1.times", 0), "tracks[1].times", "times_empty"),
    ("negative time", _set("tracks.0.times", [-0.1, 0.5, 1.0]), "tracks[0].times[0]", "time_negative"),
    ("repeated time", _set("tracks.0.times", [0, 0.5, 0.5]), "tracks[0].times[2]", "times_not_increasing"),
    ("decreasing time", _set("tracks.0.times", [0, 0.6, 0.5]), "tracks[0].times[2]", "times_not_increasing"),
    ("key after end", _set("tracks.1.times", [0, 1.5]), "tracks[1].times[1]", "time_after_duration"),
    ("time NaN", _set("tracks.1.times", [0, math.nan]), "tracks[1].times[1]", "not_finite"),
    ("too few values", _set("tracks.0.values", [0.0] * 8), "tracks[0].values", "values_count"),
    ("too many values", _set("tracks.1.values", [0.0] * 3), "tracks[1].values", "values_count"),
    ("value infinite", _set("tracks.0.values.4", math.inf), "tracks[0].values[4]", "not_finite"),
    ("value bool", _set("tracks.1.values.0", False), "tracks[1].values[0]", "not_finite"),
    ("value huge int", _set("tracks.1.values.0", 10**400), "tracks[1].values[0]", "not_finite"),
    ("value text", _set("tracks.1.values.0", "0.5"), "tracks[1].values[0]", "not_finite"),
    ("head pitch past range", _set("tracks.0.values.3", 0.9), "tracks[0].values[3]", "out_of_range"),
    ("head roll past range", _set("tracks.0.values.5", -0.7), "tracks[0].values[5]", "out_of_range"),
    ("morph above 1", _set("tracks.1.values.1", 1.2), "tracks[1].values[1]", "out_of_range"),
    ("morph below 0", _set("tracks.1.values.0", -0.1), "tracks[1].values[0]", "out_of_range"),
    ("duplicate track", _append_track(_HEAD), "tracks[2]", "duplicate_track"),
]


@pytest.mark.parametrize(("case", "mutate", "path", "code"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_reports_its_failure(
    case: str, mutate: Callable[[Preset], None], path: str, code: str
) -> None:
    data = _valid()
    mutate(data)
    issues = validate_preset(data)
    assert (path, code) in _codes(issues), issues
    assert all(issue.message for issue in issues)


LOOP_CASES: list[tuple[str, Callable[[Preset], None], str, str]] = [
    ("loop starts late", _set("tracks.1.times", [0.1, 1.0]), "tracks[1].times[0]", "loop_start"),
    ("loop ends early", _set("tracks.1.times", [0, 0.9]), "tracks[1].times[1]", "loop_end"),
    ("loop seam pops", _set("tracks.1.values", [0.0, 0.3]), "tracks[1].values", "loop_seam"),
    ("single-key loop", _set("tracks.1.times", [0]), "tracks[1].times[0]", "loop_end"),
]


@pytest.mark.parametrize(("case", "mutate", "path", "code"), LOOP_CASES, ids=[c[0] for c in LOOP_CASES])
def test_loop_rules(case: str, mutate: Callable[[Preset], None], path: str, code: str) -> None:
    data = _valid(loop=True)
    if case == "single-key loop":
        data["tracks"][1]["values"] = [0.0]
    mutate(data)
    assert (path, code) in _codes(validate_preset(data))


def test_one_shot_tracks_may_end_before_the_duration() -> None:
    data = _valid()
    data["tracks"][1]["times"] = [0.2, 0.6]
    assert validate_preset(data) == []


def test_not_an_object() -> None:
    assert _codes(validate_preset(["nod"])) == [("", "type")]


def test_all_problems_are_reported_at_once() -> None:
    data = _valid()
    data["emotion"] = "angry"
    data["tracks"][0]["values"][3] = 2.0
    data["tracks"][1]["name"] = "jawOpen"
    codes = {code for _path, code in _codes(validate_preset(data))}
    assert codes == {"emotion", "out_of_range", "unknown_morph"}


def test_out_of_range_message_names_the_axis_and_bounds() -> None:
    data = _valid()
    data["tracks"][0]["values"][3] = 0.9  # head pitch, key 1
    (issue,) = validate_preset(data)
    assert "on x" in issue.message and "[-0.6, 0.6]" in issue.message
    assert str(issue).startswith("tracks[0].values[3]: ")


def test_ensure_valid_raises_with_every_issue() -> None:
    data = _valid()
    data["duration"] = -1
    data["tracks"][0]["name"] = "tail"
    with pytest.raises(PresetInvalid) as caught:
        ensure_valid(data)
    assert {issue.code for issue in caught.value.issues} == {"duration", "unknown_bone"}
    assert "tail" in str(caught.value)


def test_ensure_valid_accepts_a_valid_preset_unchanged() -> None:
    data = _valid()
    before = copy.deepcopy(data)
    ensure_valid(data)
    assert data == before


def test_rig_ranges_are_well_formed() -> None:
    for bone in rig.BONES.values():
        for low, high in bone.rotation + (bone.position or ()):
            assert low <= 0.0 <= high, bone.name  # the rest pose is always allowed
        assert bone.parent is None or bone.parent in rig.BONES


def test_left_and_right_arms_mirror_each_other() -> None:
    for part in ("shoulder", "upperArm", "lowerArm", "hand"):
        (lx, ly, lz), (rx, ry, rz) = rig.BONES[f"{part}_L"].rotation, rig.BONES[f"{part}_R"].rotation
        assert rx == lx and ry == (-ly[1], -ly[0]) and rz == (-lz[1], -lz[0])


def test_only_the_hips_may_move() -> None:
    movable = [bone.name for bone in rig.BONES.values() if bone.position is not None]
    assert movable == ["hips"]


def test_expression_morphs_leave_the_mouth_to_lip_sync() -> None:
    assert "jawOpen" not in rig.MORPHS
    assert not any(name.lower().startswith(("viseme", "mouth")) for name in rig.MORPHS)
    assert rig.value_ranges("morph", "smile", "influence") == (rig.MORPH_RANGE,)
