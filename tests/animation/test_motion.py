"""The motion stage: blending, fitting and fallbacks, on the bundled presets (no DB),
plus one run through the default database loader."""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from animation import rig
from animation.motion import (
    ACTION_SCALE_BOUNDS,
    EMOTION_SCALE_BOUNDS,
    OVERLAP_WEIGHT,
    SUSTAIN_LEVEL,
    MotionPlan,
    PresetMotionGenerator,
)
from animation.validation import validate_preset
from synthesis.interfaces import EMOTIONS, Availability

PRESETS_DIR = Path(__file__).resolve().parents[2] / "animation" / "presets"
Preset = dict[str, Any]


def _bundled() -> dict[str, Preset]:
    presets = (json.loads(p.read_text(encoding="utf-8")) for p in sorted(PRESETS_DIR.glob("*.json")))
    return {data["name"]: data for data in presets}


BUNDLED = _bundled()


def _generator(presets: Mapping[str, Preset] | None = None, **kwargs: Any) -> PresetMotionGenerator:
    store = dict(BUNDLED if presets is None else presets)
    return PresetMotionGenerator(store.get, **kwargs)


def _track(plan: MotionPlan, target: str, name: str, prop: str) -> tuple[np.ndarray, np.ndarray]:
    """(times, values as keys x arity) of one track of the plan."""
    (track,) = [t for t in plan.tracks if (t["target"], t["name"], t["property"]) == (target, name, prop)]
    times = np.asarray(track["times"])
    return times, np.asarray(track["values"]).reshape(len(times), -1)


def _at(plan: MotionPlan, target: str, name: str, prop: str, t: float) -> np.ndarray:
    """The value the browser would show at ``t`` (linear between keys)."""
    times, values = _track(plan, target, name, prop)
    return np.array([np.interp(t, times, values[:, axis]) for axis in range(values.shape[1])])


def _assert_playable(plan: MotionPlan, duration: float) -> None:
    assert abs(plan.duration - duration) < 1e-3
    assert validate_preset(plan.as_preset()) == []  # ranges, arity, known names, order
    for track in plan.tracks:
        times = track["times"]
        assert times[0] == 0.0
        assert abs(times[-1] - duration) < 1e-3
        assert all(b > a for a, b in itertools.pairwise(times))
    json.dumps(plan.to_dict())  # JSON-ready as it stands


@pytest.mark.parametrize("duration", [0.25, 1.0, 2.7, 9.5])
@pytest.mark.parametrize("action", [None, "nod", "shake_head", "wave", "shrug"])
@pytest.mark.parametrize("emotion", [None, *EMOTIONS])
def test_every_combination_is_playable(emotion: str | None, action: str | None, duration: float) -> None:
    plan = _generator().plan(emotion, action, duration)
    _assert_playable(plan, duration)
    assert plan.ignored_action is None and plan.notes == ()
    assert plan.action == action


@pytest.mark.parametrize(
    ("emotion", "preset"),
    [("happy", "happy_gesture"), ("sad", "sad_gesture"), ("thinking", "thinking_gesture"),
     ("neutral", "idle"), (None, "idle")],
)
def test_emotion_picks_the_base_preset(emotion: str | None, preset: str) -> None:
    plan = _generator().plan(emotion, None, 2.0)
    assert plan.preset == preset
    roles = [layer.role for layer in plan.layers]
    assert roles == (["idle"] if preset == "idle" else ["idle", "emotion"])
    assert plan.layers[-1].preset == preset


def test_idle_alone_plays_the_idle_keys() -> None:
    plan = _generator().plan(None, None, 6.0)
    # 1.5 s is a key of idle's head track and a grid point at 30 fps: the spline passes
    # through its keys, so the clip shows exactly the authored pose there.
    assert _at(plan, "bone", "head", "rotation", 1.5) == pytest.approx([0.02, 0.05, -0.015], abs=1e-4)
    assert _at(plan, "morph", "blink", "influence", 1.68) == pytest.approx([1.0], abs=1e-4)


def test_duration_is_exact_and_grid_respects_fps() -> None:
    plan = _generator(fps=20).plan("happy", "nod", 3.14159)
    assert plan.duration == 3.14159
    (times, _values) = _track(plan, "bone", "head", "rotation")  # animated throughout
    assert times[-1] == 3.14159
    assert np.diff(times).max() <= 1 / 20 + 1e-4
    assert np.diff(times).min() >= 0.0019  # preset keys join the grid, never crowding it


def test_constant_stretches_are_compressed_losslessly() -> None:
    plan = _generator().plan(None, None, 6.0)
    times, values = _track(plan, "bone", "hand_L", "rotation")  # idle holds the hand still
    assert len(times) == 2
    assert values.tolist() == [[0.1, 0.0, 0.0], [0.1, 0.0, 0.0]]


@pytest.mark.parametrize(("emotion", "action"), [("happy", "wave"), ("sad", "nod"), ("thinking", "shrug")])
def test_plans_start_and_end_on_the_idle_pose(emotion: str, action: str) -> None:
    generator = _generator()
    plan, idle = generator.plan(emotion, action, 4.0), generator.plan(None, None, 4.0)
    for track in idle.tracks:
        if track["target"] != "bone":
            continue
        key = ("bone", track["name"], track["property"])
        for t in (0.0, 4.0):
            assert _at(plan, *key, t) == pytest.approx(_at(idle, *key, t), abs=2e-4), (key, t)


def test_idle_phase_chains_across_sentences() -> None:
    generator = _generator()
    first = generator.plan(None, None, 2.3)
    second = generator.plan(None, None, 1.7, idle_phase=first.idle_phase_end)
    assert first.idle_phase_end == pytest.approx(2.3)
    assert second.idle_phase_end == pytest.approx(4.0)
    for track in first.tracks:
        key = (track["target"], track["name"], track["property"])
        assert _at(first, *key, 2.3) == pytest.approx(_at(second, *key, 0.0), abs=2e-4), key


def test_action_is_visible_and_then_returns_to_idle() -> None:
    generator = _generator()
    nod, idle = generator.plan(None, "nod", 5.0), generator.plan(None, None, 5.0)
    pitch = _track(nod, "bone", "head", "rotation")[1][:, 0]
    assert pitch.max() > _track(idle, "bone", "head", "rotation")[1][:, 0].max() + 0.1
    (layer,) = [layer for layer in nod.layers if layer.role == "action"]
    assert (layer.preset, layer.start, layer.end, layer.scale) == ("nod", 0.0, 1.2, 1.0)
    for t in (1.3, 2.0, 4.5):  # after the nod: idle again
        assert _at(nod, "bone", "head", "rotation", t) == pytest.approx(
            _at(idle, "bone", "head", "rotation", t), abs=2e-4
        )


def test_one_shots_are_fitted_within_bounds() -> None:
    generator = _generator()
    short = {layer.role: layer for layer in generator.plan("sad", "wave", 1.0).layers}
    assert short["emotion"].scale == EMOTION_SCALE_BOUNDS[0]  # 3.2 s squeezed as far as allowed
    assert short["emotion"].end == 1.0  # ...and still cut at the sentence end
    assert short["action"].scale == ACTION_SCALE_BOUNDS[0]
    fit = {layer.role: layer for layer in generator.plan("sad", "wave", 3.0).layers}
    assert fit["emotion"].scale == pytest.approx(3.0 / 3.2) and fit["emotion"].end == pytest.approx(3.0)
    long = {layer.role: layer for layer in generator.plan("thinking", "wave", 12.0).layers}
    assert long["emotion"].scale == EMOTION_SCALE_BOUNDS[1]
    assert long["emotion"].end == pytest.approx(3.4 * EMOTION_SCALE_BOUNDS[1])
    assert long["action"].scale == 1.0  # gestures never play in slow motion


def test_emotion_face_is_held_through_a_long_sentence() -> None:
    plan = _generator().plan("happy", None, 8.0)
    gesture_end = plan.layers[-1].end
    assert gesture_end < 5.0
    peak = max(BUNDLED["happy_gesture"]["tracks"][-5]["values"])  # the smile track
    assert BUNDLED["happy_gesture"]["tracks"][-5]["name"] == "smile"
    assert _at(plan, "morph", "smile", "influence", 6.0) == pytest.approx([SUSTAIN_LEVEL * peak], abs=1e-3)
    assert _at(plan, "morph", "smile", "influence", 8.0) == pytest.approx([0.0])
    assert _at(plan, "morph", "smile", "influence", 0.0) == pytest.approx([0.0])


def test_unknown_action_is_ignored_and_reported() -> None:
    plan = _generator().plan("happy", "dance", 2.0)
    assert plan.ignored_action == "dance" and plan.action is None
    assert [layer.role for layer in plan.layers] == ["idle", "emotion"]
    assert any("dance" in note for note in plan.notes)
    _assert_playable(plan, 2.0)


@pytest.mark.parametrize("action", ["../../etc/passwd", "idle", "sad_gesture; DROP", ""])
def test_junk_actions_never_reach_the_loader(action: str) -> None:
    asked: list[str] = []

    def loader(name: str) -> Preset | None:
        asked.append(name)
        return BUNDLED.get(name)

    plan = PresetMotionGenerator(loader).plan("sad", action, 2.0)
    assert asked == ["idle", "sad_gesture"]
    assert plan.action is None
    assert plan.ignored_action == (action or None)


def test_action_names_are_normalized() -> None:
    assert _generator().plan(None, "  Nod ", 2.0).action == "nod"


def test_looping_presets_are_not_actions() -> None:
    sway = copy.deepcopy(BUNDLED["idle"]) | {"name": "sway"}
    plan = _generator(BUNDLED | {"sway": sway}).plan(None, "sway", 2.0)
    assert plan.ignored_action == "sway"
    assert [layer.role for layer in plan.layers] == ["idle"]


def test_the_emotion_gesture_is_not_doubled_as_an_action() -> None:
    plan = _generator().plan("happy", "happy_gesture", 2.0)
    assert plan.ignored_action == "happy_gesture"
    assert [layer.role for layer in plan.layers] == ["idle", "emotion"]


def test_missing_emotion_preset_falls_back_to_idle() -> None:
    presets = {k: v for k, v in BUNDLED.items() if k != "happy_gesture"}
    plan = _generator(presets).plan("happy", "nod", 2.0)
    assert plan.preset == "idle" and plan.emotion == "happy"
    assert [layer.role for layer in plan.layers] == ["idle", "action"]
    assert any("happy_gesture" in note for note in plan.notes)
    _assert_playable(plan, 2.0)


def test_invalid_stored_preset_is_treated_as_missing() -> None:
    broken = copy.deepcopy(BUNDLED["sad_gesture"])
    broken["tracks"][0]["values"][3] = 3.0  # spine pitch far outside the rig
    plan = _generator(BUNDLED | {"sad_gesture": broken}).plan("sad", None, 2.0)
    assert plan.preset == "idle"
    assert any("invalid" in note for note in plan.notes)


def test_unknown_emotion_is_neutral() -> None:
    plan = _generator().plan("angry", None, 2.0)
    assert plan.preset == "idle" and plan.emotion is None
    assert any("angry" in note for note in plan.notes)


def test_without_idle_gestures_play_over_the_rest_pose() -> None:
    plan = _generator({"nod": BUNDLED["nod"]}).plan(None, "nod", 2.0)
    assert plan.preset == "rest" and plan.version is None
    assert [layer.role for layer in plan.layers] == ["action"]
    assert plan.idle_phase_end == 0.0
    _assert_playable(plan, 2.0)


def test_an_empty_store_still_yields_a_playable_rest_pose() -> None:
    plan = _generator({}).plan("happy", "wave", 1.5)
    assert plan.preset == "rest" and plan.layers == () and plan.ignored_action == "wave"
    assert [(t["name"], t["values"]) for t in plan.tracks] == [("hips", [0.0] * 6)]
    _assert_playable(plan, 1.5)


@pytest.mark.parametrize("duration", [0.0, -1.0, math.nan, math.inf])
def test_impossible_durations_are_rejected(duration: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        _generator().plan(None, None, duration)


def test_idle_phase_must_be_finite() -> None:
    with pytest.raises(ValueError, match="idle_phase"):
        _generator().plan(None, None, 1.0, idle_phase=math.nan)
    assert _generator().plan(None, None, 1.0, idle_phase=-1.0).idle_phase_end == pytest.approx(0.0)


def test_fps_must_be_sane() -> None:
    with pytest.raises(ValueError, match="fps"):
        PresetMotionGenerator(BUNDLED.get, fps=0)


# --- blending rules on tiny hand-made presets -----------------------------------------


def _preset(name: str, tracks: list[dict[str, Any]], *, loop: bool = False, duration: float = 2.0,
            interpolation: str = "smooth") -> Preset:
    data = {"name": name, "emotion": None, "loop": loop, "duration": duration,
            "interpolation": interpolation, "tracks": tracks}
    assert validate_preset(data) == [], validate_preset(data)
    return data


def _hold(target: str, name: str, prop: str, value: list[float], duration: float = 2.0) -> dict[str, Any]:
    """A track that rises from rest, holds ``value`` through the middle, returns to rest."""
    rest = [0.0] * len(value)
    return {"target": target, "name": name, "property": prop,
            "times": [0.0, 0.5, duration - 0.5, duration], "values": rest + value + value + rest}


def _constant(target: str, name: str, prop: str, value: list[float], duration: float = 2.0) -> dict[str, Any]:
    return {"target": target, "name": name, "property": prop, "times": [0.0, duration], "values": value * 2}


def test_bone_rotations_add_over_idle_and_are_clamped() -> None:
    idle = _preset("idle", [_constant("bone", "head", "rotation", [0.5, 0.1, 0.0])], loop=True)
    nod = _preset("nod", [_hold("bone", "head", "rotation", [0.5, 0.2, 0.0])])
    plan = _generator({"idle": idle, "nod": nod}).plan(None, "nod", 2.0)
    values = _track(plan, "bone", "head", "rotation")[1]
    assert values[:, 0].max() == rig.BONES["head"].rotation[0][1]  # 1.0 clamped to 0.6
    assert _at(plan, "bone", "head", "rotation", 1.0)[1] == pytest.approx(0.3, abs=1e-4)  # 0.1 + 0.2


def test_morphs_take_the_strongest_layer() -> None:
    idle = _preset("idle", [_constant("morph", "smile", "influence", [0.3])], loop=True)
    wave = _preset("wave", [_hold("morph", "smile", "influence", [0.6])])
    plan = _generator({"idle": idle, "wave": wave}).plan(None, "wave", 2.0)
    assert _at(plan, "morph", "smile", "influence", 1.0) == pytest.approx([0.6], abs=1e-4)  # not 0.9
    assert _at(plan, "morph", "smile", "influence", 0.0) == pytest.approx([0.3], abs=1e-4)


def test_the_action_owns_the_bones_it_moves() -> None:
    idle = _preset("idle", [_constant("bone", "chest", "rotation", [0.0, 0.0, 0.0])], loop=True)
    sad = _preset("sad_gesture", [_hold("bone", "head", "rotation", [0.0, 0.4, 0.0]),
                                  _hold("bone", "spine", "rotation", [0.2, 0.0, 0.0])])
    nod = _preset("nod", [_hold("bone", "head", "rotation", [0.2, 0.0, 0.0])])
    plan = _generator({"idle": idle, "sad_gesture": sad, "nod": nod}).plan("sad", "nod", 2.0)
    head = _at(plan, "bone", "head", "rotation", 1.0)
    assert head == pytest.approx([0.2, 0.4 * OVERLAP_WEIGHT, 0.0], abs=1e-4)
    assert _at(plan, "bone", "spine", "rotation", 1.0)[0] == pytest.approx(0.2, abs=1e-4)  # not shared


def test_smooth_interpolation_never_overshoots_the_keys() -> None:
    idle = _preset("idle", [{"target": "morph", "name": "blink", "property": "influence",
                             "times": [0.0, 0.1, 0.15, 1.0, 2.0], "values": [0.0, 1.0, 1.0, 0.2, 0.0]}],
                   loop=True)
    values = _track(_generator({"idle": idle}, fps=120).plan(None, None, 2.0), "morph", "blink", "influence")[1]
    assert values.max() <= 1.0 and values.min() >= 0.0
    assert values.max() == 1.0


def test_linear_presets_interpolate_linearly() -> None:
    idle = _preset("idle", [{"target": "bone", "name": "head", "property": "rotation",
                             "times": [0.0, 1.0, 2.0], "values": [0, 0, 0, 0.4, 0, 0, 0, 0, 0]}],
                   loop=True, interpolation="linear")
    plan = _generator({"idle": idle}, fps=10).plan(None, None, 2.0)
    assert _at(plan, "bone", "head", "rotation", 0.5)[0] == pytest.approx(0.2, abs=1e-4)


def test_plan_json_shape() -> None:
    data = _generator().plan("thinking", "nod", 2.5).to_dict()
    assert data["generator"] == "presets" and data["interpolation"] == "linear"
    assert [layer["role"] for layer in data["layers"]] == ["idle", "emotion", "action"]
    assert set(data["layers"][0]) == {"preset", "version", "weight", "start", "end", "scale", "role"}
    assert data["duration"] == 2.5 and data["fps"] == 30


def test_availability() -> None:
    assert PresetMotionGenerator.name == "presets"
    assert PresetMotionGenerator.availability() == Availability(ok=True)


@pytest.mark.django_db
def test_default_loader_reads_the_latest_stored_versions() -> None:
    from animation.selectors import latest_preset
    from animation.services import create_preset_version

    nod = latest_preset("nod")
    assert nod is not None
    newer = create_preset_version(nod.to_data() | {"description": "новая версия"})
    plan = PresetMotionGenerator().plan("happy", "nod", 2.0)
    versions = {layer.preset: layer.version for layer in plan.layers}
    happy = latest_preset("happy_gesture")
    assert happy is not None
    assert versions["nod"] == newer.version == nod.version + 1
    assert versions["happy_gesture"] == happy.version
    _assert_playable(plan, 2.0)
