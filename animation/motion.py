"""The motion stage: one sentence's emotion and optional action -> a ready-to-play clip.

Layers, bottom to top:

* **idle** (looping) always plays; it is the body's base pose and keeps it alive.
* **emotion**: the emotion's gesture (happy -> happy_gesture, ...), played once from the
  sentence start, time-scaled within bounds to fit; its facial expression is then held
  at half strength until the sentence ends, so a happy sentence keeps smiling.
* **action**: a gesture the LLM asked for (nod, wave, ...), played once from the start.

Gesture presets are authored as offsets from the rest pose that start and end at rest,
so bone rotations blend *additively* over idle (Euler angles add; fine for the small
offsets of a talking head, and every result is clamped to the rig's ranges). Where the
action and the emotion move the same bone, the emotion is turned down so the two do not
pile up. Morph influences take the *maximum* of the layers (a blink stays a blink).

Everything is sampled onto one uniform grid (``fps``) ending exactly at the sentence's
duration, so the result is one linear-interpolated clip: three.js plays it as-is, with
no knowledge of presets, smoothing or layering. The blending is pure: presets arrive as
plain dicts through a loader callable, so tests need no database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from animation import rig
from animation.validation import NAME_RE, validate_preset
from synthesis.interfaces import EMOTIONS, Availability

PresetData = Mapping[str, Any]
PresetLoader = Callable[[str], PresetData | None]
TrackKey = tuple[str, str, str]  # (target, name, property)
Role = Literal["idle", "emotion", "action"]

IDLE_PRESET = "idle"
REST_PRESET = "rest"  # not stored: the plan's name when even idle is missing
EMOTION_PRESETS: Mapping[str, str] = {
    "happy": "happy_gesture",
    "sad": "sad_gesture",
    "thinking": "thinking_gesture",
    "neutral": IDLE_PRESET,
}
DEFAULT_FPS = 30
# How far a one-shot gesture may be sped up (min) or slowed down (max) to fit a sentence.
# Actions never slow down: a slow-motion nod reads as a different gesture.
EMOTION_SCALE_BOUNDS: tuple[float, float] = (0.7, 1.25)
ACTION_SCALE_BOUNDS: tuple[float, float] = (0.8, 1.0)
# Ease a layer in and out so cut or non-rest presets never pop.
FADE_IN_S = 0.15
FADE_OUT_S = 0.3
# The emotion's share on bones the action also moves (sad head-down under a nod, say).
OVERLAP_WEIGHT = 0.35
# The emotion's face is held at this fraction of each morph's peak after the gesture.
SUSTAIN_LEVEL = 0.5
SUSTAIN_FADE_S = 0.4
# Closest two keys of a clip may be; well above the rounding step so times stay increasing.
MIN_KEY_GAP_S = 0.002
# Past this many loop keys per sentence, key times no longer join the grid (cost bound).
MAX_LOOP_KEYS = 5000
ROUND_DIGITS = 4  # 0.1 ms and 1e-4 rad: far below what anyone can see, half the JSON


def base_preset_name(emotion: str | None) -> str:
    """The preset that expresses ``emotion``; idle for neutral, None and unknown ones."""
    return EMOTION_PRESETS.get(emotion or "neutral", IDLE_PRESET)


def load_latest_preset(name: str) -> dict[str, Any] | None:
    """The default loader: the newest stored version of ``name`` as preset data."""
    # Imported here so the blending code stays importable (and testable) without Django.
    from animation.selectors import latest_preset

    preset = latest_preset(name)
    return None if preset is None else preset.to_data()


@dataclass(frozen=True)
class MotionLayer:
    preset: str
    version: int | None  # None for presets that came without one (files, tests)
    weight: float
    start: float  # seconds into the sentence
    role: Role
    scale: float = 1.0  # playback time scale: < 1 faster, > 1 slower
    end: float = 0.0  # when the layer's contribution has faded out

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "version": self.version,
            "weight": self.weight,
            "start": round(self.start, ROUND_DIGITS),
            "end": round(self.end, ROUND_DIGITS),
            "scale": round(self.scale, ROUND_DIGITS),
            "role": self.role,
        }


@dataclass(frozen=True)
class MotionPlan:
    preset: str  # the base preset: the emotion's, or idle, or "rest" when nothing loaded
    version: int | None
    emotion: str | None
    action: str | None  # the action actually layered
    layers: tuple[MotionLayer, ...]
    duration: float
    fps: int
    tracks: tuple[dict[str, Any], ...]  # preset track format, linear interpolation
    ignored_action: str | None = None  # requested but not played (unknown, a loop, ...)
    notes: tuple[str, ...] = ()  # why anything fell back, for logs and the admin
    idle_phase_end: float = 0.0  # pass as ``idle_phase`` to the next sentence's plan

    def to_dict(self) -> dict[str, Any]:
        """The JSON the avatar page receives."""
        return {
            "generator": PresetMotionGenerator.name,
            "preset": self.preset,
            "version": self.version,
            "emotion": self.emotion,
            "action": self.action,
            "ignored_action": self.ignored_action,
            "layers": [layer.to_dict() for layer in self.layers],
            "duration": self.duration,
            "fps": self.fps,
            "interpolation": "linear",
            "tracks": list(self.tracks),
            "notes": list(self.notes),
            "idle_phase_end": round(self.idle_phase_end, ROUND_DIGITS),
        }

    def as_preset(self, name: str = "motion") -> dict[str, Any]:
        """The clip as preset data (valid under ``validate_preset`` up to its max duration)."""
        return {
            "name": name,
            "emotion": self.emotion,
            "loop": False,
            "duration": self.duration,
            "interpolation": "linear",
            "tracks": list(self.tracks),
        }


class PresetMotionGenerator:
    """Plans a sentence's motion by layering stored keyframe presets."""

    name: ClassVar[str] = "presets"

    def __init__(self, loader: PresetLoader | None = None, *, fps: int = DEFAULT_FPS) -> None:
        if not 1 <= fps <= 120:
            raise ValueError("fps must be between 1 and 120")
        self._loader: PresetLoader = loader or load_latest_preset
        self._fps = fps

    @classmethod
    def availability(cls) -> Availability:
        # Needs no binary or model, and falls back to idle and then to the rest pose
        # when presets are missing, so it can always run.
        return Availability(ok=True)

    def plan(
        self,
        emotion: str | None,
        action: str | None,
        duration_s: float,
        *,
        idle_phase: float = 0.0,
    ) -> MotionPlan:
        """Plan ``duration_s`` seconds of motion.

        ``idle_phase``: where in the idle loop to start (seconds); chaining each plan's
        ``idle_phase_end`` into the next keeps breathing continuous across sentences.
        """
        duration = _checked_seconds("duration_s", duration_s, positive=True)
        idle_phase = _checked_seconds("idle_phase", idle_phase, positive=False)
        notes: list[str] = []
        emotion = _known_emotion(emotion, notes)
        idle = self._load(IDLE_PRESET, notes)
        base = self._emotion_preset(emotion, notes)
        act, ignored = self._action_preset(action, base, notes)
        layers = _build_layers(idle, base, act, duration, idle_phase)
        grid = _time_grid(duration, self._fps, _key_times(layers, duration))
        tracks = _blend(layers, grid) or [_rest_track(duration)]
        head = base or idle
        if idle is None:
            notes.append("no idle preset: layers play over the rest pose")
        return MotionPlan(
            preset=head.name if head else REST_PRESET,
            version=head.version if head else None,
            emotion=emotion,
            action=act.name if act else None,
            layers=tuple(layer.info for layer in layers),
            duration=duration,
            fps=self._fps,
            tracks=tuple(tracks),
            ignored_action=ignored,
            notes=tuple(notes),
            idle_phase_end=(idle_phase + duration) % idle.duration if idle else 0.0,
        )

    def _load(self, name: str, notes: list[str]) -> _Preset | None:
        data = self._loader(name)
        if data is None:
            notes.append(f"preset '{name}' not found")
            return None
        issues = validate_preset(data)
        if issues:
            notes.append(f"preset '{name}' is invalid ({issues[0]}); skipped")
            return None
        return _Preset.from_data(data)

    def _emotion_preset(self, emotion: str | None, notes: list[str]) -> _Preset | None:
        """The emotion's gesture, or None when idle alone is the base."""
        name = base_preset_name(emotion)
        if name == IDLE_PRESET:
            return None
        preset = self._load(name, notes)
        if preset is None:
            notes.append(f"emotion '{emotion}' falls back to idle")
        return preset

    def _action_preset(
        self, action: str | None, base: _Preset | None, notes: list[str]
    ) -> tuple[_Preset | None, str | None]:
        """(the action to layer, the requested action when it is ignored)."""
        if action is None or not action.strip():
            return None, None
        name = action.strip().lower()
        # The name comes from LLM output: never hand arbitrary text to the loader.
        if not NAME_RE.match(name) or name == IDLE_PRESET:
            notes.append(f"action '{action}' is not a gesture name; ignored")
            return None, action
        if base is not None and name == base.name:
            notes.append(f"action '{name}' already plays as the emotion's gesture; ignored")
            return None, action
        preset = self._load(name, notes)
        if preset is None or preset.loop:
            if preset is not None:
                notes.append(f"action '{name}' is a loop, not a gesture; ignored")
            return None, action
        return preset, None


@dataclass(frozen=True)
class _Curve:
    """One preset track, ready to sample at arbitrary times."""

    times: np.ndarray  # (keys,)
    values: np.ndarray  # (keys, arity)
    slopes: np.ndarray | None  # (keys, arity) for "smooth"; None for "linear"

    @classmethod
    def from_track(cls, track: Mapping[str, Any], smooth: bool, loop: bool) -> _Curve:
        times = np.asarray(track["times"], dtype=float)
        values = np.asarray(track["values"], dtype=float).reshape(len(times), -1)
        slopes = _monotone_slopes(times, values, periodic=loop) if smooth else None
        return cls(times, values, slopes)

    def sample(self, t: np.ndarray) -> np.ndarray:
        times, values = self.times, self.values
        if len(times) == 1:
            return np.repeat(values, len(t), axis=0)
        t = np.clip(t, times[0], times[-1])  # hold the first/last key, as three.js does
        i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
        h = (times[i + 1] - times[i])[:, None]
        s = (t - times[i])[:, None] / h
        y0, y1 = values[i], values[i + 1]
        if self.slopes is None:
            linear: np.ndarray = y0 + s * (y1 - y0)
            return linear
        # Cubic Hermite basis on the unit interval; slopes scaled to the segment length.
        m0, m1 = self.slopes[i] * h, self.slopes[i + 1] * h
        s2, s3 = s * s, s * s * s
        cubic: np.ndarray = (2 * s3 - 3 * s2 + 1) * y0 + (s3 - 2 * s2 + s) * m0
        cubic += (-2 * s3 + 3 * s2) * y1 + (s3 - s2) * m1
        return cubic


def _monotone_slopes(times: np.ndarray, values: np.ndarray, *, periodic: bool) -> np.ndarray:
    """Key slopes of a monotone cubic (Fritsch-Butland, as in PCHIP), per component.

    Why this spline: it passes through every key, never overshoots between two keys
    (so presets within the rig's ranges stay within them) and has zero slope at every
    peak, so gestures ease into and out of their extremes. One-shot tracks also start
    and end with zero slope (ease in/out); loops take the slope across the seam.
    """
    slopes = np.zeros_like(values)
    if len(times) < 3:
        return slopes
    h = np.diff(times)
    delta = np.diff(values, axis=0) / h[:, None]
    slopes[1:-1] = _harmonic_slope(delta[:-1], delta[1:], h[:-1], h[1:])
    if periodic:
        seam = _harmonic_slope(delta[-1:], delta[:1], h[-1:], h[:1])[0]
        slopes[0] = slopes[-1] = seam
    return slopes


def _harmonic_slope(d0: np.ndarray, d1: np.ndarray, h0: np.ndarray, h1: np.ndarray) -> np.ndarray:
    """Weighted harmonic mean of neighbouring secants; 0 where they change sign."""
    w0 = (2 * h1 + h0)[:, None]
    w1 = (h1 + 2 * h0)[:, None]
    same_sign = d0 * d1 > 0
    safe0 = np.where(same_sign, d0, 1.0)
    safe1 = np.where(same_sign, d1, 1.0)
    return np.where(same_sign, (w0 + w1) / (w0 / safe0 + w1 / safe1), 0.0)


@dataclass(frozen=True)
class _Preset:
    name: str
    version: int | None
    loop: bool
    duration: float
    curves: Mapping[TrackKey, _Curve]

    @classmethod
    def from_data(cls, data: PresetData) -> _Preset:
        smooth = data.get("interpolation", "smooth") == "smooth"
        loop = bool(data["loop"])
        curves = {
            (t["target"], t["name"], t["property"]): _Curve.from_track(t, smooth, loop)
            for t in data["tracks"]
        }
        return cls(data["name"], data.get("version"), loop, float(data["duration"]), curves)


@dataclass(frozen=True)
class _Layer:
    preset: _Preset
    info: MotionLayer
    phase: float = 0.0  # loop offset in seconds (idle continuity)
    bones: frozenset[str] = field(default_factory=frozenset)  # bone names it animates

    @property
    def role(self) -> Role:
        return self.info.role


def _build_layers(
    idle: _Preset | None,
    base: _Preset | None,
    action: _Preset | None,
    duration: float,
    idle_phase: float,
) -> list[_Layer]:
    layers: list[_Layer] = []
    if idle is not None:
        info = MotionLayer(idle.name, idle.version, 1.0, 0.0, "idle", 1.0, duration)
        layers.append(_Layer(idle, info, phase=idle_phase % idle.duration))
    if base is not None:
        layers.append(_gesture_layer(base, "emotion", EMOTION_SCALE_BOUNDS, duration))
    if action is not None:
        layers.append(_gesture_layer(action, "action", ACTION_SCALE_BOUNDS, duration))
    return layers


def _gesture_layer(
    preset: _Preset, role: Role, bounds: tuple[float, float], duration: float
) -> _Layer:
    """A layer played once from the start (or looped, if the preset is a loop)."""
    if preset.loop:
        scale, end = 1.0, duration
    else:
        low, high = bounds
        scale = min(max(duration / preset.duration, low), high)
        end = min(preset.duration * scale, duration)  # cut (and faded) when still too long
    info = MotionLayer(preset.name, preset.version, 1.0, 0.0, role, scale, end)
    bones = frozenset(name for (target, name, _prop) in preset.curves if target == "bone")
    return _Layer(preset, info, bones=bones)


def _time_grid(duration: float, fps: int, key_times: np.ndarray) -> np.ndarray:
    """Times from 0 to exactly ``duration``: a uniform 1/fps grid plus every layer key.

    The keys matter: a blink's closed-lid key lasts a few milliseconds, and a uniform
    grid alone would step over it (the eyes would never quite close).
    """
    count = max(2, math.ceil(duration * fps - 1e-9) + 1)
    uniform = np.linspace(0.0, duration, count)
    keys = np.unique(key_times[(key_times > MIN_KEY_GAP_S) & (key_times < duration - MIN_KEY_GAP_S)])
    if len(keys):
        keys = keys[np.concatenate(([True], np.diff(keys) >= MIN_KEY_GAP_S))]
        # Uniform points crowding a key give way to it, keeping keys well apart.
        inner = uniform[1:-1]
        nearest = np.minimum(
            np.abs(inner - keys[np.clip(np.searchsorted(keys, inner) - 1, 0, len(keys) - 1)]),
            np.abs(inner - keys[np.clip(np.searchsorted(keys, inner), 0, len(keys) - 1)]),
        )
        uniform = np.concatenate(([0.0], inner[nearest >= MIN_KEY_GAP_S], [duration]))
    return np.union1d(uniform, keys)


def _key_times(layers: Iterable[_Layer], duration: float) -> np.ndarray:
    return np.concatenate([np.empty(0), *(_layer_key_times(layer, duration) for layer in layers)])


def _layer_key_times(layer: _Layer, duration: float) -> np.ndarray:
    """The sentence times at which ``layer`` passes one of its preset's keys."""
    times = np.unique(np.concatenate([curve.times for curve in layer.preset.curves.values()]))
    start, scale = layer.info.start, layer.info.scale
    if not layer.preset.loop:
        return np.asarray(start + times * scale)
    period = layer.preset.duration
    cycles = np.arange(math.floor(layer.phase / period), math.floor((layer.phase + duration) / period) + 1)
    if len(cycles) * len(times) > MAX_LOOP_KEYS:
        return np.empty(0)  # a tiny loop under a long sentence: the uniform grid will do
    local: np.ndarray = cycles[:, None] * period + times[None, :] - layer.phase
    return np.asarray(start + local.reshape(-1) * scale)


def _blend(layers: Sequence[_Layer], grid: np.ndarray) -> list[dict[str, Any]]:
    keys = {key for layer in layers for key in layer.preset.curves}
    action_bones = frozenset[str]().union(*(layer.bones for layer in layers if layer.role == "action"))
    duration = float(grid[-1])
    return [
        _track_dict(key, grid, _blend_key(key, layers, grid, duration, action_bones))
        for key in _rig_order(keys)
    ]


def _blend_key(
    key: TrackKey,
    layers: Iterable[_Layer],
    grid: np.ndarray,
    duration: float,
    action_bones: frozenset[str],
) -> np.ndarray:
    target, name, _prop = key
    parts: list[np.ndarray] = []
    for layer in layers:
        curve = layer.preset.curves.get(key)
        if curve is None:
            continue
        weight = layer.info.weight * _envelope(layer, grid)
        if layer.role == "emotion" and target == "bone" and name in action_bones:
            weight = weight * OVERLAP_WEIGHT
        part = curve.sample(_local_times(layer, grid)) * weight[:, None]
        if layer.role == "emotion" and target == "morph":
            held = SUSTAIN_LEVEL * layer.info.weight * curve.values.max(axis=0)
            part = np.maximum(part, _sustain(grid, duration)[:, None] * held)
        parts.append(part)
    stacked = np.stack(parts)
    # Morphs: the strongest layer wins (two half-smiles are not a full one); bones add.
    return np.asarray(stacked.max(axis=0) if target == "morph" else stacked.sum(axis=0))


def _local_times(layer: _Layer, grid: np.ndarray) -> np.ndarray:
    """The preset's own clock at each sentence time."""
    local = (grid - layer.info.start) / layer.info.scale
    if layer.preset.loop:
        return np.mod(local + layer.phase, layer.preset.duration)
    return np.clip(local, 0.0, layer.preset.duration)


def _envelope(layer: _Layer, grid: np.ndarray) -> np.ndarray:
    """0..1 weight over time: idle is always on; gestures ease in and out of their window."""
    if layer.role == "idle":
        return np.ones_like(grid)
    start, end = layer.info.start, layer.info.end
    window = end - start
    rise = _ramp(grid - start, min(FADE_IN_S, window / 4))
    fall = _ramp(end - grid, min(FADE_OUT_S, window / 3))
    return np.asarray(rise * fall)


def _sustain(grid: np.ndarray, duration: float) -> np.ndarray:
    fade = min(SUSTAIN_FADE_S, duration / 3)
    return np.asarray(_ramp(grid, fade) * _ramp(duration - grid, fade))


def _ramp(x: np.ndarray, length: float) -> np.ndarray:
    """Smoothstep from 0 (x <= 0) to 1 (x >= length)."""
    if length <= 0:
        return (x >= 0).astype(float)
    s = np.clip(x / length, 0.0, 1.0)
    return s * s * (3 - 2 * s)


def _rig_order(keys: Iterable[TrackKey]) -> list[TrackKey]:
    """Bones (skeleton order) then morphs (rig order): stable, readable output."""
    order = {name: i for i, name in enumerate([*rig.BONES, *rig.MORPHS])}
    props = {"rotation": 0, "position": 1, "influence": 2}
    return sorted(keys, key=lambda k: (k[0] != "bone", order.get(k[1], len(order)), props.get(k[2], 9)))


def _track_dict(key: TrackKey, grid: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    target, name, prop = key
    ranges = rig.value_ranges(target, name, prop)
    if ranges is not None:  # layers come validated, so always; clamp after rounding
        low, high = np.array(ranges).T
        values = np.clip(np.round(values, ROUND_DIGITS), low, high) + 0.0  # +0.0: no "-0.0"
    times = np.round(grid, ROUND_DIGITS)
    times[-1] = grid[-1]  # the exact duration, unrounded
    keep = _significant_keys(values)
    return {
        "target": target,
        "name": name,
        "property": prop,
        "times": times[keep].tolist(),
        "values": values[keep].reshape(-1).tolist(),
    }


def _significant_keys(values: np.ndarray) -> np.ndarray:
    """Drop keys inside runs of identical values; linear playback is unchanged."""
    keep = np.ones(len(values), dtype=bool)
    if len(values) > 2:
        same_prev = np.all(values[1:-1] == values[:-2], axis=1)
        same_next = np.all(values[1:-1] == values[2:], axis=1)
        keep[1:-1] = ~(same_prev & same_next)
    return keep


def _rest_track(duration: float) -> dict[str, Any]:
    """The rest pose as one track, so even an empty store yields a playable clip."""
    return {
        "target": "bone",
        "name": "hips",
        "property": "rotation",
        "times": [0.0, duration],
        "values": [0.0] * 6,
    }


def _checked_seconds(name: str, value: float, *, positive: bool) -> float:
    seconds = float(value)
    if not math.isfinite(seconds) or (positive and seconds <= 0):
        kind = "a positive" if positive else "a finite"
        raise ValueError(f"{name} must be {kind} number of seconds, got {value!r}")
    return seconds


def _known_emotion(emotion: str | None, notes: list[str]) -> str | None:
    if emotion is None or emotion in EMOTIONS:
        return emotion
    notes.append(f"unknown emotion '{emotion}' treated as neutral")
    return None
