// The built-in stylized avatar, built entirely in code (no model files exist to download).
//
// What it provides is the same "rig" an uploaded GLB would (see driver.js): a Skeleton
// whose bones are named and placed exactly as animation/rig.py says (rest orientation =
// identity), and meshes whose morph targets carry the rig's expression morph names plus
// the lip-sync mouth shapes mouth_A..mouth_H and mouth_X.
//
// The face is parametric: every face part (skin, mouth, lids, brows) is generated from one
// set of face parameters (jaw opening, mouth corners, lid angles, brow heights, ...), and
// each morph target is "the same generator with some parameters changed" minus the base.
// The mouth, brows and lids are shapes laid onto the analytic head surface, so they stay
// on it in every morph and blend.

import * as THREE from "three";
import { RIG, MOUTH_SHAPES, mouthMorphName } from "./rig.js";

const clamp = (x, a, b) => Math.min(b, Math.max(a, x));
const smoothstep = (a, b, x) => {
  const t = clamp((x - a) / (b - a), 0, 1);
  return t * t * (3 - 2 * t);
};
const lerp = (a, b, t) => a + (b - a) * t;

// --- Palette ---------------------------------------------------------------------------

export const DEFAULT_LOOK = {
  skin: "#f0c4a4",
  blush: "#e98f86",
  lips: "#c96f6c",
  hair: "#4a3022",
  brows: "#3d271c",
  shirt: "#3f7f8c",
  collar: "#2f6470",
  iris: "#5a7f4a",
  irisInner: "#a88a3c",
  mouth: "#3a1418",
  teeth: "#f6f1e8",
  tongue: "#c05a62",
};

// --- Rig helpers -----------------------------------------------------------------------

function buildBones() {
  const bones = new Map();
  for (const spec of RIG.bones) {
    const bone = new THREE.Bone();
    bone.name = spec.name;
    bone.position.fromArray(spec.offset);
    if (spec.parent) bones.get(spec.parent).add(bone);
    bones.set(spec.name, bone);
  }
  return bones;
}

/** Rest position of a bone in avatar space (rest rotations are all identity). */
function restOrigin(name) {
  const out = new THREE.Vector3();
  let spec = RIG.bones.find((b) => b.name === name);
  while (spec) {
    out.add(new THREE.Vector3().fromArray(spec.offset));
    spec = RIG.bones.find((b) => b.name === spec.parent);
  }
  return out;
}

// --- Morph geometry from a parametric generator ------------------------------------------

function addParams(base, patch) {
  const out = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function vertexNormals(positions, index) {
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.Float32BufferAttribute(positions, 3));
  g.setIndex(index);
  g.computeVertexNormals();
  return g.getAttribute("normal").array;
}

/**
 * A BufferGeometry whose morph targets are build(base + patch) - build(base).
 * build(params) returns {positions, index, colors?}; the topology must not depend on params.
 */
function parametricGeometry(build, base, morphs) {
  const b = build(base);
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.Float32BufferAttribute(b.positions, 3));
  if (b.colors) g.setAttribute("color", new THREE.Float32BufferAttribute(b.colors, 3));
  if (b.uvs) g.setAttribute("uv", new THREE.Float32BufferAttribute(b.uvs, 2));
  g.setIndex(b.index);
  if (b.groups) for (const grp of b.groups) g.addGroup(grp.start, grp.count, grp.material);
  g.computeVertexNormals();
  const baseNormals = g.getAttribute("normal").array;
  const posTargets = [];
  const nrmTargets = [];
  for (const [name, patch] of Object.entries(morphs)) {
    const m = build(addParams(base, patch));
    const dp = new Float32Array(b.positions.length);
    for (let i = 0; i < dp.length; i++) dp[i] = m.positions[i] - b.positions[i];
    const n = vertexNormals(m.positions, b.index);
    const dn = new Float32Array(n.length);
    for (let i = 0; i < dn.length; i++) dn[i] = n[i] - baseNormals[i];
    const pa = new THREE.Float32BufferAttribute(dp, 3);
    pa.name = name;
    const na = new THREE.Float32BufferAttribute(dn, 3);
    na.name = name;
    posTargets.push(pa);
    nrmTargets.push(na);
  }
  g.morphAttributes.position = posTargets;
  g.morphAttributes.normal = nrmTargets;
  g.morphTargetsRelative = true;
  return g;
}

/** Grid indices for a (rows x cols) vertex grid laid out row-major. */
function gridIndex(rows, cols, offset = 0, out = [], flip = false) {
  for (let r = 0; r < rows - 1; r++) {
    for (let c = 0; c < cols - 1; c++) {
      const a = offset + r * cols + c;
      const b = a + 1;
      const d = a + cols;
      const e = d + 1;
      if (flip) out.push(a, b, d, b, e, d);
      else out.push(a, d, b, b, d, e);
    }
  }
  return out;
}

// --- The face model ---------------------------------------------------------------------
// Head-bone-local coordinates (metres). The eyes are where rig.py puts eye_L / eye_R.

const EYE_L = new THREE.Vector3().fromArray(RIG.bones.find((b) => b.name === "eye_L").offset);
const HEAD_C = new THREE.Vector3(0, EYE_L.y - 0.006, 0.006); // centre of the skull ellipsoid
const EYE_R = 0.015; // eyeball radius (stylized: a little larger than life)
const MOUTH_Y = 0.026; // head-local height of the mouth line
const PLANE_D = 0.09; // projection plane distance for face-space (u, v) coordinates

// Face parameters. Mouth: jaw opening, width scale, upper-lip raise, rounding (pucker),
// corner lift (+smile / -frown), teeth and tongue visibility, lip press, lower lip tucked.
// Eyes: upper/lower lid edge angles (radians about the eye's horizontal axis). Brows:
// inner / middle / outer height offsets per side (metres), inner x squeeze.
const FACE_BASE = {
  jaw: 0, width: 1, upper: 0, round: 0, corner: 0.18, teethU: 0, teethL: 0, tongue: 0,
  press: 0, lipIn: 0, cheek: 0, chin: 0,
  lidU_L: 0.36, lidL_L: -0.5, lidU_R: 0.36, lidL_R: -0.5,
  bIn_L: 0, bMid_L: 0, bOut_L: 0, bSq_L: 0, bIn_R: 0, bMid_R: 0, bOut_R: 0, bSq_R: 0,
};

const both = (o) => {
  const out = {};
  for (const [k, v] of Object.entries(o)) {
    out[`${k}_L`] = v;
    out[`${k}_R`] = v;
  }
  return out;
};

// Rhubarb mouth shapes as face-parameter offsets from the rest mouth (X).
const MOUTH_PATCHES = {
  A: { press: 1, width: -0.04 }, // M B P: lips pressed
  B: { jaw: 0.22, teethU: 1, teethL: 1, width: 0.1 }, // K S T EE: clenched teeth, slightly open
  C: { jaw: 0.5, teethU: 0.7, width: 0.06, upper: 0.1 }, // EH AE: open
  D: { jaw: 1, teethU: 0.55, width: 0.02, upper: 0.15, tongue: 0.15 }, // AA: wide open
  E: { jaw: 0.45, round: 0.45, teethU: 0.3 }, // AO ER: slightly rounded
  F: { jaw: 0.12, round: 1, width: -0.02 }, // UW OW W: puckered
  G: { jaw: 0.14, teethU: 1, upper: 0.25, lipIn: 1 }, // F V: upper teeth on the lower lip
  H: { jaw: 0.42, tongue: 1, teethU: 0.5, width: 0.04 }, // L: tongue up behind the teeth
  X: {}, // rest
};

// Expression morphs (rig.py MORPHS) as face-parameter offsets.
const EXPRESSION_PATCHES = {
  smile: { corner: 1, width: 0.1, cheek: 0.55, ...both({ lidL: 0.05 }) },
  frown: { corner: -1, width: -0.04, chin: 1 },
  browInnerUp: { ...both({ bIn: 0.0055, bMid: 0.0018, bSq: 0.0008 }) },
  browDown_L: { bIn_L: -0.0042, bMid_L: -0.0026, bOut_L: -0.0008, bSq_L: 0.0022 },
  browDown_R: { bIn_R: -0.0042, bMid_R: -0.0026, bOut_R: -0.0008, bSq_R: 0.0022 },
  browUp_L: { bIn_L: 0.0035, bMid_L: 0.0058, bOut_L: 0.0038 },
  browUp_R: { bIn_R: 0.0035, bMid_R: 0.0058, bOut_R: 0.0038 },
  eyeSquint: { ...both({ lidL: 0.26, lidU: -0.07 }), cheek: 0.2 },
  eyeWide: { ...both({ lidU: 0.3, lidL: -0.06 }) },
  blink: { ...both({ lidU: -0.72, lidL: 0.2 }) },
  cheekRaise: { cheek: 1, ...both({ lidL: 0.1 }) },
};

function allMorphPatches() {
  const out = { ...EXPRESSION_PATCHES };
  for (const s of MOUTH_SHAPES) out[mouthMorphName(s)] = MOUTH_PATCHES[s];
  return out;
}

// Directional bumps on the skull: gaussians in (azimuth, elevation) around HEAD_C.
function dirAngles(d) {
  return [Math.atan2(d.x, d.z), Math.asin(clamp(d.y, -1, 1))];
}
function bump(ax, ay, cx, cy, wx, wy) {
  const dx = (ax - cx) / wx;
  const dy = (ay - cy) / wy;
  return Math.exp(-(dx * dx + dy * dy));
}

const EYE_DIR = new THREE.Vector3(EYE_L.x, EYE_L.y, EYE_L.z).sub(HEAD_C).normalize();
const [EYE_AX, EYE_AY] = dirAngles(EYE_DIR);

/** Skull radius along unit direction d (from HEAD_C), for face parameters p. */
function headRadius(d, p) {
  const [ax, ay] = dirAngles(d);
  const front = smoothstep(0.0, 0.8, d.z);
  const lower = smoothstep(0.15, -0.75, d.y);
  let rx = 0.082 * (1 - 0.2 * lower * (0.4 + 0.6 * front));
  const ry = d.y > 0 ? 0.108 : 0.094;
  let rz = 0.0985 * (1 + 0.08 * lower * front); // the lower face comes forward
  if (d.z < 0) rz *= 1 + 0.08 * smoothstep(-0.1, -0.8, d.z) * smoothstep(-0.7, 0.3, d.y); // occiput
  rx *= 1 + 0.04 * smoothstep(0.2, 0.6, d.y); // fuller cranium
  // A superellipsoid, squarer across the front (n > 2): a flatter face holds the eyes.
  const n = 2 + 0.7 * front * smoothstep(-0.6, 0.1, d.y);
  const h = Math.pow(Math.pow(Math.abs(d.x / rx), n) + Math.pow(Math.abs(d.z / rz), n), 2 / n);
  let r = 1 / Math.sqrt(h + (d.y / ry) ** 2);
  const side = Math.sign(ax) || 1;
  const aax = Math.abs(ax);
  // Eye sockets, brow ridge, cheeks, nose, chin.
  r -= 0.0078 * bump(aax, ay, EYE_AX, EYE_AY - 0.005, 0.2, 0.14);
  r += 0.0022 * bump(aax, ay, EYE_AX * 0.9, EYE_AY + 0.26, 0.3, 0.08);
  r += (0.0035 + 0.0028 * p.cheek) * bump(aax, ay - 0.012 * p.cheek, 0.44, -0.25, 0.17, 0.15);
  r += 0.0085 * bump(ax, ay, 0, -0.25, 0.07, 0.1); // nose body
  r += 0.0052 * bump(ax, ay, 0, -0.31, 0.07, 0.065); // nose tip
  r += 0.002 * bump(ax, ay, 0, -0.03, 0.06, 0.2); // bridge
  r += 0.0025 * bump(aax, ay, 0.085, -0.36, 0.05, 0.04); // nostril wings
  r += 0.004 * bump(ax, ay, 0, -0.9, 0.22, 0.14) * (1 - 0.2 * p.chin); // chin
  r += 0.0022 * bump(ax, ay, 0, -0.52, 0.28, 0.1); // upper lip area
  void side;
  return r;
}

/** Head-local point on the skin for a unit direction (plus a lift along the direction). */
function skinPoint(d, p, lift = 0, out = new THREE.Vector3()) {
  return out.copy(d).multiplyScalar(headRadius(d, p) + lift).add(HEAD_C);
}

/** Face-space (u right, v up, metres near the front) -> unit direction from HEAD_C. */
function faceDir(u, y, out = new THREE.Vector3()) {
  return out.set(u, y - HEAD_C.y, PLANE_D).normalize();
}

// Jaw: skin below the lower lip slides down over the chin when the mouth opens.
function jawDir(d, p, out) {
  const [, ay] = dirAngles(d);
  const mouthAy = Math.asin((MOUTH_Y - HEAD_C.y) / 0.095);
  const w = smoothstep(mouthAy - 0.14, mouthAy - 0.4, ay) * smoothstep(-0.2, 0.5, d.z);
  const angle = (0.1 * p.jaw + 0.015 * p.round) * w;
  out.copy(d).applyAxisAngle(new THREE.Vector3(1, 0, 0), angle).normalize();
  return out;
}

function buildHead(p, template, look) {
  const pos = template.positions;
  const out = new Float32Array(pos.length);
  const colors = new Float32Array(pos.length);
  const d = new THREE.Vector3();
  const dj = new THREE.Vector3();
  const q = new THREE.Vector3();
  const skin = new THREE.Color(look.skin);
  const blush = new THREE.Color(look.blush);
  const c = new THREE.Color();
  for (let i = 0; i < pos.length; i += 3) {
    d.set(pos[i], pos[i + 1], pos[i + 2]).normalize();
    jawDir(d, p, dj);
    skinPoint(dj, p, 0, q);
    const [ax, ay] = dirAngles(d);
    // Under-chin: drops a little further as the jaw opens.
    q.y -= 0.006 * p.jaw * smoothstep(-0.55, -0.95, d.y);
    out[i] = q.x;
    out[i + 1] = q.y;
    out[i + 2] = q.z;
    const aax = Math.abs(ax);
    const b = 0.55 * bump(aax, ay, 0.42, -0.3, 0.16, 0.14) + 0.25 * bump(ax, ay, 0, -0.3, 0.05, 0.06);
    c.copy(skin).lerp(blush, clamp(b, 0, 1) * 0.5);
    colors[i] = c.r;
    colors[i + 1] = c.g;
    colors[i + 2] = c.b;
  }
  return { positions: out, index: template.index, colors };
}

function sphereTemplate(wSeg, hSeg) {
  const g = new THREE.SphereGeometry(1, wSeg, hSeg);
  return { positions: g.getAttribute("position").array, index: Array.from(g.getIndex().array), uvs: g.getAttribute("uv").array };
}

// --- Mouth (lips, opening, teeth, tongue) --------------------------------------------------

const MOUTH_COLS = 28;

function mouthShape(p) {
  const round = clamp(p.round, 0, 1.2);
  const press = clamp(p.press, 0, 1);
  const W = 0.0205 * p.width * (1 - 0.4 * round);
  const open = (1 - press);
  const hU = (0.00045 + 0.0028 * p.jaw + 0.0035 * p.upper + 0.0032 * round) * open;
  const hL = (0.00045 + 0.0128 * p.jaw + 0.0028 * round) * open - 0.001 * p.lipIn;
  const cornerDy = 0.0052 * p.corner;
  const prof = (t, e) => Math.pow(Math.max(0, 1 - t * t), e);
  const e = 0.55 - 0.2 * round;
  const line = (t) => cornerDy * t * t - 0.0012 * p.corner * (1 - t * t) + 0.0015 * p.chin * t * t * -0.3;
  return {
    W,
    yU: (t) => line(t) + hU * prof(t, e),
    yL: (t) => line(t) - hL * prof(t, e),
    tU: (t) => 0.0042 * (1 + 0.25 * round - 0.3 * press) * prof(t, 0.45) *
      (1 - 0.16 * Math.exp(-(((t * W) / 0.0032) ** 2)) + 0.06 * Math.exp(-(((Math.abs(t * W) - 0.0055) / 0.003) ** 2))),
    tL: (t) => 0.0056 * (1 + 0.3 * round - 0.25 * press - 0.35 * p.lipIn) * prof(t, 0.5),
    liftU: 0.0021 * (1 + 0.4 * round),
    liftL: 0.0024 * (1 + 0.4 * round - 0.35 * p.lipIn),
  };
}

function buildMouth(p, look) {
  const s = mouthShape(p);
  const positions = [];
  const colors = [];
  const index = [];
  const dir = new THREE.Vector3();
  const pt = new THREE.Vector3();
  const col = (hex) => new THREE.Color(hex);
  const skin = col(look.skin);
  const lips = col(look.lips);
  const push = (u, v, lift, color) => {
    faceDir(u, MOUTH_Y + v, dir);
    skinPoint(dir, p, lift, pt);
    positions.push(pt.x, pt.y, pt.z);
    colors.push(color.r, color.g, color.b);
  };
  const ts = [];
  for (let i = 0; i <= MOUTH_COLS; i++) ts.push(-Math.cos((Math.PI * i) / MOUTH_COLS));
  const cols = ts.length;

  // Opening (dark cavity): rows upper edge -> middle -> lower edge.
  const cavity = col(look.mouth);
  const deep = cavity.clone().multiplyScalar(0.55);
  let base = positions.length / 3;
  for (let r = 0; r < 3; r++) {
    for (const t of ts) {
      const u = t * s.W;
      const v = r === 0 ? s.yU(t) + 0.0006 : r === 2 ? s.yL(t) - 0.0006 : (s.yU(t) + s.yL(t)) / 2;
      push(u, v, 0.00025, r === 1 ? deep : cavity);
    }
  }
  gridIndex(3, cols, base, index);

  // Tongue: rises from the lower edge.
  const tongue = col(look.tongue);
  base = positions.length / 3;
  for (let r = 0; r < 2; r++) {
    for (const t of ts) {
      const tt = t * 0.78;
      const u = tt * s.W;
      const gap = s.yU(tt) - s.yL(tt);
      const h = Math.min((0.0028 * p.jaw + 0.0065 * p.tongue) * Math.pow(1 - tt * tt, 0.6), gap * 0.82);
      const v = r === 0 ? s.yL(tt) + h : s.yL(tt) - 0.0003;
      push(u, v, 0.0005, r === 0 ? tongue : tongue.clone().multiplyScalar(0.75));
    }
  }
  gridIndex(2, cols, base, index);

  // Upper and lower teeth bands (their hidden edge tucks under the lip).
  const teeth = col(look.teeth);
  const teethShade = teeth.clone().multiplyScalar(0.82);
  for (const upper of [true, false]) {
    base = positions.length / 3;
    for (let r = 0; r < 2; r++) {
      for (const t of ts) {
        const tt = t * 0.84;
        const u = tt * s.W;
        const gap = Math.max(0, s.yU(tt) - s.yL(tt));
        const vis = upper ? p.teethU : p.teethL;
        const hMax = upper ? 0.0036 : 0.0022;
        const h = Math.min(hMax * clamp(vis, 0, 1.2), gap * (upper ? 0.9 : 0.5)) * Math.pow(1 - tt * tt, 0.25);
        const hide = Math.min(0.0012, 0.4 * (upper ? s.tU(tt) : s.tL(tt)));
        const v = upper
          ? (r === 0 ? s.yU(tt) + hide : s.yU(tt) - h)
          : (r === 0 ? s.yL(tt) - hide : s.yL(tt) + h);
        // tooth edges: a faint scallop every ~3.4 mm
        const scallop = r === 1 ? 0.00025 * (1 - Math.abs(Math.cos((u / 0.0034) * Math.PI))) * (vis > 0 ? 1 : 0) : 0;
        push(u, v + (upper ? scallop : -scallop), upper ? 0.0008 : 0.0007, r === 0 ? teethShade : teeth);
      }
    }
    gridIndex(2, cols, base, index, !upper);
  }

  // Lips: rows from the inner roll (inside the opening) to the outer border.
  const LIP_ROWS = 7;
  for (const upper of [true, false]) {
    base = positions.length / 3;
    for (let r = 0; r < LIP_ROWS; r++) {
      const f = r / (LIP_ROWS - 1); // 0 = inner roll, 1 = outer border
      for (const t of ts) {
        const edge = upper ? s.yU(t) : s.yL(t);
        const thick = upper ? s.tU(t) : s.tL(t);
        const sign = upper ? 1 : -1;
        const taper = Math.pow(Math.max(0, 1 - t * t), 0.35);
        const lift0 = (upper ? s.liftU : s.liftL) * taper;
        let v;
        let lift;
        if (r === 0) {
          v = edge - sign * 0.0007 * taper;
          lift = 0.0011 * taper + 0.0002;
        } else {
          const g = (r - 1) / (LIP_ROWS - 2); // 0..1 across the lip
          v = edge + sign * thick * g;
          lift = lift0 * Math.pow(Math.cos((g * Math.PI) / 2), 0.7) * (1 - 0.25 * (1 - g) * (1 - g)) + 0.00012;
        }
        const u = t * s.W * (1 + 0.06 * f);
        const blend = smoothstep(0.55, 1.0, f);
        const c = lips.clone().lerp(skin, blend);
        if (r <= 1) c.multiplyScalar(0.8);
        push(u, v, lift, c);
      }
    }
    gridIndex(LIP_ROWS, cols, base, index, upper);
  }
  return { positions: new Float32Array(positions), colors: new Float32Array(colors), index };
}

// --- Eyelids and lashes ------------------------------------------------------------------

const LID_COLS = 26;
const LID_ROWS = 9;

function lidDir(a, theta, out) {
  return out.set(Math.sin(a), Math.cos(a) * Math.sin(theta), Math.cos(a) * Math.cos(theta));
}

function buildLids(p, side, look) {
  const sx = side === "L" ? 1 : -1;
  const centre = new THREE.Vector3(EYE_L.x * sx, EYE_L.y, EYE_L.z);
  const positions = [];
  const colors = [];
  const index = [];
  const d = new THREE.Vector3();
  const skin = new THREE.Color(look.skin);
  const lidTint = skin.clone().lerp(new THREE.Color("#c98f86"), 0.3);
  const lash = new THREE.Color("#1e1412");
  const R = EYE_R * 1.055;
  const A = Math.PI / 2 + 0.3; // past the corners: with the eyeball, the lids close a full shell
  const LASH_A = 1.4;
  const groups = [];
  const push = (a, theta, r, color, dy = 0) => {
    lidDir(a * sx, theta, d);
    positions.push(centre.x + d.x * r, centre.y + d.y * r + dy, centre.z + d.z * r);
    colors.push(color.r, color.g, color.b);
  };
  const cols = LID_COLS + 1;
  const as = [];
  for (let i = 0; i <= LID_COLS; i++) {
    const t = -1 + (2 * i) / LID_COLS;
    as.push(A * Math.sign(t) * Math.pow(Math.abs(t), 0.8)); // denser near the front
  }
  // The outer corner (a > 0) sits a little higher: friendly almond eyes.
  const tilt = (a) => 0.07 * Math.max(Math.min(a, 1.5), 0) - 0.03 * Math.max(Math.min(-a, 1.5), 0);

  const upperEdge = p[`lidU_${side}`];
  const lowerEdge = p[`lidL_${side}`];
  let base = positions.length / 3;
  for (let r = 0; r < LID_ROWS; r++) {
    for (const a of as) {
      const e = upperEdge + tilt(a) * 0.5;
      if (r === 0) push(a, e - 0.02, EYE_R * 1.012, lash);
      else {
        const f = (r - 1) / (LID_ROWS - 2);
        push(a, e + 0.05 + 2.6 * Math.pow(f, 1.4), R, r === 1 ? lidTint : skin);
      }
    }
  }
  gridIndex(LID_ROWS, cols, base, index, sx > 0);
  base = positions.length / 3;
  for (let r = 0; r < LID_ROWS; r++) {
    for (const a of as) {
      const e = lowerEdge + tilt(a) * 0.3;
      if (r === 0) push(a, e + 0.02, EYE_R * 1.01, lidTint.clone().multiplyScalar(0.92));
      else {
        const f = (r - 1) / (LID_ROWS - 2);
        push(a, e - 0.05 - 2.4 * Math.pow(f, 1.4), R * 0.995, skin);
      }
    }
  }
  gridIndex(LID_ROWS, cols, base, index, sx < 0);
  const skinCount = index.length;
  // Lashes: a dark band along the upper edge, flaring out towards the outer corner.
  base = positions.length / 3;
  for (let r = 0; r < 3; r++) {
    for (const a0 of as) {
      const a = clamp(a0, -LASH_A, LASH_A);
      const e = upperEdge + tilt(a) * 0.5;
      const outer = smoothstep(0.2, LASH_A, a);
      const len = 0.06 + 0.12 * outer;
      const th = e - 0.012 + len * (r / 2);
      const rr = R * (1.004 + 0.07 * (r / 2) * (0.6 + outer));
      push(a, th, rr, lash, 0.0003 * r * outer);
    }
  }
  gridIndex(3, cols, base, index, sx > 0);
  groups.push({ start: 0, count: skinCount, material: 0 });
  groups.push({ start: skinCount, count: index.length - skinCount, material: 1 });
  return { positions: new Float32Array(positions), colors: new Float32Array(colors), index, groups };
}

// --- Brows -------------------------------------------------------------------------------

const BROW_COLS = 18;

function buildBrows(p, look) {
  const positions = [];
  const index = [];
  const dir = new THREE.Vector3();
  const pt = new THREE.Vector3();
  const y0 = EYE_L.y;
  for (const side of ["L", "R"]) {
    const sx = side === "L" ? 1 : -1;
    const sq = p[`bSq_${side}`];
    const ctrl = [
      [0.0105 - sq, y0 + 0.0215 + p[`bIn_${side}`]],
      [0.03, y0 + 0.0285 + p[`bMid_${side}`]],
      [0.0505, y0 + 0.0215 + p[`bOut_${side}`]],
    ];
    const base = positions.length / 3;
    const rows = 5;
    for (let r = 0; r < rows; r++) {
      const g = r / (rows - 1) - 0.5; // across the brow
      for (let i = 0; i <= BROW_COLS; i++) {
        const t = i / BROW_COLS;
        // quadratic Bezier through the control points (middle one is passed through)
        const mid = [2 * ctrl[1][0] - (ctrl[0][0] + ctrl[2][0]) / 2, 2 * ctrl[1][1] - (ctrl[0][1] + ctrl[2][1]) / 2];
        const bx = (1 - t) ** 2 * ctrl[0][0] + 2 * (1 - t) * t * mid[0] + t * t * ctrl[2][0];
        const by = (1 - t) ** 2 * ctrl[0][1] + 2 * (1 - t) * t * mid[1] + t * t * ctrl[2][1];
        const tx = 2 * (1 - t) * (mid[0] - ctrl[0][0]) + 2 * t * (ctrl[2][0] - mid[0]);
        const ty = 2 * (1 - t) * (mid[1] - ctrl[0][1]) + 2 * t * (ctrl[2][1] - mid[1]);
        const len = Math.hypot(tx, ty) || 1;
        const width = lerp(0.0052, 0.0022, Math.pow(t, 1.2)) * (t < 0.08 ? 0.75 + 3 * t : 1);
        const nx = -ty / len;
        const ny = tx / len;
        const u = (bx + nx * g * width) * sx;
        const v = by + ny * g * width;
        faceDir(u, v, dir);
        const lift = 0.0006 + 0.0009 * Math.cos(g * Math.PI);
        skinPoint(dir, p, lift, pt);
        positions.push(pt.x, pt.y, pt.z);
      }
    }
    gridIndex(rows, BROW_COLS + 1, base, index, sx > 0);
  }
  return { positions: new Float32Array(positions), index };
}

// --- Hair --------------------------------------------------------------------------------

const HAIR_COLS = 128;
const HAIR_ROWS = 44;

/** Elevation (radians, from HEAD_C) where the hair ends, by azimuth. */
function hairEdge(ax) {
  const aax = Math.abs(ax);
  // side-swept fringe: lower on the avatar's right (-x), with a few soft locks
  const fringe = 0.6 + 0.075 * Math.tanh(3 * (ax - 0.05)) - 0.035 * Math.pow(Math.abs(Math.sin(ax * 5 + 0.6)), 4) * smoothstep(0.9, 0.2, aax);
  const temple = lerp(fringe, 0.3, smoothstep(0.45, 0.95, aax));
  const side = lerp(temple, 0.16, smoothstep(0.95, 1.3, aax));
  return lerp(side, -0.5, smoothstep(1.45, 2.35, aax));
}

function buildHair() {
  const positions = [];
  const index = [];
  const d = new THREE.Vector3();
  const p = FACE_BASE;
  const cols = HAIR_COLS + 1;
  for (let r = 0; r <= HAIR_ROWS; r++) {
    const t = r / HAIR_ROWS;
    for (let c = 0; c <= HAIR_COLS; c++) {
      const ax = -Math.PI + (2 * Math.PI * c) / HAIR_COLS;
      const edge = hairEdge(ax);
      const last = r === HAIR_ROWS;
      const tt = Math.min(1, t / (1 - 1 / HAIR_ROWS));
      let ay = lerp(Math.PI / 2 - 1e-4, edge, Math.pow(tt, 0.85));
      if (last) ay = edge - 0.008;
      d.set(Math.cos(ay) * Math.sin(ax), Math.sin(ay), Math.cos(ay) * Math.cos(ax));
      const crown = smoothstep(-0.2, 1.0, ay);
      const grooves = 0.0011 * Math.sin(ax * 26 + tt * 4) * smoothstep(0.3, 1, tt);
      // thick over the crown, thinning to a soft rounded edge (a tall edge wall reads as a helmet)
      const edgeFade = Math.sqrt(Math.max(0, 1 - Math.pow(tt, 6)));
      let lift = (0.006 + 0.016 * crown) * (0.25 + 0.75 * edgeFade) + grooves * edgeFade + 0.0012;
      if (last) lift = -0.002;
      const q = d.clone().multiplyScalar(headRadius(d, p) + lift).add(HEAD_C);
      // the fringe falls a little forward over the forehead
      q.z += 0.003 * smoothstep(0.6, 1, tt) * smoothstep(0.5, 0.95, d.z);
      positions.push(q.x, q.y, q.z);
    }
  }
  gridIndex(HAIR_ROWS + 1, cols, 0, index);
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.Float32BufferAttribute(positions, 3));
  g.setIndex(index);
  g.computeVertexNormals();
  return g;
}

// --- Eyes ----------------------------------------------------------------------------------

function eyeTexture(look) {
  const w = 64;
  const h = 256;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  // Row = polar angle from the front pole (top row = pupil centre).
  const row = (angle) => (angle / Math.PI) * h;
  const sclera = ctx.createLinearGradient(0, row(0.5), 0, h);
  sclera.addColorStop(0, "#fbf7f2");
  sclera.addColorStop(0.5, "#f1e6e0");
  sclera.addColorStop(1, "#e2cfc8");
  ctx.fillStyle = sclera;
  ctx.fillRect(0, 0, w, h);
  const irisEnd = row(0.56);
  const iris = ctx.createLinearGradient(0, 0, 0, irisEnd);
  iris.addColorStop(0, look.irisInner);
  iris.addColorStop(0.45, look.irisInner);
  iris.addColorStop(0.62, look.iris);
  iris.addColorStop(0.9, look.iris);
  iris.addColorStop(1, "#233020");
  ctx.fillStyle = iris;
  ctx.fillRect(0, 0, w, irisEnd);
  // radial fibres
  for (let x = 0; x < w; x += 2) {
    ctx.fillStyle = `rgba(255,255,255,${0.05 + 0.08 * Math.abs(Math.sin(x * 1.7))})`;
    ctx.fillRect(x, row(0.24), 1, irisEnd - row(0.24) - 2);
  }
  ctx.fillStyle = "#0b0908";
  ctx.fillRect(0, 0, w, row(0.24));
  // limbal ring fade into the sclera
  const limb = ctx.createLinearGradient(0, irisEnd - 2, 0, irisEnd + 4);
  limb.addColorStop(0, "rgba(20,28,18,0.9)");
  limb.addColorStop(1, "rgba(20,28,18,0)");
  ctx.fillStyle = limb;
  ctx.fillRect(0, irisEnd - 2, w, 6);
  const tex = new THREE.CanvasTexture(canvas);
  tex.colorSpace = THREE.SRGBColorSpace;
  tex.anisotropy = 4;
  return tex;
}

function buildEye(material) {
  const g = new THREE.SphereGeometry(EYE_R, 40, 28);
  g.rotateX(Math.PI / 2); // the UV pole (top row of the texture) now looks along +Z
  const eye = new THREE.Mesh(g, material);
  eye.name = "eyeball";
  return eye;
}

// --- Body (skinned) --------------------------------------------------------------------------

/** A vertical loft of superellipse rings, capped at both ends; weights(x, y, z) -> [[bone, w]...]. */
function loft(rings, segments, weightsFn, boneIndex) {
  const positions = [];
  const skinIndex = [];
  const skinWeight = [];
  const index = [];
  const pushVertex = (x, y, z) => {
    positions.push(x, y, z);
    const ws = weightsFn(x, y, z).filter(([, w]) => w > 1e-4).sort((a, b) => b[1] - a[1]).slice(0, 4);
    const total = ws.reduce((s, [, w]) => s + w, 0) || 1;
    const idx = [0, 0, 0, 0];
    const wt = [0, 0, 0, 0];
    ws.forEach(([name, w], k) => {
      idx[k] = boneIndex.get(name);
      wt[k] = w / total;
    });
    skinIndex.push(...idx);
    skinWeight.push(...wt);
  };
  for (const ring of rings) {
    for (let s = 0; s <= segments; s++) {
      const a = (s / segments) * Math.PI * 2;
      const c = Math.cos(a);
      const sn = Math.sin(a);
      const e = 2 / (ring.power ?? 2.4);
      const x = ring.cx + ring.rx * Math.sign(sn) * Math.pow(Math.abs(sn), e);
      const z = ring.cz + ring.rz * Math.sign(c) * Math.pow(Math.abs(c), e);
      pushVertex(x, ring.y, z);
    }
  }
  const cols = segments + 1;
  gridIndex(rings.length, cols, 0, index, true);
  // caps
  const top = rings[rings.length - 1];
  const bottom = rings[0];
  const topIndex = positions.length / 3;
  pushVertex(top.cx, top.y + (top.capLift ?? 0), top.cz);
  const bottomIndex = positions.length / 3;
  pushVertex(bottom.cx, bottom.y - (bottom.capLift ?? 0), bottom.cz);
  const last = (rings.length - 1) * cols;
  for (let s = 0; s < segments; s++) {
    index.push(last + s, last + s + 1, topIndex);
    index.push(s + 1, s, bottomIndex);
  }
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.Float32BufferAttribute(positions, 3));
  g.setAttribute("skinIndex", new THREE.Uint16BufferAttribute(skinIndex, 4));
  g.setAttribute("skinWeight", new THREE.Float32BufferAttribute(skinWeight, 4));
  g.setIndex(index);
  g.computeVertexNormals();
  return g;
}

function torsoRings() {
  // [y, half width, half depth, z offset, superellipse power]
  const table = [
    [0.86, 0.13, 0.092, 0.0, 2.6],
    [0.98, 0.126, 0.09, 0.0, 2.6],
    [1.08, 0.116, 0.084, 0.002, 2.5],
    [1.18, 0.122, 0.09, 0.006, 2.5],
    [1.26, 0.132, 0.098, 0.01, 2.5],
    [1.32, 0.142, 0.1, 0.008, 2.6],
    [1.35, 0.158, 0.097, 0.005, 2.8],
    [1.375, 0.19, 0.09, 0.002, 3.2],
    [1.398, 0.21, 0.082, 0.0, 3.2],
    [1.418, 0.2, 0.076, -0.002, 3.0],
    [1.438, 0.165, 0.07, -0.004, 2.7],
    [1.456, 0.124, 0.064, -0.006, 2.4],
    [1.472, 0.092, 0.059, -0.007, 2.3],
    [1.488, 0.066, 0.055, -0.009, 2.1],
  ];
  return table.map(([y, rx, rz, cz, power]) => ({ y, rx, rz, cx: 0, cz, power, capLift: 0.004 }));
}

function armRings(side) {
  const sx = side === "L" ? 1 : -1;
  const o = restOrigin(`upperArm_${side}`);
  // [dy from the shoulder joint, radius x, radius z]
  const table = [
    [-0.52, 0.022, 0.022],
    [-0.512, 0.0335, 0.033],
    [-0.488, 0.0345, 0.034],
    [-0.47, 0.031, 0.03],
    [-0.4, 0.034, 0.033],
    [-0.32, 0.037, 0.036],
    [-0.27, 0.038, 0.037],
    [-0.2, 0.04, 0.039],
    [-0.1, 0.043, 0.042],
    [-0.03, 0.046, 0.045],
    [0.0, 0.045, 0.044],
    [0.014, 0.038, 0.038],
    [0.024, 0.025, 0.025],
    [0.03, 0.01, 0.01],
  ];
  return table.map(([dy, rx, rz]) => ({ y: o.y + dy, rx, rz, cx: o.x + 0.004 * sx, cz: o.z, power: 2, capLift: 0.002 }));
}

// --- Hands (rigid, parented to the hand bones) --------------------------------------------------

function buildHand(side, skinMat) {
  const sx = side === "L" ? 1 : -1;
  const group = new THREE.Group();
  group.name = `handMesh_${side}`;
  const capsule = (r, len) => new THREE.CapsuleGeometry(r, len, 6, 12);
  const add = (geo, x, y, z, rx = 0, ry = 0, rz = 0, sxs = 1, sys = 1, szs = 1) => {
    const m = new THREE.Mesh(geo, skinMat);
    m.position.set(x, y, z);
    m.rotation.set(rx, ry, rz);
    m.scale.set(sxs, sys, szs);
    group.add(m);
    return m;
  };
  // wrist and palm (palm faces the body: its normal is -x for the left hand)
  add(capsule(0.021, 0.03), 0, -0.005, 0);
  add(new THREE.SphereGeometry(0.04, 20, 14), 0, -0.05, 0.002, 0, 0, 0, 0.48, 1.05, 0.95);
  // four fingers, slightly curled towards the palm
  const fingers = [
    [0.026, 0.05, 0.0095],
    [0.009, 0.056, 0.01],
    [-0.009, 0.052, 0.0095],
    [-0.025, 0.043, 0.0085],
  ];
  for (const [z, len, r] of fingers) {
    const f = add(capsule(r, len), -0.004 * sx, -0.088 - len * 0.35, z, 0, 0, -0.25 * sx);
    f.position.x -= 0.01 * sx;
  }
  // thumb, forward and down
  add(capsule(0.0105, 0.035), -0.012 * sx, -0.052, 0.035, 0.7, 0, -0.35 * sx);
  return group;
}

// --- Assembly -----------------------------------------------------------------------------------

/**
 * Build the avatar. Returns {root, bones, skeleton, morphMeshes, eyeMeshes, look}.
 * root is an Object3D whose descendants include every bone (named as in rig.py).
 */
export function buildDefaultAvatar(lookOverrides = {}) {
  const look = { ...DEFAULT_LOOK, ...lookOverrides };
  const root = new THREE.Group();
  root.name = "avatar";
  const bones = buildBones();
  const hips = bones.get("hips");
  root.add(hips);
  root.updateMatrixWorld(true);
  const boneList = RIG.bones.map((b) => bones.get(b.name));
  const skeleton = new THREE.Skeleton(boneList);
  const boneIndex = new Map(RIG.bones.map((b, i) => [b.name, i]));

  const skinMat = new THREE.MeshPhysicalMaterial({
    color: look.skin, roughness: 0.62, sheen: 0.35, sheenColor: new THREE.Color("#ffb59c"), sheenRoughness: 0.5,
  });
  const skinVC = skinMat.clone();
  skinVC.color.set("#ffffff");
  skinVC.vertexColors = true;
  const shirtMat = new THREE.MeshPhysicalMaterial({
    color: look.shirt, roughness: 0.85, sheen: 0.8, sheenColor: new THREE.Color("#a8e0e6"), sheenRoughness: 0.7,
  });
  const hairMat = new THREE.MeshPhysicalMaterial({
    color: look.hair, roughness: 0.5, sheen: 1.0, sheenColor: new THREE.Color("#b07a55"), sheenRoughness: 0.35,
  });
  const browMat = new THREE.MeshStandardMaterial({ color: look.brows, roughness: 0.8 });
  const morphMeshes = [];

  // Torso, arms and neck: skinned to the rig's skeleton.
  const chestY = restOrigin("chest").y;
  const spineY = restOrigin("spine").y;
  const torsoWeights = (x, y) => {
    const up = smoothstep(spineY + 0.06, chestY + 0.04, y);
    const low = smoothstep(0.97, 1.1, y);
    const shoulder = smoothstep(0.085, 0.15, Math.abs(x)) * smoothstep(1.33, 1.4, y);
    // the outer shoulder is the top of the arm: it follows the arm when it lifts
    const arm = smoothstep(0.145, 0.2, Math.abs(x)) * smoothstep(1.33, 1.38, y) * 0.85;
    const side = x > 0 ? "L" : "R";
    const body = 1 - shoulder;
    return [
      ["hips", body * (1 - low)],
      ["spine", body * low * (1 - up)],
      ["chest", body * low * up],
      [`shoulder_${side}`, shoulder * (1 - arm)],
      [`upperArm_${side}`, shoulder * arm],
    ];
  };
  const torso = new THREE.SkinnedMesh(loft(torsoRings(), 48, torsoWeights, boneIndex), shirtMat);
  torso.name = "body";
  const armWeights = (side) => (x, y) => {
    const o = restOrigin(`upperArm_${side}`);
    const dy = y - o.y;
    const elbow = smoothstep(-0.235, -0.305, dy);
    const wrist = smoothstep(-0.47, -0.515, dy) * 0.7;
    return [
      [`upperArm_${side}`, 1 - elbow],
      [`lowerArm_${side}`, elbow * (1 - wrist)],
      [`hand_${side}`, elbow * wrist],
    ];
  };
  const arms = ["L", "R"].map((side) => {
    const m = new THREE.SkinnedMesh(loft(armRings(side), 28, armWeights(side), boneIndex), shirtMat);
    m.name = `sleeve_${side}`;
    return m;
  });
  const neckY = restOrigin("neck").y;
  const headY = restOrigin("head").y;
  const neckRings = [];
  for (let k = 0; k <= 8; k++) {
    const y = lerp(1.42, headY + 0.05, k / 8);
    const flare = 1 + 0.18 * smoothstep(1.52, 1.44, y);
    neckRings.push({ y, rx: 0.05 * flare, rz: 0.047 * flare, cx: 0, cz: -0.01, power: 2, capLift: 0.01 });
  }
  const neckWeights = (x, y) => {
    const n = smoothstep(neckY - 0.03, neckY + 0.02, y);
    const h = smoothstep(headY - 0.035, headY + 0.01, y);
    return [["chest", 1 - n], ["neck", n * (1 - h)], ["head", n * h]];
  };
  const neck = new THREE.SkinnedMesh(loft(neckRings, 28, neckWeights, boneIndex), skinMat);
  neck.name = "neck";
  for (const m of [torso, ...arms, neck]) {
    root.add(m);
    m.bind(skeleton, new THREE.Matrix4());
    m.frustumCulled = false;
  }

  // Collar (rigid on the chest).
  const collar = new THREE.Mesh(new THREE.TorusGeometry(0.061, 0.009, 12, 48), new THREE.MeshPhysicalMaterial({
    color: look.collar, roughness: 0.8, sheen: 0.6, sheenColor: new THREE.Color("#9fd4da"),
  }));
  collar.name = "collar";
  collar.rotation.x = Math.PI / 2 - 0.22;
  collar.scale.set(1.06, 1.0, 1);
  collar.position.set(0, 1.481 - chestY, -0.008);
  bones.get("chest").add(collar);

  // Head: skin with morphs, mouth, lids, brows, hair, ears, eyes.
  const head = bones.get("head");
  const morphs = allMorphPatches();
  const headTemplate = sphereTemplate(112, 84);
  const headMorphNames = ["smile", "frown", "cheekRaise", "eyeSquint", ...MOUTH_SHAPES.map(mouthMorphName)];
  const headGeo = parametricGeometry(
    (p) => buildHead(p, headTemplate, look), FACE_BASE,
    Object.fromEntries(headMorphNames.map((n) => [n, morphs[n]])),
  );
  const headMesh = new THREE.Mesh(headGeo, skinVC);
  headMesh.name = "headSkin";
  head.add(headMesh);
  morphMeshes.push(headMesh);

  const mouthMat = new THREE.MeshPhysicalMaterial({
    vertexColors: true, roughness: 0.42, sheen: 0.3, sheenColor: new THREE.Color("#ffc0b0"),
    polygonOffset: true, polygonOffsetFactor: -1, polygonOffsetUnits: -2,
  });
  const mouthNames = ["smile", "frown", "cheekRaise", ...MOUTH_SHAPES.map(mouthMorphName)];
  const mouthMesh = new THREE.Mesh(
    parametricGeometry((p) => buildMouth(p, look), FACE_BASE, Object.fromEntries(mouthNames.map((n) => [n, morphs[n]]))),
    mouthMat,
  );
  mouthMesh.name = "mouth";
  head.add(mouthMesh);
  morphMeshes.push(mouthMesh);

  const lashMat = new THREE.MeshStandardMaterial({ color: "#1b1210", roughness: 0.7, side: THREE.DoubleSide });
  const lidNames = ["blink", "eyeWide", "eyeSquint", "smile", "cheekRaise"];
  for (const side of ["L", "R"]) {
    const lids = new THREE.Mesh(
      parametricGeometry((p) => buildLids(p, side, look), FACE_BASE, Object.fromEntries(lidNames.map((n) => [n, morphs[n]]))),
      [skinVC, lashMat],
    );
    lids.name = `lids_${side}`;
    head.add(lids);
    morphMeshes.push(lids);
  }

  const browNames = ["browInnerUp", "browDown_L", "browDown_R", "browUp_L", "browUp_R"];
  const brows = new THREE.Mesh(
    parametricGeometry((p) => buildBrows(p, look), FACE_BASE, Object.fromEntries(browNames.map((n) => [n, morphs[n]]))),
    browMat,
  );
  brows.name = "brows";
  head.add(brows);
  morphMeshes.push(brows);

  const hair = new THREE.Mesh(buildHair(), hairMat);
  hair.name = "hair";
  head.add(hair);

  for (const side of ["L", "R"]) {
    const sx = side === "L" ? 1 : -1;
    const ear = new THREE.Mesh(new THREE.SphereGeometry(1, 20, 14), skinMat);
    ear.name = `ear_${side}`;
    ear.scale.set(0.0095, 0.022, 0.015);
    ear.position.set(0.079 * sx, EYE_L.y - 0.012, -0.006);
    ear.rotation.set(0.1, 0.35 * sx, -0.08 * sx);
    head.add(ear);
  }

  const eyeMat = new THREE.MeshPhysicalMaterial({
    map: eyeTexture(look), roughness: 0.25, clearcoat: 1, clearcoatRoughness: 0.04,
  });
  const eyeMeshes = [];
  for (const side of ["L", "R"]) {
    const eye = buildEye(eyeMat);
    eye.name = `eyeball_${side}`;
    bones.get(`eye_${side}`).add(eye);
    eyeMeshes.push(eye);
  }

  // Hands.
  for (const side of ["L", "R"]) bones.get(`hand_${side}`).add(buildHand(side, skinMat));

  for (const m of morphMeshes) m.updateMorphTargets();
  root.traverse((o) => {
    if (o.isMesh) o.castShadow = o.receiveShadow = false;
  });
  return { root, bones, skeleton, morphMeshes, eyeMeshes, look, kind: "builtin" };
}

// Exposed for tests and tools.
export const _internals = { FACE_BASE, MOUTH_PATCHES, EXPRESSION_PATCHES, headRadius, restOrigin };
