// Preset tracks in the browser: parse the admin's JSON textarea, a light structural check,
// and resampling onto the grid the motion stage plays.
//
// The check is deliberately light (shape, names, times, value counts): it decides which
// tracks the preview can play. The rig's value ranges, loop seams and the rest are
// animation/validation.py's job; the panel asks the server for those (preview-validate).
//
// Resampling mirrors animation/motion.py (_Curve, _monotone_slopes): "smooth" presets are
// a monotone cubic (Fritsch-Butland), "linear" ones lerp the Euler angles, both sampled
// at a fixed rate into linear keys. So the preview shows what a sentence would play, not
// three.js's own interpolation of the raw keys (which slerps and never eases).

import { BONE_NAMES, EXPRESSION_MORPHS, PROPERTY_ARITY } from "../avatar/rig.js";

export const PREVIEW_FPS = 30; // animation/motion.py DEFAULT_FPS
const TARGET_PROPERTIES = { bone: ["rotation", "position"], morph: ["influence"] };
const KNOWN = { bone: new Set(BONE_NAMES), morph: new Set(EXPRESSION_MORPHS) };

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

/** {tracks} when the text is JSON, else {error} with the parser's own words. */
export function parseTracks(text) {
  try {
    return { tracks: JSON.parse(text) };
  } catch (err) {
    return { error: String(err?.message || err) };
  }
}

/**
 * Which tracks the preview can play, and why the others cannot.
 * Returns {playable: [track], issues: [{path, message}]}; paths are the server's
 * ("tracks[2].times[1]"), so both lists read alike.
 */
export function checkTracks(tracks, duration) {
  if (!Array.isArray(tracks)) return { playable: [], issues: [{ path: "tracks", message: "нужен список дорожек [...]" }] };
  const issues = [];
  const playable = [];
  const seen = new Map();
  tracks.forEach((track, i) => {
    const path = `tracks[${i}]`;
    const own = trackIssues(path, track, duration);
    if (!own.length) {
      const key = `${track.target}/${track.name}/${track.property}`;
      // Two tracks on one property: three.js would let the later one win silently.
      if (seen.has(key)) own.push({ path, message: `повторяет tracks[${seen.get(key)}] (${key})` });
      else seen.set(key, i);
    }
    if (own.length) issues.push(...own);
    else playable.push(track);
  });
  if (!tracks.length) issues.push({ path: "tracks", message: "нужна хотя бы одна дорожка" });
  return { playable, issues };
}

function trackIssues(path, track, duration) {
  if (track === null || typeof track !== "object" || Array.isArray(track)) return [{ path, message: "дорожка — это объект {...}" }];
  const allowed = TARGET_PROPERTIES[track.target];
  if (!allowed) return [{ path: `${path}.target`, message: 'target: "bone" или "morph"' }];
  if (!KNOWN[track.target].has(track.name)) {
    return [{ path: `${path}.name`, message: `у аватара нет ${track.target === "bone" ? "кости" : "морфа"} «${track.name}»` }];
  }
  if (!allowed.includes(track.property)) return [{ path: `${path}.property`, message: `property: ${allowed.join(" или ")}` }];
  const times = timesIssues(`${path}.times`, track.times, duration);
  if (times.length) return times;
  const expected = track.times.length * PROPERTY_ARITY[track.property];
  if (!Array.isArray(track.values) || track.values.length !== expected) {
    const got = Array.isArray(track.values) ? track.values.length : "нет";
    return [{ path: `${path}.values`, message: `нужно ${expected} чисел (${track.times.length} ключей × ${PROPERTY_ARITY[track.property]}), а здесь ${got}` }];
  }
  const bad = track.values.findIndex((v) => !isNumber(v));
  return bad < 0 ? [] : [{ path: `${path}.values[${bad}]`, message: "значение должно быть числом" }];
}

function timesIssues(path, times, duration) {
  if (!Array.isArray(times) || !times.length) return [{ path, message: "times — непустой список" }];
  for (let i = 0; i < times.length; i++) {
    const t = times[i];
    if (!isNumber(t)) return [{ path: `${path}[${i}]`, message: "время должно быть числом" }];
    if (t < 0) return [{ path: `${path}[${i}]`, message: "время не может быть меньше 0" }];
    if (i && t <= times[i - 1]) return [{ path: `${path}[${i}]`, message: "времена должны строго возрастать" }];
    if (isNumber(duration) && t > duration + 1e-9) return [{ path: `${path}[${i}]`, message: `${t} с — позже длительности ${duration} с` }];
  }
  return [];
}

// --- Resampling (animation/motion.py) ------------------------------------------------------

function harmonicSlope(d0, d1, h0, h1) {
  // Weighted harmonic mean of the neighbouring secants; 0 where they change sign (a peak).
  if (!(d0 * d1 > 0)) return 0;
  const w0 = 2 * h1 + h0;
  const w1 = h1 + 2 * h0;
  return (w0 + w1) / (w0 / d0 + w1 / d1);
}

/** Key slopes of one component (values per key), as motion.py's _monotone_slopes. */
export function monotoneSlopes(times, ys, periodic) {
  const n = times.length;
  const slopes = new Array(n).fill(0);
  if (n < 3) return slopes;
  const h = times.slice(1).map((t, i) => t - times[i]);
  const delta = h.map((hi, i) => (ys[i + 1] - ys[i]) / hi);
  for (let i = 1; i < n - 1; i++) slopes[i] = harmonicSlope(delta[i - 1], delta[i], h[i - 1], h[i]);
  if (periodic) slopes[0] = slopes[n - 1] = harmonicSlope(delta[n - 2], delta[0], h[n - 2], h[0]);
  return slopes;
}

/** The key segment holding t: the last i <= n - 2 with times[i] <= t (numpy's searchsorted "right" - 1). */
function segmentAt(times, t) {
  let lo = 0;
  let hi = times.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** A sampler t -> values of one track, holding the first and last keys (as three.js does). */
export function trackSampler(track, smooth, loop) {
  const arity = PROPERTY_ARITY[track.property];
  const times = track.times;
  const n = times.length;
  const comps = Array.from({ length: arity }, (_, c) => times.map((_, k) => track.values[k * arity + c]));
  const slopes = smooth ? comps.map((ys) => monotoneSlopes(times, ys, loop)) : null;
  return (t) => {
    if (n === 1) return comps.map((ys) => ys[0]);
    const tc = Math.min(Math.max(t, times[0]), times[n - 1]);
    const i = segmentAt(times, tc);
    const h = times[i + 1] - times[i];
    const s = (tc - times[i]) / h;
    return comps.map((ys, c) => {
      const y0 = ys[i];
      const y1 = ys[i + 1];
      if (!slopes) return y0 + s * (y1 - y0);
      const m0 = slopes[c][i] * h;
      const m1 = slopes[c][i + 1] * h;
      const s2 = s * s;
      const s3 = s2 * s;
      return (2 * s3 - 3 * s2 + 1) * y0 + (s3 - 2 * s2 + s) * m0 + (-2 * s3 + 3 * s2) * y1 + (s3 - s2) * m1;
    });
  };
}

/** The grid: every 1/fps seconds, ending exactly at the duration. */
export function sampleTimes(duration, fps = PREVIEW_FPS) {
  const steps = Math.max(1, Math.ceil(duration * fps - 1e-9));
  return Array.from({ length: steps + 1 }, (_, k) => (k === steps ? duration : k / fps));
}

/**
 * Checked tracks -> keyframes for static/avatar/motion.js (clipFromKeyframes): the same
 * {duration, tracks} format as a MotionPlanned event, linear keys on a uniform grid.
 */
export function previewKeyframes({ tracks, duration, interpolation = "smooth", loop = false }, fps = PREVIEW_FPS) {
  const grid = sampleTimes(duration, fps);
  return {
    duration,
    fps,
    interpolation: "linear",
    tracks: tracks.map((track) => {
      const sample = trackSampler(track, interpolation !== "linear", loop);
      return { target: track.target, name: track.name, property: track.property, times: grid, values: grid.flatMap(sample) };
    }),
  };
}

/** The clip length when the duration field is unusable: the last key of any track. */
export function fallbackDuration(tracks) {
  const last = Math.max(0, ...tracks.map((t) => t.times[t.times.length - 1]));
  return last > 0 ? last : 1;
}
