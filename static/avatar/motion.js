// Motion: the server's MotionPlanned keyframes -> a THREE.AnimationClip, and the page's own
// idle clip for when nothing is being said.
//
// Server format (animation/motion.py MotionPlan.to_dict): {duration, fps, interpolation:
// "linear", tracks: [{target: "bone"|"morph", name, property: "rotation" | "position" |
// "influence", times, values}]}. Rotations are Euler XYZ radians, offsets from the rest
// pose; positions are metre offsets from the rest position; influences 0..1.

import * as THREE from "three";
import { PROPERTY_ARITY } from "./rig.js";

export const MORPH_NODE = "morphs"; // the driver's morph proxy object (see driver.js)

const euler = new THREE.Euler();
const q = new THREE.Quaternion();

function finiteArray(a) {
  return Array.isArray(a) && a.every((v) => typeof v === "number" && Number.isFinite(v));
}

/**
 * Build an AnimationClip from server keyframes.
 * target: {hasBone(name), restQuaternion(name), restPosition(name), hasMorph(name), nodeName(name)}
 * Returns {clip, skipped: [reasons]}; unknown bones/morphs (e.g. optional eyes on an avatar
 * without them) are skipped, not fatal.
 */
export function clipFromKeyframes(keyframes, target, name = "motion") {
  const skipped = [];
  const tracks = [];
  const duration = Number(keyframes?.duration);
  for (const t of Array.isArray(keyframes?.tracks) ? keyframes.tracks : []) {
    const arity = PROPERTY_ARITY[t?.property];
    const label = `${t?.target}:${t?.name}.${t?.property}`;
    if (!arity || !finiteArray(t.times) || !finiteArray(t.values) || t.values.length !== t.times.length * arity || !t.times.length) {
      skipped.push(`${label}: malformed`);
      continue;
    }
    let increasing = true;
    for (let i = 1; i < t.times.length; i++) if (t.times[i] < t.times[i - 1]) increasing = false;
    if (!increasing) {
      skipped.push(`${label}: times not increasing`);
      continue;
    }
    const times = Float32Array.from(t.times);
    if (t.target === "bone" && (t.property === "rotation" || t.property === "position")) {
      if (!target.hasBone(t.name)) {
        skipped.push(`${label}: no such bone`);
        continue;
      }
      const node = target.nodeName(t.name);
      if (t.property === "rotation") {
        const rest = target.restQuaternion(t.name);
        const values = new Float32Array(t.times.length * 4);
        let px = 0, py = 0, pz = 0, pw = 1;
        for (let i = 0; i < t.times.length; i++) {
          euler.set(t.values[3 * i], t.values[3 * i + 1], t.values[3 * i + 2], "XYZ");
          q.setFromEuler(euler).premultiply(rest);
          // keep neighbouring keys in the same hemisphere so slerp takes the short way
          if (i > 0 && px * q.x + py * q.y + pz * q.z + pw * q.w < 0) q.set(-q.x, -q.y, -q.z, -q.w);
          values.set([q.x, q.y, q.z, q.w], 4 * i);
          [px, py, pz, pw] = [q.x, q.y, q.z, q.w];
        }
        tracks.push(new THREE.QuaternionKeyframeTrack(`${node}.quaternion`, times, values));
      } else {
        const rest = target.restPosition(t.name);
        const values = new Float32Array(t.values.length);
        for (let i = 0; i < t.times.length; i++) {
          values[3 * i] = rest.x + t.values[3 * i];
          values[3 * i + 1] = rest.y + t.values[3 * i + 1];
          values[3 * i + 2] = rest.z + t.values[3 * i + 2];
        }
        tracks.push(new THREE.VectorKeyframeTrack(`${node}.position`, times, values));
      }
    } else if (t.target === "morph" && t.property === "influence") {
      if (!target.hasMorph(t.name)) {
        skipped.push(`${label}: no such morph`);
        continue;
      }
      const values = Float32Array.from(t.values, (v) => Math.min(1, Math.max(0, v)));
      tracks.push(new THREE.NumberKeyframeTrack(`${MORPH_NODE}.morphTargetInfluences[${t.name}]`, times, values));
    } else {
      skipped.push(`${label}: unsupported`);
    }
  }
  const clip = new THREE.AnimationClip(name, Number.isFinite(duration) && duration > 0 ? duration : -1, tracks);
  if (!(Number.isFinite(duration) && duration > 0)) clip.resetDuration();
  return { clip, skipped };
}

/** True if the clip animates this morph (e.g. the server's idle already blinks). */
export function clipHasMorph(clip, morph) {
  const suffix = `[${morph}]`;
  return clip.tracks.some((t) => t.name.startsWith(`${MORPH_NODE}.`) && t.name.endsWith(suffix));
}

/**
 * The page's own idle loop, used only while no sentence plays: slow breathing, a little
 * weight shift and head drift, arms relaxed. Expressed in the server's keyframe format so
 * it goes through the same converter. Blinks are added by the driver, not here.
 */
export function localIdleKeyframes() {
  const D = 8;
  const n = 33;
  const times = Array.from({ length: n }, (_, i) => (i * D) / (n - 1));
  const wave = (period, amp, phase = 0) => times.map((t) => amp * Math.sin((2 * Math.PI * t) / period + phase));
  const rot = (xs, ys, zs) => times.flatMap((_, i) => [xs?.[i] ?? 0, ys?.[i] ?? 0, zs?.[i] ?? 0]);
  const constRot = (x, y, z) => times.flatMap(() => [x, y, z]);
  const breath = wave(4, 1); // 4 s breathing cycle
  // Gaze: short glances (saccades) to the side and back, held between them.
  const gazeY = times.map((t) => (t > 2.2 && t < 3.6 ? 0.12 : t > 5.4 && t < 6.3 ? -0.09 : 0));
  const gazeX = times.map((t) => (t > 5.4 && t < 6.3 ? 0.04 : 0));
  const track = (name, values, property = "rotation") => ({ target: "bone", name, property, times, values });
  return {
    duration: D,
    tracks: [
      track("hips", rot(null, wave(8, 0.012), wave(8, 0.008, 1))),
      track("hips", rot(null, breath.map((b) => 0.002 * b), null), "position"),
      track("spine", rot(wave(8, 0.006, 2), null, wave(8, -0.006, 1))),
      track("chest", rot(breath.map((b) => -0.014 * b), null, null)),
      track("neck", rot(wave(8, 0.01, 0.5), wave(8, 0.02, 1.3), null)),
      track("head", rot(wave(8, 0.018, 2.1), wave(4, 0.018, 0.4), wave(8, 0.02, 2.9))),
      track("eye_L", rot(gazeX, gazeY, null)),
      track("eye_R", rot(gazeX, gazeY, null)),
      track("shoulder_L", rot(null, null, breath.map((b) => 0.012 * b))),
      track("shoulder_R", rot(null, null, breath.map((b) => -0.012 * b))),
      track("upperArm_L", rot(wave(8, 0.01), null, breath.map((b) => 0.1 + 0.008 * b))),
      track("upperArm_R", rot(wave(8, 0.01, 1), null, breath.map((b) => -0.1 - 0.008 * b))),
      track("lowerArm_L", constRot(-0.16, 0.05, 0)),
      track("lowerArm_R", constRot(-0.16, -0.05, 0)),
      track("hand_L", constRot(0.1, 0, 0)),
      track("hand_R", constRot(0.1, 0, 0)),
    ],
  };
}
