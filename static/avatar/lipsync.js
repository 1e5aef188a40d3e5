// Lip-sync: Rhubarb mouth cues -> smooth mouth-shape weights on the audio clock, and the
// tables that map Rhubarb shapes to other viseme sets (Oculus, ARKit) for uploaded avatars.

export const RHUBARB_SHAPES = ["A", "B", "C", "D", "E", "F", "G", "H", "X"];
export const OCULUS_VISEMES = ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U"];

// Oculus viseme -> Rhubarb shape weights: drives the built-in avatar from viseme data.
export const OCULUS_TO_RHUBARB = {
  sil: { X: 1 },
  PP: { A: 1 },
  FF: { G: 1 },
  TH: { H: 0.5, B: 0.5 },
  DD: { B: 0.6, C: 0.4 },
  kk: { B: 0.6, C: 0.4 },
  CH: { B: 0.6, F: 0.4 },
  SS: { B: 1 },
  nn: { H: 0.6, B: 0.4 },
  RR: { E: 0.6, B: 0.4 },
  aa: { D: 1 },
  E: { C: 1 },
  I: { B: 0.5, C: 0.5 },
  O: { E: 1 },
  U: { F: 1 },
};

// Rhubarb shape -> Oculus visemes: drives avatars that carry viseme_* morphs.
export const RHUBARB_TO_OCULUS = {
  A: { PP: 1 },
  B: { SS: 0.5, kk: 0.3, I: 0.2 },
  C: { E: 0.8, aa: 0.2 },
  D: { aa: 1 },
  E: { O: 1 },
  F: { U: 1 },
  G: { FF: 1 },
  H: { nn: 0.7, TH: 0.3 },
  X: { sil: 1 },
};

// Rhubarb shape -> ARKit blend shapes: a fallback for avatars with only ARKit morphs.
export const RHUBARB_TO_ARKIT = {
  A: { mouthClose: 0.5, mouthPressLeft: 0.5, mouthPressRight: 0.5 },
  B: { jawOpen: 0.12, mouthStretchLeft: 0.3, mouthStretchRight: 0.3, mouthUpperUpLeft: 0.2, mouthUpperUpRight: 0.2 },
  C: { jawOpen: 0.35, mouthUpperUpLeft: 0.2, mouthUpperUpRight: 0.2 },
  D: { jawOpen: 0.7 },
  E: { jawOpen: 0.3, mouthFunnel: 0.5 },
  F: { jawOpen: 0.1, mouthPucker: 0.9 },
  G: { jawOpen: 0.08, mouthRollLower: 0.7, mouthUpperUpLeft: 0.3, mouthUpperUpRight: 0.3 },
  H: { jawOpen: 0.3, tongueOut: 0.15 },
  X: {},
};

export const ATTACK_S = 0.06;
export const RELEASE_S = 0.06;

const shapesZero = () => ({ A: 0, B: 0, C: 0, D: 0, E: 0, F: 0, G: 0, H: 0, X: 1 });

const ramp = (x) => {
  const t = Math.min(1, Math.max(0, x));
  return t * t * (3 - 2 * t);
};

/** Validated, sorted copy of server cues ([{start, end, shape}] in seconds). */
export function normalizeCues(cues) {
  if (!Array.isArray(cues)) return [];
  return cues
    .filter((c) => c && Number.isFinite(c.start) && Number.isFinite(c.end) && c.end > c.start && RHUBARB_SHAPES.includes(c.shape))
    .map((c) => ({ start: c.start, end: c.end, shape: c.shape }))
    .sort((a, b) => a.start - b.start);
}

/**
 * Samples cues into shape weights at any time. Each cue fades in over ATTACK_S centred
 * on its start and out over RELEASE_S centred on its end, so neighbouring shapes cross-
 * fade instead of snapping; X (rest) contributes nothing. Pure function of time, so the
 * mouth follows the audio clock exactly, whatever the frame rate.
 */
export class CueTrack {
  constructor(cues, { attack = ATTACK_S, release = RELEASE_S } = {}) {
    this.cues = normalizeCues(cues);
    this.attack = attack;
    this.release = release;
    this.end = this.cues.length ? this.cues[this.cues.length - 1].end : 0;
  }

  weightsAt(t, out = shapesZero()) {
    for (const s of RHUBARB_SHAPES) out[s] = 0;
    const { attack, release } = this;
    const reach = Math.max(attack, release);
    // cues are sorted by start; find the first that can still touch t
    let lo = 0;
    let hi = this.cues.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cues[mid].end + reach < t) lo = mid + 1;
      else hi = mid;
    }
    let total = 0;
    for (let i = lo; i < this.cues.length; i++) {
      const c = this.cues[i];
      if (c.start - reach > t) break;
      if (c.shape === "X") continue;
      const rise = ramp((t - (c.start - attack / 2)) / attack);
      const fall = ramp(((c.end + release / 2) - t) / release);
      const w = Math.min(rise, fall);
      if (w > out[c.shape]) {
        total += w - out[c.shape];
        out[c.shape] = w;
      }
    }
    if (total > 1) for (const s of RHUBARB_SHAPES) out[s] /= total;
    let sum = 0;
    for (const s of RHUBARB_SHAPES) if (s !== "X") sum += out[s];
    out.X = Math.max(0, 1 - sum);
    return out;
  }
}

/** Convert weights from one viseme set to another through a table like the ones above. */
export function convertWeights(weights, table) {
  const out = {};
  for (const [from, w] of Object.entries(weights)) {
    if (!w) continue;
    const row = table[from];
    if (!row) continue;
    for (const [to, k] of Object.entries(row)) out[to] = Math.min(1, (out[to] || 0) + w * k);
  }
  return out;
}

export function restWeights() {
  return shapesZero();
}
