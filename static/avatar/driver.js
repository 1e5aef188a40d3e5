// The avatar driver: one small interface over any avatar that has the rig's bones and some
// face morphs, the built-in one (avatar.js) or an uploaded GLB with ARKit or Oculus viseme
// morphs (avatar-view.js), its mouth driven through the admin's viseme mapping.
//
//   setMouthShape({A..H, X})   lip-sync weights (Rhubarb shapes), every frame
//   setVisemes({aa, E, ...})   the same from Oculus viseme weights
//   setExpression(label)       "happy" | "sad" | "thinking" | "neutral", eased in and out
//   playMotion(clip, {startAt}) an AnimationClip (see motion.js), cross-faded in at startAt
//   returnToIdle()             cross-fade back to the local idle loop
//   update(dt)                 once per frame
//
// Layers on the face: the motion clip's morph tracks animate a proxy object (never the
// meshes directly), then every frame the driver composes proxy, expression and local
// blink (max of the three) and the lip-sync mouth, and writes the result to every mesh
// that carries a matching morph target. Nothing fights over a morph.

import * as THREE from "three";
import { RIG, EXPRESSION_MORPHS, MOUTH_SHAPES, mouthMorphName } from "./rig.js";
import { RHUBARB_TO_OCULUS, RHUBARB_TO_ARKIT, OCULUS_TO_RHUBARB, convertWeights, restWeights } from "./lipsync.js";
import { MORPH_NODE, clipFromKeyframes, clipHasMorph, localIdleKeyframes } from "./motion.js";

// Our expression morph -> ARKit blend shapes (for GLB avatars with ARKit names).
export const EXPRESSION_TO_ARKIT = {
  smile: ["mouthSmileLeft", "mouthSmileRight"],
  frown: ["mouthFrownLeft", "mouthFrownRight"],
  browInnerUp: ["browInnerUp"],
  browDown_L: ["browDownLeft"],
  browDown_R: ["browDownRight"],
  browUp_L: ["browOuterUpLeft"],
  browUp_R: ["browOuterUpRight"],
  eyeSquint: ["eyeSquintLeft", "eyeSquintRight"],
  eyeWide: ["eyeWideLeft", "eyeWideRight"],
  blink: ["eyeBlinkLeft", "eyeBlinkRight"],
  cheekRaise: ["cheekSquintLeft", "cheekSquintRight"],
};

// Rig bone -> common names in humanoid GLBs (Ready Player Me / Mixamo style), tried in order.
export const BONE_ALIASES = {
  hips: ["Hips"], spine: ["Spine"], chest: ["Spine2", "Spine1", "Chest"], neck: ["Neck"], head: ["Head"],
  eye_L: ["LeftEye"], eye_R: ["RightEye"],
  shoulder_L: ["LeftShoulder"], upperArm_L: ["LeftArm", "LeftUpperArm"], lowerArm_L: ["LeftForeArm", "LeftLowerArm"], hand_L: ["LeftHand"],
  shoulder_R: ["RightShoulder"], upperArm_R: ["RightArm", "RightUpperArm"], lowerArm_R: ["RightForeArm", "RightLowerArm"], hand_R: ["RightHand"],
};

// Local facial expressions for SentimentAnalyzed labels (the motion clip may add its own;
// the driver takes the max, so they never add up).
export const EXPRESSIONS = {
  neutral: {},
  happy: { smile: 0.5, cheekRaise: 0.35, eyeSquint: 0.15, browUp_L: 0.12, browUp_R: 0.12 },
  sad: { frown: 0.45, browInnerUp: 0.65, blink: 0.12 },
  thinking: { browDown_L: 0.35, browUp_R: 0.3, eyeSquint: 0.12, frown: 0.1 },
};

const EXPRESSION_TAU = 0.35; // seconds: expressions ease in/out
const MOUTH_TAU = 0.025; // seconds: a light follower over the (already smooth) cue weights

function findNode(root, names) {
  for (const n of names) {
    const node = root.getObjectByName(n);
    if (node) return node;
  }
  return null;
}

/** Describe any Object3D (built-in or loaded GLB) as the driver's avatar. */
export function describeAvatar(root) {
  const bones = new Map();
  for (const spec of RIG.bones) {
    const node = findNode(root, [spec.name, ...(BONE_ALIASES[spec.name] || []), `mixamorig${(BONE_ALIASES[spec.name] || [""])[0]}`]);
    if (node) bones.set(spec.name, node);
  }
  const morphMeshes = [];
  root.traverse((o) => {
    if (o.isMesh && o.morphTargetDictionary && o.morphTargetInfluences) morphMeshes.push(o);
  });
  return { root, bones, morphMeshes, kind: "object" };
}

export class AvatarDriver {
  /** mouthMapping: {A..H, X: {morph: weight}} from the server, or null (found from the morph names). */
  constructor(avatar, { now = () => performance.now() / 1000, random = Math.random, mouthMapping = null } = {}) {
    this.avatar = avatar;
    this.mouthMapping = mouthMapping;
    this.root = avatar.root;
    this.now = now; // the clock motion start times refer to (the AudioContext clock)
    this.random = random;
    this.bones = avatar.bones;
    this.rest = new Map();
    for (const [name, bone] of this.bones) this.rest.set(name, { q: bone.quaternion.clone(), p: bone.position.clone() });

    // Morph proxy: the only thing motion clips animate on the face.
    const proxy = new THREE.Object3D();
    proxy.name = MORPH_NODE;
    proxy.geometry = { morphAttributes: {} };
    proxy.morphTargetDictionary = Object.fromEntries(EXPRESSION_MORPHS.map((m, i) => [m, i]));
    proxy.morphTargetInfluences = new Array(EXPRESSION_MORPHS.length).fill(0);
    this.root.add(proxy);
    this.proxy = proxy;

    this._bindMorphs(avatar.morphMeshes || []);

    this.mixer = new THREE.AnimationMixer(this.root);
    const { clip } = clipFromKeyframes(localIdleKeyframes(), this.clipTarget(), "local-idle");
    this.idleAction = this.mixer.clipAction(clip);
    this.idleAction.setLoop(THREE.LoopRepeat, Infinity);
    this.idleAction.play();
    this.current = { action: this.idleAction, startAt: null, clip, name: "local-idle" };
    this.pending = [];
    this.retiring = new Set();

    this.exprTarget = {};
    this.exprValue = Object.fromEntries(EXPRESSION_MORPHS.map((m) => [m, 0]));
    this.expression = "neutral";
    this.mouthTarget = restWeights();
    this.mouthValue = restWeights();
    this.blink = { next: 1.5 + 2 * this.random(), t: -1 };
    this.gestures = 0; // motion clips started (tests)
  }

  /** What clipFromKeyframes needs to know about this avatar. */
  clipTarget() {
    return {
      hasBone: (n) => this.bones.has(n),
      nodeName: (n) => this.bones.get(n).name,
      restQuaternion: (n) => this.rest.get(n).q,
      restPosition: (n) => this.rest.get(n).p,
      hasMorph: (n) => n in this.proxy.morphTargetDictionary,
    };
  }

  _bindMorphs(meshes) {
    // Unique (mesh, index) slots, and for each of our names the slots it drives.
    this.slots = [];
    const slotOf = new Map();
    const slot = (mesh, index) => {
      const key = `${mesh.uuid}:${index}`;
      if (!slotOf.has(key)) {
        slotOf.set(key, this.slots.length);
        this.slots.push({ mesh, index, value: 0 });
      }
      return slotOf.get(key);
    };
    const bindName = (morph) => {
      const out = [];
      for (const mesh of meshes) {
        const i = mesh.morphTargetDictionary[morph];
        if (i !== undefined) out.push(slot(mesh, i));
      }
      return out;
    };
    const has = (morph) => meshes.some((m) => m.morphTargetDictionary[morph] !== undefined);
    this.exprBindings = {};
    for (const name of EXPRESSION_MORPHS) {
      let targets = bindName(name).map((s) => ({ slot: s, k: 1 }));
      if (!targets.length && EXPRESSION_TO_ARKIT[name]) {
        targets = EXPRESSION_TO_ARKIT[name].flatMap((n) => bindName(n).map((s) => ({ slot: s, k: 1 })));
      }
      this.exprBindings[name] = targets;
    }
    [this.mouthMode, this.mouthBindings] = this._mouthBindings(has, bindName);
  }

  /** Which morphs make each mouth shape: the admin's table if it fits this avatar, else by the morph names found. */
  _mouthBindings(has, bindName) {
    const bind = (table, prefix = "") => Object.fromEntries(MOUTH_SHAPES.map((shape) => [
      shape, Object.entries(table?.[shape] || {}).flatMap(([n, k]) => bindName(prefix + n).map((s) => ({ slot: s, k: Number(k) || 0 }))),
    ]));
    // The viseme mapping from the page's config (animation.selectors.viseme_mapping); a
    // table that names none of this avatar's morphs (e.g. the default table was set to one
    // made for another avatar) would leave the mouth still, so it is not used then.
    if (this.mouthMapping) {
      const mapped = bind(this.mouthMapping);
      if (Object.values(mapped).some((b) => b.length)) return ["mapping", mapped];
    }
    if (has(mouthMorphName("D"))) return ["rhubarb", bind(Object.fromEntries(MOUTH_SHAPES.map((s) => [s, { [mouthMorphName(s)]: 1 }])))];
    if (has("viseme_aa")) return ["oculus", bind(RHUBARB_TO_OCULUS, "viseme_")];
    if (has("jawOpen")) return ["arkit", bind(RHUBARB_TO_ARKIT)];
    return ["none", bind(null)];
  }

  // --- The interface ---------------------------------------------------------------

  setMouthShape(weights) {
    for (const s of MOUTH_SHAPES) this.mouthTarget[s] = Math.min(1, Math.max(0, weights?.[s] || 0));
    if (!weights || weights.X === undefined) {
      let sum = 0;
      for (const s of MOUTH_SHAPES) if (s !== "X") sum += this.mouthTarget[s];
      this.mouthTarget.X = Math.max(0, 1 - sum);
    }
  }

  setVisemes(oculusWeights) {
    this.setMouthShape(convertWeights(oculusWeights, OCULUS_TO_RHUBARB));
  }

  setExpression(label, strength = 1) {
    this.expression = EXPRESSIONS[label] ? label : "neutral";
    this.exprTarget = {};
    for (const [m, v] of Object.entries(EXPRESSIONS[this.expression])) this.exprTarget[m] = v * strength;
  }

  /** Build a clip from server keyframes (see motion.js) for this avatar. */
  clipFrom(keyframes, name) {
    return clipFromKeyframes(keyframes, this.clipTarget(), name);
  }

  /** Cross-fade to clip at clock time startAt (default: now), fade seconds long. */
  /** origin: the clock time of the clip's t = 0 (defaults to startAt; earlier for a late clip). */
  /** rate: clip seconds per clock second (replay speed; 1 live). */
  playMotion(clip, { startAt = null, origin = null, fade = 0.3, name = clip.name, rate = 1 } = {}) {
    const at = startAt ?? this.now();
    this.pending.push({ clip, startAt: at, origin: origin ?? at, fade, name, rate });
    this.pending.sort((a, b) => a.startAt - b.startAt);
  }

  /** Cancel clips not started yet, and fade back to the idle loop. */
  returnToIdle(fade = 0.5) {
    this.pending = [];
    this._fadeToIdle(fade);
  }

  _fadeToIdle(fade) {
    if (this.current.action === this.idleAction) return;
    this._crossFade(this.idleAction, fade, null, "local-idle", this.idleAction.getClip());
  }

  _crossFade(action, fade, startAt, name, clip, rate = 1) {
    const prev = this.current.action;
    if (action !== this.idleAction) {
      action.reset();
      action.setLoop(THREE.LoopOnce, 1);
      action.clampWhenFinished = true;
    } else {
      action.enabled = true;
      action.setEffectiveTimeScale(1);
      if (!action.isRunning()) action.play();
    }
    action.setEffectiveWeight(1);
    action.play();
    if (prev && prev !== action) {
      prev.crossFadeTo(action, fade, false);
      if (prev !== this.idleAction) this.retiring.add(prev);
    } else {
      action.fadeIn(fade);
    }
    this.current = { action, startAt, clip: clip ?? action.getClip(), name, rate };
    this.retiring.delete(action);
  }

  update(dt) {
    const now = this.now();
    // Start clips whose time has come (the latest one wins if several are due).
    while (this.pending.length && this.pending[0].startAt <= now + 1e-3) {
      const p = this.pending.shift();
      if (this.pending.length && this.pending[0].startAt <= now) continue;
      const action = this.mixer.clipAction(p.clip);
      this._crossFade(action, p.fade, p.origin, p.name, p.clip, p.rate);
      this.gestures++;
    }
    // Keep the sentence clip on the audio clock; fade to idle when it has run out.
    const cur = this.current;
    if (cur.action !== this.idleAction && cur.startAt !== null) {
      const rate = cur.rate ?? 1;
      const t = (now - cur.startAt) * rate;
      const duration = cur.clip.duration;
      const next = this.pending.length ? this.pending[0].startAt : Infinity;
      if (t > duration + 0.15 && next - now > 0.8) this._fadeToIdle(0.6);
      else cur.action.time = Math.min(Math.max(0, t - dt * rate), duration);
    }
    this.mixer.update(dt);
    for (const a of [...this.retiring]) {
      if (a.getEffectiveWeight() <= 0.0001 && a !== this.current.action) {
        a.stop();
        this.mixer.uncacheAction(a.getClip());
        this.mixer.uncacheClip(a.getClip());
        this.retiring.delete(a);
      }
    }
    this._updateBlink(dt);
    this._composeFace(dt);
  }

  _serverBlinks() {
    const cur = this.current;
    return cur.action !== this.idleAction && cur.clip && clipHasMorph(cur.clip, "blink");
  }

  _updateBlink(dt) {
    const b = this.blink;
    if (b.t >= 0) {
      b.t += dt;
      if (b.t > 0.16) b.t = -1;
    } else {
      b.next -= dt;
      if (b.next <= 0) {
        b.next = 2.2 + 3.5 * this.random();
        // the server's motion already blinks: don't double it
        if (!this._serverBlinks()) b.t = 0;
      }
    }
  }

  _blinkValue() {
    const t = this.blink.t;
    if (t < 0) return 0;
    return t < 0.06 ? t / 0.06 : Math.max(0, 1 - (t - 0.06) / 0.1);
  }

  _composeFace(dt) {
    const ke = 1 - Math.exp(-dt / EXPRESSION_TAU);
    const km = 1 - Math.exp(-dt / MOUTH_TAU);
    for (const m of EXPRESSION_MORPHS) this.exprValue[m] += ((this.exprTarget[m] || 0) - this.exprValue[m]) * ke;
    for (const s of MOUTH_SHAPES) this.mouthValue[s] += (this.mouthTarget[s] - this.mouthValue[s]) * km;
    for (const s of this.slots) s.value = 0;
    const proxy = this.proxy.morphTargetInfluences;
    const dict = this.proxy.morphTargetDictionary;
    const blink = this._blinkValue();
    this.faceValues = {};
    for (const m of EXPRESSION_MORPHS) {
      let v = Math.max(proxy[dict[m]] || 0, this.exprValue[m]);
      if (m === "blink") v = Math.max(v, blink);
      v = Math.min(1, Math.max(0, v));
      this.faceValues[m] = v;
      for (const { slot, k } of this.exprBindings[m]) this.slots[slot].value = Math.max(this.slots[slot].value, v * k);
    }
    for (const s of MOUTH_SHAPES) {
      const v = this.mouthValue[s];
      for (const { slot, k } of this.mouthBindings[s]) this.slots[slot].value = Math.min(1, this.slots[slot].value + v * k);
    }
    for (const s of this.slots) s.mesh.morphTargetInfluences[s.index] = s.value;
  }

  // --- Read-only state for the UI and tests ----------------------------------------

  mouthWeights() {
    return { ...this.mouthValue };
  }

  morphValues() {
    return { ...this.faceValues };
  }

  activeActions() {
    return this.mixer._actions
      .filter((a) => a.isRunning() || a.getEffectiveWeight() > 0)
      .map((a) => ({ name: a.getClip().name, weight: +a.getEffectiveWeight().toFixed(3), time: +a.time.toFixed(3), running: a.isRunning() }));
  }
}
