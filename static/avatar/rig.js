// The rig contract, mirrored from animation/rig.py (bone names, parents, rest offsets in
// metres, expression morph names). tests/web/test_rig_mirror.py keeps the two equal.
// Frame: right-handed, Y up, the avatar faces +Z, its left side is +X; every bone's rest
// orientation is the identity; rotations are Euler XYZ radians; morphs are 0..1.

export const RIG = /* rig-json */ {
  "bones": [
    {
      "name": "hips",
      "parent": null,
      "offset": [
        0.0,
        0.95,
        0.0
      ],
      "optional": false
    },
    {
      "name": "spine",
      "parent": "hips",
      "offset": [
        0.0,
        0.1,
        0.0
      ],
      "optional": false
    },
    {
      "name": "chest",
      "parent": "spine",
      "offset": [
        0.0,
        0.18,
        0.0
      ],
      "optional": false
    },
    {
      "name": "neck",
      "parent": "chest",
      "offset": [
        0.0,
        0.22,
        0.0
      ],
      "optional": false
    },
    {
      "name": "head",
      "parent": "neck",
      "offset": [
        0.0,
        0.09,
        0.0
      ],
      "optional": false
    },
    {
      "name": "eye_L",
      "parent": "head",
      "offset": [
        0.032,
        0.08,
        0.085
      ],
      "optional": true
    },
    {
      "name": "eye_R",
      "parent": "head",
      "offset": [
        -0.032,
        0.08,
        0.085
      ],
      "optional": true
    },
    {
      "name": "shoulder_L",
      "parent": "chest",
      "offset": [
        0.03,
        0.17,
        0.0
      ],
      "optional": false
    },
    {
      "name": "upperArm_L",
      "parent": "shoulder_L",
      "offset": [
        0.14,
        0.0,
        0.0
      ],
      "optional": false
    },
    {
      "name": "lowerArm_L",
      "parent": "upperArm_L",
      "offset": [
        0.0,
        -0.27,
        0.0
      ],
      "optional": false
    },
    {
      "name": "hand_L",
      "parent": "lowerArm_L",
      "offset": [
        0.0,
        -0.24,
        0.0
      ],
      "optional": false
    },
    {
      "name": "shoulder_R",
      "parent": "chest",
      "offset": [
        -0.03,
        0.17,
        0.0
      ],
      "optional": false
    },
    {
      "name": "upperArm_R",
      "parent": "shoulder_R",
      "offset": [
        -0.14,
        0.0,
        0.0
      ],
      "optional": false
    },
    {
      "name": "lowerArm_R",
      "parent": "upperArm_R",
      "offset": [
        0.0,
        -0.27,
        0.0
      ],
      "optional": false
    },
    {
      "name": "hand_R",
      "parent": "lowerArm_R",
      "offset": [
        0.0,
        -0.24,
        0.0
      ],
      "optional": false
    }
  ],
  "morphs": [
    "smile",
    "frown",
    "browInnerUp",
    "browDown_L",
    "browDown_R",
    "browUp_L",
    "browUp_R",
    "eyeSquint",
    "eyeWide",
    "blink",
    "cheekRaise"
  ],
  "propertyArity": {
    "rotation": 3,
    "position": 3,
    "influence": 1
  }
} /* /rig-json */;

export const BONE_NAMES = RIG.bones.map((b) => b.name);
export const EXPRESSION_MORPHS = RIG.morphs;
export const PROPERTY_ARITY = RIG.propertyArity;

// Mouth shapes belong to lip-sync, not to motion: Rhubarb's A-H and X (X = rest).
export const MOUTH_SHAPES = ["A", "B", "C", "D", "E", "F", "G", "H", "X"];
export const mouthMorphName = (shape) => `mouth_${shape}`;
