"""The preset store (versions, defaults from the data migration, selectors) and what
the default presets look like on the rig (forward kinematics, no browser needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from animation import rig
from animation.models import EMOTION_CHOICES, AnimationPreset
from animation.motion import EMOTION_PRESETS, MotionPlan, PresetMotionGenerator
from animation.selectors import latest_preset, list_presets, preset_for_emotion, preset_versions
from animation.services import create_preset_version, load_default_presets
from animation.validation import PresetInvalid, validate_preset
from synthesis.interfaces import EMOTIONS

PRESETS_DIR = Path(__file__).resolve().parents[2] / "animation" / "presets"
DEFAULT_NAMES = {
    "idle", "happy_gesture", "sad_gesture", "thinking_gesture", "nod", "shake_head", "wave", "shrug",
}


def _file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PRESETS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


# --- the bundled files ---------------------------------------------------------------


def test_bundled_files_are_the_expected_presets() -> None:
    assert {p.stem for p in PRESETS_DIR.glob("*.json")} == DEFAULT_NAMES
    for name in DEFAULT_NAMES:
        assert _file(name)["name"] == name


@pytest.mark.parametrize("name", sorted(DEFAULT_NAMES))
def test_bundled_file_validates(name: str) -> None:
    assert validate_preset(_file(name)) == []


@pytest.mark.parametrize("name", sorted(DEFAULT_NAMES - {"idle"}))
def test_gestures_start_and_end_at_rest(name: str) -> None:
    # Gestures are layered additively over idle: starting and ending at rest is what
    # lets them blend in and out without a jump.
    data = _file(name)
    assert data["loop"] is False
    for track in data["tracks"]:
        arity = rig.PROPERTY_ARITY[track["property"]]
        assert track["times"][0] == 0.0 and track["times"][-1] == data["duration"], track["name"]
        assert track["values"][:arity] == [0.0] * arity, track["name"]
        assert track["values"][-arity:] == [0.0] * arity, track["name"]


def test_presets_are_tagged_with_their_emotion() -> None:
    assert _file("idle")["loop"] is True and _file("idle")["emotion"] == "neutral"
    for emotion, name in EMOTION_PRESETS.items():
        assert _file(name)["emotion"] == emotion
    for action in ("nod", "shake_head", "wave", "shrug"):
        assert _file(action)["emotion"] is None


def test_idle_blinks_and_breathes() -> None:
    tracks = {(t["name"], t["property"]): t for t in _file("idle")["tracks"]}
    assert max(tracks["blink", "influence"]["values"]) == 1.0
    assert 3 <= _file("idle")["duration"] / 2 <= 4  # two blinks per loop: ~every 3 s
    assert min(tracks["chest", "rotation"]["values"][0::3]) < 0  # the chest lifts on inhale


# --- what they look like -------------------------------------------------------------


def _plan(emotion: str | None, action: str | None, duration: float) -> MotionPlan:
    files = {name: _file(name) for name in DEFAULT_NAMES}
    return PresetMotionGenerator(files.get).plan(emotion, action, duration)


def _pose(plan: MotionPlan, t: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World transforms of the rig at ``t`` as the browser would show it."""
    rotations: dict[str, list[float]] = {}
    positions: dict[str, list[float]] = {}
    for track in plan.tracks:
        if track["target"] != "bone":
            continue
        times = np.asarray(track["times"])
        values = np.asarray(track["values"]).reshape(len(times), 3)
        value = [float(np.interp(t, times, values[:, axis])) for axis in range(3)]
        (rotations if track["property"] == "rotation" else positions)[track["name"]] = value
    return rig.joint_transforms(rotations, positions)


def _origin(pose: dict[str, tuple[np.ndarray, np.ndarray]], bone: str) -> np.ndarray:
    return pose[bone][1]


def test_wave_lifts_the_right_hand_above_the_shoulder() -> None:
    plan = _plan("happy", "wave", 3.0)
    for t in np.linspace(0.8, 1.9, 12):
        pose = _pose(plan, t)
        wrist, shoulder = _origin(pose, "hand_R"), _origin(pose, "upperArm_R")
        assert wrist[1] > shoulder[1] + 0.1, t
        assert wrist[0] < shoulder[0]  # out to the avatar's right side, not across the face
    assert _origin(_pose(plan, 1.0), "hand_L")[1] < 1.3  # the left hand stays low


def test_wave_swings_the_hand_side_to_side() -> None:
    plan = _plan(None, "wave", 2.6)
    xs = [_origin(_pose(plan, t), "hand_R")[0] for t in np.linspace(0.7, 1.8, 23)]
    assert max(xs) - min(xs) > 0.08


def test_thinking_brings_the_hand_to_the_chin() -> None:
    plan = _plan("thinking", None, 3.4)
    pose = _pose(plan, 1.7)
    head_rot, head_origin = pose["head"]
    chin = head_origin + head_rot @ np.array([0.0, 0.02, 0.09])
    hand_rot, wrist = pose["hand_R"]
    fingertips = wrist + hand_rot @ np.array([0.0, -0.16, 0.0])  # a ~16 cm hand
    assert np.linalg.norm(fingertips - chin) < 0.06
    gaze = pose["eye_L"][0] @ np.array([0.0, 0.0, 1.0])
    assert gaze[1] > 0.15  # eyes look up


def test_sadness_bows_the_head_and_drops_the_shoulders() -> None:
    sad, idle = _pose(_plan("sad", None, 3.2), 1.6), _pose(_plan(None, None, 3.2), 1.6)
    face = sad["head"][0] @ np.array([0.0, 0.0, 1.0])
    assert face[1] < -0.3  # facing the floor noticeably
    for side in ("L", "R"):
        assert _origin(sad, f"upperArm_{side}")[1] < _origin(idle, f"upperArm_{side}")[1] - 0.005


def test_shrug_raises_both_shoulders_and_opens_the_hands() -> None:
    shrug, idle = _pose(_plan(None, "shrug", 1.8), 0.5), _pose(_plan(None, None, 1.8), 0.5)
    for side in ("L", "R"):
        assert _origin(shrug, f"upperArm_{side}")[1] > _origin(idle, f"upperArm_{side}")[1] + 0.03
        assert _origin(shrug, f"hand_{side}")[2] > 0.15  # forearms come forward


def test_happy_opens_the_arms_forward_and_out() -> None:
    pose = _pose(_plan("happy", None, 2.8), 1.0)
    assert _origin(pose, "hand_L")[0] > 0.3 and _origin(pose, "hand_R")[0] < -0.3
    assert _origin(pose, "hand_L")[2] > 0.15 and _origin(pose, "hand_R")[2] > 0.15


def test_idle_keeps_the_hands_relaxed_beside_the_body() -> None:
    plan = _plan(None, None, 6.0)
    for t in np.linspace(0.0, 6.0, 25):
        pose = _pose(plan, t)
        for side, sign in (("L", 1), ("R", -1)):
            wrist = _origin(pose, f"hand_{side}")
            assert sign * wrist[0] > 0.17 and wrist[1] < 1.0  # beside the hips, hanging


# --- the store -----------------------------------------------------------------------


@pytest.mark.django_db
def test_data_migration_loaded_every_default() -> None:
    assert {p.name for p in list_presets()} == DEFAULT_NAMES
    for name in DEFAULT_NAMES:
        preset = latest_preset(name)
        assert preset is not None
        stored = preset.to_data()
        assert validate_preset(stored) == []
        file = _file(name)
        assert stored["tracks"] == file["tracks"] and stored["duration"] == file["duration"]


@pytest.mark.django_db
def test_every_stored_version_validates() -> None:
    assert AnimationPreset.objects.exists()
    for preset in AnimationPreset.objects.all():
        assert validate_preset(preset.to_data()) == [], preset


@pytest.mark.django_db
def test_loading_the_defaults_again_changes_nothing() -> None:
    before = AnimationPreset.objects.count()
    assert load_default_presets() == []
    assert AnimationPreset.objects.count() == before


@pytest.mark.django_db
def test_a_new_version_keeps_the_old_one() -> None:
    old = latest_preset("nod")
    assert old is not None
    data = old.to_data()
    data["tracks"][0]["values"][3] = 0.1  # a gentler nod
    new = create_preset_version(data)
    assert new.version == old.version + 1
    assert latest_preset("nod") == new
    old.refresh_from_db()  # untouched
    assert old.tracks[0]["values"][3] == 0.06
    assert [p.version for p in preset_versions("nod")] == [new.version, old.version]
    assert list(list_presets().filter(name="nod")) == [new]


@pytest.mark.django_db
def test_version_numbers_are_assigned_by_the_store() -> None:
    data = _file("nod") | {"name": "nod_soft", "version": 41}
    assert create_preset_version(data).version == 1
    assert create_preset_version(data).version == 2


@pytest.mark.django_db
def test_invalid_data_creates_nothing() -> None:
    data = _file("wave")
    data["tracks"][0]["name"] = "tail"
    before = AnimationPreset.objects.count()
    with pytest.raises(PresetInvalid) as caught:
        create_preset_version(data)
    assert [issue.code for issue in caught.value.issues] == ["unknown_bone"]
    assert AnimationPreset.objects.count() == before


@pytest.mark.django_db
def test_defaults_restore_an_edited_preset_as_a_new_version() -> None:
    edited = _file("shrug") | {"duration": 2.0}
    changed = create_preset_version(edited)
    (restored,) = load_default_presets()
    assert restored.name == "shrug" and restored.version == changed.version + 1
    assert restored.duration == _file("shrug")["duration"]


@pytest.mark.django_db
def test_a_broken_default_file_stores_nothing(tmp_path: Path) -> None:
    (tmp_path / "a_fine.json").write_text(json.dumps(_file("nod") | {"name": "a_fine"}))
    (tmp_path / "b_broken.json").write_text(json.dumps(_file("nod") | {"name": "b_broken", "loop": "no"}))
    before = AnimationPreset.objects.count()
    with pytest.raises(PresetInvalid) as caught:
        load_default_presets(tmp_path)
    assert caught.value.issues[0].path.startswith("b_broken.json:")
    assert AnimationPreset.objects.count() == before


@pytest.mark.django_db
def test_name_and_version_are_unique() -> None:
    fields = _file("nod")
    fields.pop("name")
    with pytest.raises(IntegrityError), transaction.atomic():
        AnimationPreset.objects.create(name="nod", version=1, **fields)


@pytest.mark.django_db
@pytest.mark.parametrize(("emotion", "name"), [*EMOTION_PRESETS.items(), (None, "idle")])
def test_preset_for_emotion(emotion: str | None, name: str) -> None:
    preset = preset_for_emotion(emotion)
    assert preset is not None and preset.name == name


@pytest.mark.django_db
def test_preset_for_emotion_falls_back_to_a_tagged_preset_then_idle() -> None:
    AnimationPreset.objects.filter(name="happy_gesture").delete()
    joy = create_preset_version(_file("happy_gesture") | {"name": "joy"})
    assert preset_for_emotion("happy") == joy
    AnimationPreset.objects.filter(name="joy").delete()
    fallback = preset_for_emotion("happy")
    assert fallback is not None and fallback.name == "idle"
    AnimationPreset.objects.filter(name="idle").delete()
    assert preset_for_emotion("neutral") is None


def test_emotion_choices_follow_the_pipeline() -> None:
    assert [value for value, _label in EMOTION_CHOICES] == list(EMOTIONS)
