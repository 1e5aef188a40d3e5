"""Validation of keyframe presets against the rig contract (pure, no Django).

A preset is plain JSON so it can travel unchanged to the browser::

    {"name": "nod", "emotion": null, "loop": false, "duration": 1.2,
     "interpolation": "smooth",            # optional, "smooth" (default) or "linear"
     "description": "...", "version": 3,   # optional metadata
     "tracks": [{"target": "bone", "name": "head", "property": "rotation",
                 "times": [0, 0.2, 1.2], "values": [0,0,0, 0.2,0,0, 0,0,0]},
                {"target": "morph", "name": "smile", "property": "influence",
                 "times": [0, 1.2], "values": [0, 0.5]}]}

Every rule reports *all* its problems at once (a preset editor wants the full list),
each with a JSON-ish path and a stable ``code`` that tests and UIs can match on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from animation import rig
from synthesis.interfaces import EMOTIONS

INTERPOLATIONS: tuple[str, ...] = ("smooth", "linear")
REQUIRED_FIELDS: tuple[str, ...] = ("name", "emotion", "loop", "duration", "tracks")
OPTIONAL_FIELDS: tuple[str, ...] = ("interpolation", "description", "version")
TRACK_FIELDS: tuple[str, ...] = ("target", "name", "property", "times", "values")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a lower-case Django slug, 64 max
# Caps keep an admin upload or a runaway generator from producing megabyte clips.
MAX_DURATION_S = 120.0
MAX_TRACKS = 200
MAX_KEYS_PER_TRACK = 5000
# Loop seams compare authored numbers; anything above float noise is a visible pop.
SEAM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ValidationIssue:
    path: str  # e.g. "tracks[2].values[7]"; "" for the preset itself
    code: str  # stable rule id, e.g. "times_not_increasing"
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<preset>'}: {self.message}"


class PresetInvalid(ValueError):
    """A preset broke the format or the rig contract; ``issues`` lists every problem."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues: tuple[ValidationIssue, ...] = tuple(issues)
        super().__init__("; ".join(str(issue) for issue in self.issues))


def ensure_valid(data: Any) -> None:
    """Raise ``PresetInvalid`` unless ``data`` is a valid preset."""
    issues = validate_preset(data)
    if issues:
        raise PresetInvalid(issues)


def validate_preset(data: Any) -> list[ValidationIssue]:
    """Every problem of one preset, in document order; an empty list means valid."""
    if not isinstance(data, Mapping):
        return [ValidationIssue("", "type", "a preset must be a JSON object")]
    issues = list(_check_fields(data))
    duration = _check_header(data, issues)
    loop = data.get("loop") is True
    tracks = data.get("tracks")
    if not isinstance(tracks, list):
        if "tracks" in data:
            issues.append(ValidationIssue("tracks", "type", "tracks must be a list"))
        return issues
    if not tracks:
        issues.append(ValidationIssue("tracks", "tracks_empty", "a preset needs at least one track"))
    if len(tracks) > MAX_TRACKS:
        issues.append(ValidationIssue("tracks", "too_many_tracks", f"at most {MAX_TRACKS} tracks"))
    seen: dict[tuple[str, str, str], int] = {}
    for index, track in enumerate(tracks):
        issues.extend(_check_track(f"tracks[{index}]", track, duration, loop, seen, index))
    return issues


def _check_fields(data: Mapping[str, Any]) -> Iterator[ValidationIssue]:
    for name in REQUIRED_FIELDS:
        if name not in data:
            yield ValidationIssue(name, "required", f"'{name}' is required")
    # Unknown keys are usually typos ("interpolaton") that would silently do nothing.
    for name in data:
        if name not in REQUIRED_FIELDS and name not in OPTIONAL_FIELDS:
            yield ValidationIssue(str(name), "unknown_field", f"unknown field '{name}'")


def _check_header(data: Mapping[str, Any], issues: list[ValidationIssue]) -> float | None:
    """Check the scalar fields; return the duration when it is usable for track checks."""
    name = data.get("name")
    if "name" in data and not (isinstance(name, str) and NAME_RE.match(name)):
        issues.append(ValidationIssue(
            "name", "name", "name must be a lower-case slug (a-z, 0-9, '_', '-'), 1-64 chars"
        ))
    emotion = data.get("emotion")
    if emotion is not None and emotion not in EMOTIONS:
        issues.append(ValidationIssue(
            "emotion", "emotion", f"emotion must be null or one of {', '.join(EMOTIONS)}"
        ))
    if "loop" in data and not isinstance(data["loop"], bool):
        issues.append(ValidationIssue("loop", "type", "loop must be true or false"))
    interpolation = data.get("interpolation", "smooth")
    if interpolation not in INTERPOLATIONS:
        issues.append(ValidationIssue(
            "interpolation", "interpolation", "interpolation must be 'smooth' or 'linear'"
        ))
    for key in ("description",):
        if key in data and not isinstance(data[key], str):
            issues.append(ValidationIssue(key, "type", f"{key} must be a string"))
    version = data.get("version")
    if "version" in data and not (_is_int(version) and version >= 1):
        issues.append(ValidationIssue("version", "type", "version must be a positive integer"))
    return _check_duration(data, issues)


def _check_duration(data: Mapping[str, Any], issues: list[ValidationIssue]) -> float | None:
    if "duration" not in data:
        return None
    duration = data["duration"]
    if not _is_finite_number(duration):
        issues.append(ValidationIssue("duration", "not_finite", "duration must be a finite number"))
        return None
    if not 0 < duration <= MAX_DURATION_S:
        issues.append(ValidationIssue(
            "duration", "duration", f"duration must be > 0 and <= {MAX_DURATION_S:g} seconds"
        ))
        return None
    return float(duration)


def _check_track(
    path: str,
    track: Any,
    duration: float | None,
    loop: bool,
    seen: dict[tuple[str, str, str], int],
    index: int,
) -> list[ValidationIssue]:
    if not isinstance(track, Mapping):
        return [ValidationIssue(path, "type", "a track must be a JSON object")]
    issues = [
        ValidationIssue(f"{path}.{name}", "required", f"'{name}' is required")
        for name in TRACK_FIELDS
        if name not in track
    ]
    issues += [
        ValidationIssue(f"{path}.{name}", "unknown_field", f"unknown field '{name}'")
        for name in track
        if name not in TRACK_FIELDS
    ]
    ranges = _check_target(path, track, issues)
    key = (str(track.get("target")), str(track.get("name")), str(track.get("property")))
    if ranges is not None:
        if key in seen:
            # Two tracks on one property: three.js would let the later one silently win.
            issues.append(ValidationIssue(
                path, "duplicate_track", f"duplicates tracks[{seen[key]}] ({'/'.join(key)})"
            ))
        else:
            seen[key] = index
    times_ok = _check_times(path, track.get("times"), duration, loop, issues)
    if ranges is not None and times_ok:
        _check_values(path, track.get("values"), ranges, len(track["times"]), loop, issues)
    return issues


def _check_target(
    path: str, track: Mapping[str, Any], issues: list[ValidationIssue]
) -> tuple[rig.Range, ...] | None:
    """Check target/name/property; return the value ranges when the track is allowed."""
    target, name, prop = track.get("target"), track.get("name"), track.get("property")
    if target not in rig.TARGET_PROPERTIES:
        issues.append(ValidationIssue(f"{path}.target", "target", "target must be 'bone' or 'morph'"))
        return None
    known = rig.BONES if target == "bone" else rig.MORPHS
    if name not in known:
        code = "unknown_bone" if target == "bone" else "unknown_morph"
        issues.append(ValidationIssue(f"{path}.name", code, f"the rig has no {target} '{name}'"))
        return None
    ranges = rig.value_ranges(str(target), str(name), str(prop))
    if ranges is None:
        allowed = rig.TARGET_PROPERTIES[str(target)]
        if target == "bone" and prop == "position":
            message = f"bone '{name}' cannot move, only rotate"
        else:
            message = f"property must be one of {', '.join(allowed)} for a {target}"
        issues.append(ValidationIssue(f"{path}.property", "property", message))
    return ranges


def _check_times(
    path: str, times: Any, duration: float | None, loop: bool, issues: list[ValidationIssue]
) -> bool:
    """Check the key times; return True when they are usable for the value checks."""
    if not isinstance(times, list) or not times:
        issues.append(ValidationIssue(f"{path}.times", "times_empty", "times must be a non-empty list"))
        return False
    if len(times) > MAX_KEYS_PER_TRACK:
        issues.append(ValidationIssue(
            f"{path}.times", "too_many_keys", f"at most {MAX_KEYS_PER_TRACK} keys per track"
        ))
        return False
    before = len(issues)
    for i, t in enumerate(times):
        _check_time(f"{path}.times[{i}]", t, times[i - 1] if i else None, duration, issues)
    if len(issues) == before and duration is not None and loop:
        _check_loop_span(path, times, duration, issues)
    return len(issues) == before


def _check_time(
    path: str, t: Any, previous: Any, duration: float | None, issues: list[ValidationIssue]
) -> None:
    if not _is_finite_number(t):
        issues.append(ValidationIssue(path, "not_finite", "a time must be a finite number"))
        return
    if t < 0:
        issues.append(ValidationIssue(path, "time_negative", "times start at 0 or later"))
    if _is_finite_number(previous) and t <= previous:
        issues.append(ValidationIssue(path, "times_not_increasing", "times must strictly increase"))
    if duration is not None and t > duration + 1e-9:
        issues.append(ValidationIssue(
            path, "time_after_duration", f"time {t:g} s is after the duration {duration:g} s"
        ))


def _check_loop_span(path: str, times: list[Any], duration: float, issues: list[ValidationIssue]) -> None:
    # A loop restarts at `duration`; keys must span exactly [0, duration] or the clip
    # would hold still (or jump) around the restart.
    if times[0] != 0:
        issues.append(ValidationIssue(f"{path}.times[0]", "loop_start", "a looping track starts at 0"))
    if abs(times[-1] - duration) > 1e-9:
        issues.append(ValidationIssue(
            f"{path}.times[{len(times) - 1}]", "loop_end",
            f"a looping track's last key must be at the duration ({duration:g} s)",
        ))


def _check_values(
    path: str,
    values: Any,
    ranges: tuple[rig.Range, ...],
    keys: int,
    loop: bool,
    issues: list[ValidationIssue],
) -> None:
    arity = len(ranges)
    if not isinstance(values, list) or len(values) != keys * arity:
        count = len(values) if isinstance(values, list) else "no"
        issues.append(ValidationIssue(
            f"{path}.values", "values_count",
            f"expected {keys} keys x {arity} = {keys * arity} values, got {count}",
        ))
        return
    before = len(issues)
    for i, value in enumerate(values):
        axis = "xyz"[i % arity] if arity == 3 else ""
        _check_value(f"{path}.values[{i}]", value, ranges[i % arity], axis, issues)
    # A loop that ends elsewhere than it starts pops at every restart.
    seam = zip(values[:arity], values[-arity:], strict=True)
    if loop and len(issues) == before and any(abs(a - b) > SEAM_TOLERANCE for a, b in seam):
        issues.append(ValidationIssue(
            f"{path}.values", "loop_seam", "a looping track must end with its first key's values"
        ))


def _check_value(
    path: str, value: Any, bounds: rig.Range, axis: str, issues: list[ValidationIssue]
) -> None:
    if not _is_finite_number(value):
        issues.append(ValidationIssue(path, "not_finite", "a value must be a finite number"))
        return
    low, high = bounds
    if not low <= value <= high:
        where = f" on {axis}" if axis else ""
        issues.append(ValidationIssue(
            path, "out_of_range", f"{value:g} is outside the rig range{where} [{low:g}, {high:g}]"
        ))


def _is_finite_number(value: Any) -> TypeGuard[int | float]:
    # bool is an int subclass; `true` as a time or angle is a bug, not a 1.
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float (JSON allows 1e400 as an int)
        return False


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
