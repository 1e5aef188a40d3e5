"""The avatar rig contract: which bones and face morphs motion may drive, and how far.

Pure data (plus a tiny forward-kinematics helper); no Django. Three parties rely on it:
preset validation (``animation.validation``), the motion stage that blends presets
(``animation.motion``) and the three.js page that builds the built-in stylized avatar.

Conventions, chosen so that a track maps 1:1 onto a three.js ``KeyframeTrack``:

* The avatar stands in a right-handed, Y-up frame facing +Z; its left side is +X.
* Every bone's rest orientation is the identity, so a rotation is the offset from the
  relaxed standing pose (arms hanging down), in axes parallel to the body's:
  x = pitch, y = yaw / twist along a hanging limb, z = roll / sideways swing.
* Rotations are Euler angles in radians, order XYZ (three.js's default). The page turns
  each key into a quaternion (``QuaternionKeyframeTrack`` on ``<bone>.quaternion``).
* Positions (only the hips have any) are offsets in metres from the rest position; the
  page adds the bone's rest position when it builds the ``VectorKeyframeTrack``.
* Morph influences are 0..1 (``NumberKeyframeTrack`` on ``morphTargetInfluences[name]``).

Sign cheat-sheet (three.js Euler semantics with the frame above):

* head/neck/spine/chest: +x bows forward (look down), +y turns to the avatar's left,
  +z tilts the top towards the avatar's right shoulder.
* upperArm: -x swings the arm forward, +x backward; +z lifts the left arm sideways,
  -z lifts the right arm sideways (mirror images share axes, not signs).
* lowerArm: -x bends the elbow (hand comes forward and up); y twists the forearm.
* shoulder (clavicle): +z raises the left shoulder, -z raises the right one.
* eye: -x looks up, +y looks to the avatar's left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Range = tuple[float, float]
AxisRanges = tuple[Range, Range, Range]

# Each property's number of values per key; the page uses it to slice flat value lists.
PROPERTY_ARITY: Mapping[str, int] = {"rotation": 3, "position": 3, "influence": 1}
TARGET_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "bone": ("rotation", "position"),
    "morph": ("influence",),
}
MORPH_RANGE: Range = (0.0, 1.0)


@dataclass(frozen=True)
class BoneSpec:
    name: str
    parent: str | None
    offset: tuple[float, float, float]  # rest position relative to the parent, metres
    rotation: AxisRanges  # allowed Euler x, y, z in radians
    purpose: str
    position: AxisRanges | None = None  # allowed offsets in metres; None: not movable
    optional: bool = False  # the page may build an avatar without it; tracks are then skipped


@dataclass(frozen=True)
class MorphSpec:
    name: str
    purpose: str


def _mirror(ranges: AxisRanges) -> AxisRanges:
    """The right-side ranges of a left-side bone: y and z flip sign under the X mirror."""
    (x, y, z) = ranges
    return (x, (-y[1], -y[0]), (-z[1], -z[0]))


_SHOULDER_L: AxisRanges = ((-0.2, 0.2), (-0.3, 0.3), (-0.15, 0.45))
_UPPER_ARM_L: AxisRanges = ((-2.6, 0.9), (-1.6, 1.6), (-0.4, 2.6))
_LOWER_ARM_L: AxisRanges = ((-2.6, 0.05), (-1.6, 1.6), (-0.15, 0.15))
_HAND_L: AxisRanges = ((-1.2, 1.2), (-1.0, 1.0), (-0.6, 0.6))
# Eyes do not roll: z is locked so a preset cannot make the avatar look cross-eyed by roll.
_EYE: AxisRanges = ((-0.5, 0.5), (-0.7, 0.7), (0.0, 0.0))


def _limb(side: str, sign: float) -> list[BoneSpec]:
    """One arm chain; ``sign`` is +1 for the left (+X) side, -1 for the right."""

    def ranges(left: AxisRanges) -> AxisRanges:
        return left if sign > 0 else _mirror(left)

    return [
        BoneSpec(
            f"shoulder_{side}", "chest", (0.03 * sign, 0.17, 0.0), ranges(_SHOULDER_L),
            "Clavicle: shrugs, and the dropped shoulders of sadness.",
        ),
        BoneSpec(
            f"upperArm_{side}", f"shoulder_{side}", (0.14 * sign, 0.0, 0.0), ranges(_UPPER_ARM_L),
            "Upper arm: opening the arms, lifting a hand to wave or to the chin.",
        ),
        BoneSpec(
            f"lowerArm_{side}", f"upperArm_{side}", (0.0, -0.27, 0.0), ranges(_LOWER_ARM_L),
            "Forearm: elbow bend (a hinge, so z barely moves) and forearm twist.",
        ),
        BoneSpec(
            f"hand_{side}", f"lowerArm_{side}", (0.0, -0.24, 0.0), ranges(_HAND_L),
            "Wrist: the hand's own flick in a wave, open palms in a shrug.",
        ),
    ]


_BONE_LIST: list[BoneSpec] = [
    BoneSpec(
        "hips", None, (0.0, 0.95, 0.0), ((-0.3, 0.3), (-0.5, 0.5), (-0.3, 0.3)),
        "Root of the skeleton: weight shifts; the only bone that may move (a slight bob).",
        position=((-0.1, 0.1), (-0.1, 0.1), (-0.1, 0.1)),
    ),
    BoneSpec(
        "spine", "hips", (0.0, 0.10, 0.0), ((-0.3, 0.5), (-0.5, 0.5), (-0.35, 0.35)),
        "Lower back: slumping (sad) and leaning in (interest).",
    ),
    BoneSpec(
        "chest", "spine", (0.0, 0.18, 0.0), ((-0.25, 0.35), (-0.4, 0.4), (-0.25, 0.25)),
        "Upper torso: breathing (tiny pitch) and carrying the shoulders.",
    ),
    BoneSpec(
        "neck", "chest", (0.0, 0.22, 0.0), ((-0.5, 0.6), (-0.7, 0.7), (-0.4, 0.4)),
        "Shares head motion so large nods and turns do not bend at a single joint.",
    ),
    BoneSpec(
        "head", "neck", (0.0, 0.09, 0.0), ((-0.6, 0.6), (-0.9, 0.9), (-0.5, 0.5)),
        "Nods, shakes, tilts: the most expressive bone of a talking head.",
    ),
    BoneSpec(
        "eye_L", "head", (0.032, 0.08, 0.085), _EYE,
        "Gaze (looking up while thinking, idle saccades); optional on simple avatars.",
        optional=True,
    ),
    BoneSpec(
        "eye_R", "head", (-0.032, 0.08, 0.085), _EYE,
        "Gaze, mirrored; optional on simple avatars.", optional=True,
    ),
    *_limb("L", 1.0),
    *_limb("R", -1.0),
]

BONES: Mapping[str, BoneSpec] = {bone.name: bone for bone in _BONE_LIST}

# Expression morphs only. The mouth visemes (and jawOpen) belong to lip-sync, which sets
# them every frame from the audio; letting presets drive them too would make the two
# layers fight over the mouth. smile/frown move the mouth corners, which visemes do not.
_MORPH_LIST: list[MorphSpec] = [
    MorphSpec("smile", "Mouth corners up: happiness, friendliness."),
    MorphSpec("frown", "Mouth corners down: sadness, doubt (a shrug)."),
    MorphSpec("browInnerUp", "Inner brows raised: sadness, worry, concern."),
    MorphSpec("browDown_L", "Left brow lowered: concentration, a one-sided thinking frown."),
    MorphSpec("browDown_R", "Right brow lowered, mirrored."),
    MorphSpec("browUp_L", "Left brow raised: surprise, interest, an asymmetric 'hmm'."),
    MorphSpec("browUp_R", "Right brow raised, mirrored."),
    MorphSpec("eyeSquint", "Lower lids up: a genuine (Duchenne) smile, scrutiny."),
    MorphSpec("eyeWide", "Upper lids up: surprise, emphasis."),
    MorphSpec("blink", "Both lids closed at 1: idle blinks; partly closed reads as tired/sad."),
    MorphSpec("cheekRaise", "Cheeks up: completes a real smile."),
]

MORPHS: Mapping[str, MorphSpec] = {morph.name: morph for morph in _MORPH_LIST}


def value_ranges(target: str, name: str, prop: str) -> tuple[Range, ...] | None:
    """The allowed range of each value of one key, or None if the track is not allowed."""
    if target == "bone" and name in BONES:
        bone = BONES[name]
        if prop == "rotation":
            return bone.rotation
        if prop == "position":
            return bone.position
    if target == "morph" and name in MORPHS and prop == "influence":
        return (MORPH_RANGE,)
    return None


def _euler_xyz(angles: Sequence[float]) -> np.ndarray:
    """three.js's Euler 'XYZ' matrix: Rx @ Ry @ Rz."""
    a, b, c = (float(v) for v in angles)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return np.asarray(rx @ ry @ rz)


def joint_transforms(
    rotations: Mapping[str, Sequence[float]],
    positions: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World (rotation matrix, origin) of every bone for one pose.

    Exists so tests and preset authors can check what a pose *looks like* (is the hand
    above the shoulder?) without a browser. Bones missing from the pose stay at rest.
    """
    positions = positions or {}
    world: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for bone in _BONE_LIST:  # parents come before children in this list
        local_rot = _euler_xyz(rotations.get(bone.name, (0.0, 0.0, 0.0)))
        offset = np.asarray(bone.offset) + np.asarray(positions.get(bone.name, (0.0, 0.0, 0.0)))
        if bone.parent is None:
            world[bone.name] = (local_rot, offset)
        else:
            parent_rot, parent_origin = world[bone.parent]
            world[bone.name] = (parent_rot @ local_rot, parent_origin + parent_rot @ offset)
    return world
