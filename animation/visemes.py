"""The viseme mapping format (pure, no Django): mouth shape -> {morph target: weight}.

Lip-sync cues name Rhubarb's shapes A-H and X; an avatar has its own morph names. A
mapping says which morphs, how strongly, make each shape::

    {"A": {"mouth_A": 1.0}, ..., "X": {"mouth_X": 1.0}}               # built-in avatar
    {"D": {"viseme_aa": 1.0}, ...}                                     # Oculus visemes
    {"E": {"jawOpen": 0.4, "mouthFunnel": 0.5}, ...}                   # ARKit blend shapes
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from animation.validation import ValidationIssue

MOUTH_SHAPES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
MAX_MORPH_NAME = 64
MAX_MORPHS_PER_SHAPE = 16

MappingData = dict[str, dict[str, float]]


class MappingInvalid(ValueError):
    """A viseme mapping broke the format; ``issues`` lists every problem."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues: tuple[ValidationIssue, ...] = tuple(issues)
        super().__init__("; ".join(str(issue) for issue in self.issues))

# The built-in avatar (static/avatar/avatar.js) has one morph per shape, mouth_<shape>.
BUILTIN_MAPPING: MappingData = {shape: {f"mouth_{shape}": 1.0} for shape in MOUTH_SHAPES}


def validate_mapping(data: Any) -> list[ValidationIssue]:
    """Every problem of one mapping; an empty list means valid."""
    if not isinstance(data, Mapping):
        return [ValidationIssue("", "type", "таблица должна быть JSON-объектом {форма: {морф: вес}}")]
    issues = [
        ValidationIssue(shape, "required", f"нет формы рта {shape}") for shape in MOUTH_SHAPES if shape not in data
    ]
    issues += [
        ValidationIssue(str(key), "unknown_shape", f"неизвестная форма рта '{key}' (допустимы A–H и X)")
        for key in data
        if key not in MOUTH_SHAPES
    ]
    for shape in MOUTH_SHAPES:
        if shape in data:
            issues.extend(_check_shape(shape, data[shape]))
    return issues


def _check_shape(shape: str, morphs: Any) -> list[ValidationIssue]:
    if not isinstance(morphs, Mapping):
        return [ValidationIssue(shape, "type", f"{shape}: нужен объект {{имя морфа: вес}}")]
    issues = []
    if len(morphs) > MAX_MORPHS_PER_SHAPE:
        issues.append(ValidationIssue(shape, "too_many", f"{shape}: не больше {MAX_MORPHS_PER_SHAPE} морфов"))
    for name, weight in morphs.items():
        path = f"{shape}.{name}"
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_MORPH_NAME:
            issues.append(ValidationIssue(path, "morph_name", f"{shape}: пустое или слишком длинное имя морфа"))
        # bool is an int subclass; `true` as a weight is a typo, not a 1.
        if (
            not isinstance(weight, int | float)
            or isinstance(weight, bool)
            or not math.isfinite(weight)
            or not 0.0 <= weight <= 1.0
        ):
            issues.append(ValidationIssue(path, "weight", f"{shape}: вес морфа '{name}' должен быть числом от 0 до 1"))
    return issues


def normalized(data: Mapping[str, Mapping[str, Any]]) -> MappingData:
    """A valid mapping with float weights and shapes in order (what clients receive)."""
    return {shape: {str(k): float(v) for k, v in data[shape].items()} for shape in MOUTH_SHAPES}
