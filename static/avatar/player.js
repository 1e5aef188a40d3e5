// Sentence playback on the WebAudio clock.
//
// Each sentence of a live turn collects its events (text, emotion, audio, mouth cues,
// motion). It is scheduled once it has audio + cues (or is text-only), plus its motion if
// that arrives within MOTION_GRACE_S; sentences play strictly in index order, back to
// back with a natural pause, whatever order their events arrive in. Audio, mouth cues,
// motion clips and subtitles all run on the AudioContext clock.

import { CueTrack, restWeights } from "./lipsync.js";

export const MOTION_GRACE_S = 0.3;
export const SENTENCE_PAUSE_S = 0.22;
const LEAD_S = 0.06; // scheduling lead: never start a source in the past
const SUBTITLE_HOLD_S = 1.4; // the last subtitle stays this long after the voice stops

/** Seconds a text-only sentence stays on screen (about 14 characters a second). */
export function readingTime(text) {
  return Math.min(12, Math.max(1.6, (text || "").length / 14 + 0.4));
}

export class Player {
  /**
   * opts: {driver, fetchAudio(url) -> Promise<ArrayBuffer>, onSentenceStart(turnId, index, text, startAt, audioUrl),
   *        onSubtitle(text|null), onTurnEnd(turnId), onActivity(bool), onAudioError(err)}
   */
  constructor(opts) {
    this.opts = opts;
    this.driver = opts.driver;
    this.ctx = null;
    this.turns = new Map(); // turn_id -> turn
    this.queue = []; // turn ids in playing order
    this.scheduled = []; // sentences scheduled on the clock, in order
    this.lastEnd = -Infinity; // clock time the last scheduled sentence ends
    this.subtitle = null;
    this.active = false;
    this.rate = 1; // playback speed for sentences scheduled from now on (replay); live: always 1
    this._timer = setInterval(() => this.pump(), 100);
    // Sentence boundaries, subtitles and the mouth target follow the audio clock even when
    // rendering is slow or paused (the render loop calls tick() too, every frame).
    this._ticker = setInterval(() => this.tick(), 50);
  }

  // --- Audio context ------------------------------------------------------------------

  audioContext() {
    if (!this.ctx) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      this.ctx = new Ctx({ latencyHint: "interactive" });
      this.ctx.onstatechange = () => this.opts.onAudioState?.(this.ctx.state);
    }
    return this.ctx;
  }

  now() {
    return this.ctx ? this.ctx.currentTime : 0;
  }

  audioRunning() {
    return !!this.ctx && this.ctx.state === "running";
  }

  async unlock() {
    const ctx = this.audioContext();
    if (ctx.state !== "running") {
      try {
        await ctx.resume();
      } catch {
        /* still locked: a later user gesture will try again */
      }
    }
    return ctx.state === "running";
  }

  // --- Turn and sentence state ----------------------------------------------------------

  /** Make a turn playable. skipThrough: sentence indexes <= this were heard already. */
  addTurn(turnId, { skipThrough = -1 } = {}) {
    if (this.turns.has(turnId)) return this.turns.get(turnId);
    const turn = { id: turnId, sentences: new Map(), next: skipThrough + 1, count: null, finished: false, cancelled: false, started: false };
    this.turns.set(turnId, turn);
    this.queue.push(turnId);
    this.pump();
    return turn;
  }

  hasTurn(turnId) {
    return this.turns.has(turnId);
  }

  _sentence(turnId, index) {
    const turn = this.turns.get(turnId);
    if (!turn || turn.cancelled || !Number.isInteger(index) || index < 0) return null;
    let s = turn.sentences.get(index);
    if (!s) {
      s = { turnId, index, text: null, label: null, audioUrl: null, durationMs: null, buffer: null, audioFailed: false,
        cues: null, textOnly: false, keyframes: null, motionDone: false, readySince: null, state: "waiting" };
      turn.sentences.set(index, s);
    }
    return s;
  }

  /** Feed one stored event frame (only for turns added with addTurn). */
  onEvent(frame) {
    const d = frame.data || {};
    const turn = this.turns.get(d.turn_id);
    if (!turn) return;
    switch (frame.type) {
      case "SentenceGenerated": {
        const s = this._sentence(d.turn_id, d.index);
        if (s) s.text = d.text;
        break;
      }
      case "SentimentAnalyzed": {
        const s = this._sentence(d.turn_id, d.index);
        if (s) s.label = d.label;
        break;
      }
      case "SpeechSynthesized": {
        const s = this._sentence(d.turn_id, d.index);
        if (s && !s.audioUrl && d.audio?.url) {
          s.audioUrl = d.audio.url;
          s.durationMs = d.duration_ms;
          this._load(s);
        }
        break;
      }
      case "LipSyncGenerated": {
        const s = this._sentence(d.turn_id, d.index);
        if (s) s.cues = new CueTrack(d.cues);
        break;
      }
      case "MotionPlanned": {
        const s = this._sentence(d.turn_id, d.index);
        if (s) {
          s.keyframes = d.keyframes;
          s.motionDone = true;
          if (s.state === "scheduled" || s.state === "playing") this._startMotion(s, true);
        }
        break;
      }
      case "StageFailed": {
        if (d.index === null || d.index === undefined) break;
        const s = this._sentence(d.turn_id, d.index);
        if (!s) break;
        if (d.stage === "tts" && d.fallback === "text-only") s.textOnly = true;
        if (d.stage === "lipsync" && !s.cues && d.fallback === "none") s.cues = new CueTrack([]);
        break;
      }
      case "ReplyGenerated":
        turn.count = d.sentence_count;
        break;
      case "TurnCompleted":
        turn.finished = true;
        if (turn.count === null) turn.count = d.sentence_count;
        break;
      case "TurnInterrupted":
        turn.finished = true;
        turn.count = Math.min(turn.count ?? Infinity, turn.next);
        break;
      default:
        break;
    }
    this.pump();
  }

  async _load(s) {
    try {
      const bytes = await this.opts.fetchAudio(s.audioUrl);
      const ctx = this.audioContext();
      s.buffer = await ctx.decodeAudioData(bytes);
    } catch (err) {
      s.audioFailed = true; // shown as text for its reading time
      this.opts.onAudioError?.(err);
    }
    this.pump();
  }

  _ready(s, wallNow) {
    if (!s.text) return false;
    const audioReady = (s.buffer && s.cues) || s.audioFailed || s.textOnly;
    if (!audioReady) return false;
    if (s.motionDone) return true;
    if (s.readySince === null) s.readySince = wallNow;
    return wallNow - s.readySince >= MOTION_GRACE_S;
  }

  // --- Scheduling ------------------------------------------------------------------------

  pump() {
    const wallNow = performance.now() / 1000;
    while (this.queue.length) {
      const turn = this.turns.get(this.queue[0]);
      if (!turn || turn.cancelled) {
        this.queue.shift();
        continue;
      }
      const done = turn.finished && turn.count !== null && turn.next >= turn.count;
      if (done) {
        this.queue.shift();
        this._afterTurn(turn);
        continue;
      }
      const s = turn.sentences.get(turn.next);
      if (!s || s.state !== "waiting" || !this._ready(s, wallNow)) break;
      if (!this.audioRunning() && !(s.textOnly || s.audioFailed)) {
        this.audioContext();
        this.opts.onLocked?.();
        break; // wait for the audio to be unlocked (the page shows a button)
      }
      if (!this.ctx) this.audioContext();
      this._schedule(s);
      turn.next++;
      turn.started = true;
    }
  }

  _afterTurn(turn) {
    // keep the record (so late events for it are ignored) but forget its sentences
    turn.sentences.clear();
    this.opts.onTurnEnd?.(turn.id);
  }

  _schedule(s) {
    const now = this.now();
    const rate = this.rate > 0 ? this.rate : 1;
    // opts.notBefore(s): the earliest clock time the sentence may start (replay), or null.
    const notBefore = this.opts.notBefore?.(s) ?? -Infinity;
    const start = Math.max(now + LEAD_S, this.lastEnd + SENTENCE_PAUSE_S / rate, notBefore);
    let duration;
    s.rate = rate;
    if (s.buffer && !s.audioFailed && !s.textOnly) {
      duration = s.buffer.duration / rate;
      const src = this.ctx.createBufferSource();
      src.buffer = s.buffer;
      if (rate !== 1) src.playbackRate.value = rate;
      src.connect(this.ctx.destination);
      src.start(start);
      s.source = src;
    } else {
      duration = (Number(s.keyframes?.duration) > 0 ? Number(s.keyframes.duration) : readingTime(s.text)) / rate;
    }
    s.startAt = start;
    s.endAt = start + duration;
    s.state = "scheduled";
    this.lastEnd = s.endAt;
    this.scheduled.push(s);
    this._startMotion(s, false);
  }

  _startMotion(s, late) {
    if (!s.keyframes || s.motionStarted) return;
    const { clip } = this.driver.clipFrom(s.keyframes, `sentence-${s.turnId.slice(0, 8)}-${s.index}`);
    if (!clip.tracks.length) return;
    s.motionStarted = true;
    // A late clip joins at the current point of the sentence, on the same clock.
    this.driver.playMotion(clip, {
      startAt: late ? Math.max(s.startAt, this.now()) : s.startAt,
      origin: s.startAt, // the clip's t = 0 is the sentence's audio start
      fade: late ? 0.4 : 0.3,
      rate: s.rate ?? 1,
    });
  }

  /** Per frame: subtitles, the mouth, the emotion, sentence start callbacks. */
  tick() {
    const now = this.now();
    let current = null;
    while (this.scheduled.length && this.scheduled[0].endAt <= now) {
      const s = this.scheduled.shift();
      if (s.state !== "playing") this.opts.onSentenceStart?.(s.turnId, s.index, s.text, s.startAt, s.audioUrl); // between two ticks
      s.state = "done";
      this._lastDone = { s, at: s.endAt };
    }
    if (this.scheduled.length && this.scheduled[0].startAt <= now) current = this.scheduled[0];
    if (current && current.state !== "playing") {
      current.state = "playing";
      this.driver.setExpression(current.label || "neutral");
      this.opts.onSentenceStart?.(current.turnId, current.index, current.text, current.startAt, current.audioUrl);
    }
    this.current = current;
    if (current && current.cues && current.buffer && !current.textOnly && !current.audioFailed) {
      const latency = this.ctx.outputLatency || 0;
      this.driver.setMouthShape(current.cues.weightsAt((now - current.startAt - latency) * (current.rate ?? 1)));
    } else {
      this.driver.setMouthShape(restWeights());
    }
    let subtitle = current ? current.text : null;
    if (!subtitle && this._lastDone && now - this._lastDone.at < SUBTITLE_HOLD_S) {
      // between sentences keep the previous line; after the last, hold it a moment
      subtitle = this.scheduled.length || now - this._lastDone.at < SUBTITLE_HOLD_S ? this._lastDone.s.text : null;
    }
    if (subtitle !== this.subtitle) {
      this.subtitle = subtitle;
      this.opts.onSubtitle?.(subtitle);
    }
    const active = !!current || this.scheduled.length > 0;
    if (active !== this.active) {
      this.active = active;
      if (!active) this.driver.setExpression("neutral");
      this.opts.onActivity?.(active);
    }
  }

  // --- Queries and control ------------------------------------------------------------------

  /** True while a sentence's audio source is sounding. */
  playing() {
    const now = this.now();
    return this.scheduled.some((s) => !!s.source && now >= s.startAt && now < s.endAt);
  }

  /** Something is playing, or a turn still has sentences to play (done turns leave the queue). */
  isBusy() {
    return this.active || this.queue.some((id) => {
      const t = this.turns.get(id);
      return t && !t.cancelled;
    });
  }

  /** How far the current turn got: {turn_id, played_index, played_ms} or null. */
  progress() {
    const now = this.now();
    const c = this.current || this._lastDone?.s;
    const turnId = this.queue[0] ?? c?.turnId;
    if (!c) return turnId ? { turn_id: turnId } : null;
    const ms = Math.round(Math.max(0, Math.min(now, c.endAt) - c.startAt) * 1000);
    return { turn_id: c.turnId, played_index: c.index, played_ms: ms };
  }

  /** Stop everything at once (interrupt); returns the progress before stopping. */
  stop() {
    const progress = this.progress();
    for (const s of this.scheduled) {
      try {
        s.source?.stop();
      } catch {
        /* already stopped */
      }
    }
    this.scheduled = [];
    this.current = null;
    this._lastDone = null;
    this.lastEnd = -Infinity;
    for (const id of this.queue) {
      const t = this.turns.get(id);
      if (t) {
        t.cancelled = true;
        t.sentences.clear(); // drop decoded audio
      }
    }
    this.queue = [];
    this.driver.setMouthShape(restWeights());
    this.driver.setExpression("neutral");
    this.driver.returnToIdle(0.35);
    this.tick();
    return progress;
  }

  /** Stop everything and forget every turn, so that the same turns can be added again (replay seeks). */
  reset() {
    this.stop();
    this.turns.clear();
  }

  cancelTurn(turnId) {
    const t = this.turns.get(turnId);
    if (!t) return;
    if (this.queue[0] === turnId && (this.active || t.started)) {
      this.stop();
      return;
    }
    t.cancelled = true;
    t.sentences.clear();
    this.queue = this.queue.filter((id) => id !== turnId);
  }

  debug() {
    return {
      audioState: this.ctx?.state ?? "none",
      audioTime: this.now(),
      queue: [...this.queue],
      scheduled: this.scheduled.map((s) => ({ turn: s.turnId, index: s.index, startAt: s.startAt, endAt: s.endAt, state: s.state, audio: !!s.source })),
      current: this.current ? { turn: this.current.turnId, index: this.current.index } : null,
    };
  }
}
