// The replay page (staff): a stored session played on the avatar from its event log.
//
// Nothing runs on the server but reads: the events and the artifacts come over the client
// API with the staff login cookie. The session's own time ("position", seconds since its
// first event) is mapped onto the AudioContext clock:
//
//   clock = baseCtx + (position - basePos) / rate
//
// Events are shown (log, timings, notes) when the position reaches their `ts`. A turn is
// handed to the Player (the live page's, unchanged in behaviour) a little ahead of time,
// so its audio is decoded before it is due, and every sentence is held until the clock
// time at which it became playable in the original session (`notBefore`): the same
// sentences, audio, cues, motion and emotion, with the same pauses, on one clock. Pause
// suspends the AudioContext, which freezes audio, mouth, motion and position together.
// Speed scales the mapping and the Player's playback rate. Seeking (jump to a turn, a click
// on the timeline, a change of speed) rebuilds the log up to the new position and hands
// the Player the unfinished turn from its current sentence.
//
// Version (?revision=latest, or the control): "original" plays every sentence as it was
// generated live; "latest" plays each sentence's latest complete revision (a staff edit or
// a re-render: its text, audio, cues and motion) where the original stood, on the
// original's timing (revisions.js). `this.frames` is the whole log as fetched;
// `this.track.frames` is the log the Player, the log panel and the plan follow.

import { AvatarView, showConfiguredAvatar } from "./avatar-view.js";
import { Player, MOTION_GRACE_S, SENTENCE_PAUSE_S, readingTime } from "./player.js";
import { Conversation } from "./conversation.js";
import { LATEST, ORIGINAL, selectRevision } from "./revisions.js";
import { ChatUI, el, pageConfig, renderNote, renderTurn } from "./ui.js";

const PAGE = 1000;
const LOOKAHEAD_S = 2.0; // session seconds a turn reaches the Player before its first event
const LEAD_IN_S = 0.6; // a jump lands this long before the turn's message
const SEEK_LEAD_S = 0.12; // clock seconds between a seek and its position starting to move
const SPEEDS = [0.5, 1, 1.5, 2];
const SENTENCE_TYPES = new Set(["SentenceGenerated", "SpeechSynthesized", "LipSyncGenerated", "MotionPlanned", "SentimentAnalyzed"]);

export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

async function getJson(url) {
  const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" });
  if (!res.ok) {
    const err = new Error(`HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

/**
 * The session's turns, from its events: when each turn's message came, when each sentence
 * became playable, and the plan (start, end in session seconds) the Player will follow.
 */
export function planTurns(frames) {
  const t0 = frames.length ? Date.parse(frames[0].ts) : 0;
  const pos = (f) => (Date.parse(f.ts) - t0) / 1000;
  const turns = [];
  const byId = new Map();
  for (const f of frames) {
    const d = f.data || {};
    if (f.type === "UserMessageReceived" && !byId.has(d.turn_id)) {
      const t = { id: d.turn_id, number: turns.length + 1, text: d.text, userPos: pos(f), userSeq: f.seq, sentences: new Map(),
        count: null, endPos: null, interruptPos: null, completed: false, failed: false, plan: [] };
      turns.push(t);
      byId.set(t.id, t);
      continue;
    }
    const t = byId.get(d.turn_id);
    if (!t) continue;
    const p = pos(f);
    if (Number.isInteger(d.index) && (SENTENCE_TYPES.has(f.type) || f.type === "StageFailed")) {
      if (!t.sentences.has(d.index)) t.sentences.set(d.index, { index: d.index, ready: p, text: null, duration: null, motion: false, textOnly: false, kfDuration: null });
      const s = t.sentences.get(d.index);
      if (f.type !== "SentimentAnalyzed") s.ready = Math.max(s.ready, p);
      if (f.type === "SentenceGenerated") s.text = d.text;
      if (f.type === "SpeechSynthesized") s.duration = Number(d.duration_ms) / 1000;
      if (f.type === "MotionPlanned") {
        s.motion = true;
        s.kfDuration = Number(d.keyframes?.duration) || null;
      }
      if (f.type === "StageFailed") {
        t.failed = true;
        if (d.stage === "tts" && d.fallback === "text-only") s.textOnly = true;
        if (d.stage === "motion") s.motion = true;
      }
    }
    if (f.type === "StageFailed") t.failed = true;
    if (f.type === "ReplyGenerated") t.count = d.sentence_count;
    if (f.type === "TurnCompleted") {
      t.completed = true;
      t.endPos = p;
      if (t.count === null) t.count = d.sentence_count;
    }
    if (f.type === "TurnInterrupted") {
      t.interruptPos = p;
      t.endPos = p;
    }
  }
  // The plan: sentences in index order, each when it was playable and after the previous
  // one plus the Player's pause; an interrupted turn stops where the interruption came.
  let lastEnd = -Infinity;
  for (const t of turns) {
    t.plan = [];
    for (let i = 0; t.sentences.has(i); i++) {
      const s = t.sentences.get(i);
      if (!s.text) break;
      const ready = s.ready + (s.motion ? 0 : MOTION_GRACE_S);
      const start = Math.max(ready, lastEnd + SENTENCE_PAUSE_S);
      if (t.interruptPos !== null && start >= t.interruptPos) break;
      const dur = !s.textOnly && s.duration > 0 ? s.duration : s.kfDuration > 0 ? s.kfDuration : readingTime(s.text);
      let end = start + dur;
      if (t.interruptPos !== null) end = Math.min(end, t.interruptPos);
      t.plan.push({ index: i, ready, start, end, text: s.text });
      lastEnd = end;
    }
    t.audioPos = t.plan.length ? t.plan[0].start : null;
    t.donePos = Math.max(t.endPos ?? t.userPos, t.plan.length ? t.plan[t.plan.length - 1].end : -Infinity);
  }
  return { t0, pos, turns, byId };
}

class Replay {
  constructor(root, config) {
    this.root = root;
    this.config = config;
    this.ui = new ChatUI(root);
    this.frames = [];
    this.track = { frames: [], revised: new Map() };
    this.revisionMode = config.revision === LATEST ? LATEST : ORIGINAL;
    this.lastSeq = 0;
    this.rate = 1;
    this.basePos = 0;
    this.baseCtx = 0;
    this.seekPos = 0;
    this.playingWanted = false;
    this.ended = false;
    this.following = false;
    this.loaded = false;
    this.record = { starts: [], subtitles: [], seeks: 0 };
    this._setupAvatar(root);
    this.player = new Player({
      driver: this.driver,
      fetchAudio: (url) => this._audio(url),
      notBefore: (s) => this._notBefore(s),
      onSentenceStart: (turnId, index, text, startAt, audioUrl) => this._onSentenceStart(turnId, index, text, startAt, audioUrl),
      onSubtitle: (text) => {
        this.ui.showSubtitle(text);
        if (text) this.record.subtitles.push({ text, at: this.player.now() });
      },
      onTurnEnd: (turnId) => this._onTurnEnd(turnId),
      onActivity: () => this._refreshState(),
      onLocked: () => {},
      onAudioState: (state) => {
        if (state === "running") this.player.pump();
      },
      onAudioError: () => this.ui.toast("Не удалось загрузить звук фразы — показываю текст.", "warn"),
    });
    this.ctx = this.player.audioContext(); // held suspended until Play (where autoplay is allowed it starts running)
    this.ctx.suspend().catch(() => {});
    this.audioCache = new Map();
    this.ui.sentenceMark = (turnId, index) => this._sentenceMark(turnId, index);
    this._bind();
    this._expose();
  }

  _setupAvatar(root) {
    this.view = new AvatarView(root, {
      maxFps: this.config.maxFps || 60,
      mapping: this.config.mapping,
      now: () => this.ctx?.currentTime ?? 0,
      onFrame: () => {
        this.player?.tick();
        this._loop();
      },
    });
    setInterval(() => this._loop(), 25); // the position moves on even when frames are slow or hidden
  }

  get driver() {
    return this.view.driver;
  }

  // --- Loading and following ------------------------------------------------------------

  async start() {
    this.ui.setLoading(true);
    this.ui.setStatus("connecting", "Загрузка записи…");
    try {
      await Promise.all([this._fetchMore(), showConfiguredAvatar(this.view, this.config.avatar, { player: this.player, ui: this.ui })]);
    } catch (err) {
      this.ui.setLoading(false);
      this.ui.setStatus("offline", err.status === 403 || err.status === 401 ? "Нет доступа" : "Не удалось загрузить запись");
      this.ui.toast("Не удалось загрузить события сессии.", "error", 15000);
      return;
    }
    this.ui.setLoading(false);
    if (this.ctx.state === "running" && !this.playingWanted) await this.ctx.suspend().catch(() => {});
    this.loaded = true;
    this._replan();
    const first = this.plan.turns[0];
    this.seek(first ? Math.max(0, first.userPos - LEAD_IN_S) : 0);
    this.playBtn.disabled = !first;
    this._updateFollowing();
    if (!first) this.ui.setStatus("ended", "В сессии нет ходов");
    else this._status();
    this._poll();
  }

  async _fetchMore() {
    let got = 0;
    for (;;) {
      const page = await getJson(`${this.config.apiBase || ""}/api/sessions/${encodeURIComponent(this.config.sessionId)}/events?after_seq=${this.lastSeq}&limit=${PAGE}`);
      const events = (Array.isArray(page.events) ? page.events : []).filter((f) => Number.isInteger(f.seq) && f.seq > this.lastSeq);
      this.frames.push(...events);
      got += events.length;
      if (events.length) this.lastSeq = events[events.length - 1].seq;
      if (!events.length || !page.has_more) break;
    }
    for (const f of this.frames.slice(-got || this.frames.length)) {
      const url = f.type === "SpeechSynthesized" ? f.data?.audio?.url : null;
      if (url && !this.audioCache.has(url)) this.audioCache.set(url, this._fetchAudio(url));
    }
    return got;
  }

  async _fetchAudio(url) {
    const res = await fetch(url, { credentials: "same-origin" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.arrayBuffer();
  }

  async _audio(url) {
    if (!this.audioCache.has(url)) this.audioCache.set(url, this._fetchAudio(url));
    const bytes = await this.audioCache.get(url);
    return bytes.slice(0); // decodeAudioData detaches its buffer; a later seek decodes again
  }

  _updateFollowing() {
    const last = this.plan.turns[this.plan.turns.length - 1];
    this.following = !!last && last.endPos === null;
  }

  async _poll() {
    while (this.following) {
      await new Promise((r) => setTimeout(r, this.config.pollMs || 1500));
      try {
        const n = await this._fetchMore();
        if (n) this._onMoreEvents();
        this._updateFollowing();
        this._status();
      } catch {
        this.ui.setStatus("offline", "Нет связи — повтор…");
      }
    }
  }

  _onMoreEvents() {
    const before = [...this.track.revised].join();
    this._replan();
    // A revision completed meanwhile changes what was (or is about to be) played: start
    // again from here on the new track; otherwise new events just continue it.
    if ([...this.track.revised].join() !== before) this.restart(this.position());
    else this._feedPlayer(true);
  }

  _replan() {
    this.track = selectRevision(this.frames, this.revisionMode);
    const frames = this.track.frames;
    this.plan = planTurns(frames);
    this.total = frames.length ? Math.max(this.plan.pos(frames[frames.length - 1]), ...this.plan.turns.map((t) => t.donePos)) : 0;
    this._renderTurnList();
    this._renderMarks();
    this._renderRevisionControl();
  }

  // --- The clock ---------------------------------------------------------------------------

  position() {
    return this.basePos + Math.max(0, this.ctx.currentTime - this.baseCtx) * this.rate;
  }

  ctxAt(p) {
    return this.baseCtx + (p - this.basePos) / this.rate;
  }

  _notBefore(s) {
    const t = this.plan.byId.get(s.turnId);
    const step = t?.plan.find((x) => x.index === s.index);
    if (!step) return null;
    return this.ctxAt(Math.max(step.ready, this.seekPos));
  }

  // --- Seeking -------------------------------------------------------------------------------

  /** Go to session position p (seconds); a sentence under way restarts from its beginning. */
  seek(p) {
    const turns = this.plan.turns;
    p = Math.max(0, Math.min(p, this.total));
    let current = null;
    let skipThrough = -1;
    for (const t of turns) {
      if (t.userPos > p || t.donePos <= p) continue;
      current = t;
      for (const step of t.plan) {
        if (step.end <= p) skipThrough = step.index;
        else if (step.start < p) {
          p = step.start; // restart the sentence under way
          break;
        }
      }
      break;
    }
    this.record.seeks++;
    this.player.reset();
    this.ended = false;
    this.ui.clearLog();
    this.ui.showSubtitle(null);
    this.conv = new Conversation({ keepRevisions: true }); // the track already holds the chosen revisions
    this.uiCursor = 0;
    this.added = new Set();
    this.fed = new Set();
    this.turnIds = new Set(turns.map((t) => t.id));
    this.basePos = p;
    this.seekPos = p;
    this.baseCtx = this.ctx.currentTime + SEEK_LEAD_S / Math.max(1, this.rate);
    // The log as it stood at p.
    const frames = this.track.frames;
    while (this.uiCursor < frames.length && this.plan.pos(frames[this.uiCursor]) <= p) this.conv.apply(frames[this.uiCursor++]);
    for (const id of this.conv.order) {
      const turn = this.conv.turns.get(id);
      const t = this.plan.byId.get(id);
      if (current && id === current.id) {
        this.ui.ensureTurn(turn);
        for (const step of t.plan) if (step.index <= skipThrough) this.ui.revealSentence(id, step.index, step.text);
        this.ui.setTyping(id, true);
        renderNote(this.ui, turn);
      } else {
        renderTurn(this.ui, this.conv, turn);
      }
      this.added.add(id); // past turns never play again
    }
    if (current) {
      this.added.delete(current.id);
      this._addTurn(current, skipThrough);
    }
    const timings = this.conv.lastTimings();
    if (timings) this.ui.showTimings(timings);
    else this.ui.timings.hidden = true;
    this._loop();
  }

  /** Seek while holding the clock, then play on (if it was playing, or `play`). */
  async restart(p, { play = false } = {}) {
    const resume = play || this.playingWanted;
    if (this.ctx.state === "running") await this.ctx.suspend().catch(() => {});
    this.seek(p);
    if (resume) await this.play();
  }

  jumpToTurn(n) {
    const t = this.plan.turns[n];
    if (t) this.restart(Math.max(0, t.userPos - LEAD_IN_S), { play: true });
  }

  setSpeed(rate) {
    if (!SPEEDS.includes(rate) || rate === this.rate) return;
    const p = this.loaded ? this.position() : 0;
    this.rate = rate;
    this.player.rate = rate;
    for (const b of this.speedBtns) b.setAttribute("aria-pressed", String(Number(b.dataset.speed) === rate));
    if (this.loaded) this.restart(p);
  }

  /** Play the sentences as generated (ORIGINAL) or in their latest complete revision (LATEST), from here on. */
  setRevisionMode(mode) {
    if (![ORIGINAL, LATEST].includes(mode) || mode === this.revisionMode) return;
    this.revisionMode = mode;
    const url = new URL(location.href);
    if (mode === LATEST) url.searchParams.set("revision", LATEST);
    else url.searchParams.delete("revision");
    history.replaceState(null, "", url); // a reload or a shared link keeps the version
    if (!this.loaded) return this._renderRevisionControl();
    const p = this.position();
    this._replan();
    this.restart(p);
  }

  /** True while a sentence the Player holds still waits for its audio to be decoded. */
  _decoding() {
    for (const t of this.player.turns.values()) {
      if (t.cancelled) continue;
      for (const s of t.sentences.values()) if (s.audioUrl && !s.buffer && !s.audioFailed && !s.textOnly) return true;
    }
    return false;
  }

  async play() {
    if (!this.loaded || !this.plan.turns.length) return;
    if (this.ended) this.seek(Math.max(0, this.plan.turns[0].userPos - LEAD_IN_S));
    this.playingWanted = true;
    this._status();
    // The clock starts once the audio due first is decoded, so that it starts on time.
    const until = performance.now() + 3000;
    while (this._decoding() && performance.now() < until) await new Promise((r) => setTimeout(r, 25));
    if (!this.playingWanted) return;
    try {
      await this.ctx.resume();
    } catch {
      /* a later gesture */
    }
    this._status();
  }

  async pause() {
    this.playingWanted = false;
    try {
      await this.ctx.suspend();
    } catch {
      /* already */
    }
    this._status();
  }

  // --- Feeding ---------------------------------------------------------------------------------

  _addTurn(t, skipThrough = -1) {
    if (this.added.has(t.id)) return;
    this.added.add(t.id);
    this.player.addTurn(t.id, { skipThrough });
    this._feedPlayer();
  }

  _feedPlayer(fresh = false) {
    for (const f of this.track.frames) {
      const id = f.data?.turn_id;
      if (!id || this.fed.has(f.seq) || !this.player.hasTurn(id) || f.type === "UserMessageReceived") continue;
      if (f.type === "TurnInterrupted") continue; // at its own time, from the log stream
      this.fed.add(f.seq);
      this.player.onEvent(f);
    }
    if (fresh) this.player.pump();
  }

  _loop() {
    if (!this.loaded) return;
    const p = this.position();
    // Turns reach the Player ahead of time (after an earlier turn's interruption, if any).
    let prevInterrupt = -Infinity;
    for (const t of this.plan.turns) {
      const feedAt = Math.max(t.userPos - LOOKAHEAD_S * Math.max(1, this.rate), prevInterrupt);
      if (!this.added.has(t.id) && feedAt <= p) this._addTurn(t);
      prevInterrupt = t.interruptPos ?? -Infinity;
    }
    // The log follows the position.
    const frames = this.track.frames;
    while (this.uiCursor < frames.length && this.plan.pos(frames[this.uiCursor]) <= p) this._apply(frames[this.uiCursor++]);
    this._refreshState();
    this._renderProgress(p);
    if (!this.ended && !this.following && this.uiCursor >= frames.length && p >= this.total && !this.player.isBusy()) {
      this.ended = true;
      this.ui.showSubtitle(null); // the clock stops here: don't leave the last line frozen on screen
      this.pause();
    }
  }

  _apply(frame) {
    const turn = this.conv.apply(frame);
    if (!turn) return;
    const d = frame.data || {};
    switch (frame.type) {
      case "UserMessageReceived":
        this.ui.ensureTurn(turn);
        this.ui.setTyping(turn.id, true);
        this._turnRecord(turn.id).userAt = this.ctx.currentTime;
        break;
      case "SentenceGenerated":
        if (!this.player.hasTurn(turn.id)) this.ui.revealSentence(turn.id, d.index, d.text);
        break;
      case "TurnCompleted":
        if (turn.timings) this.ui.showTimings(turn.timings);
        this._finishTurnView(turn);
        break;
      case "TurnInterrupted":
        this.player.cancelTurn(turn.id);
        this._finishTurnView(turn);
        break;
      case "StageFailed":
        renderNote(this.ui, turn);
        break;
      default:
        break;
    }
  }

  _turnRecord(id) {
    this.record.turns ??= new Map();
    if (!this.record.turns.has(id)) this.record.turns.set(id, {});
    return this.record.turns.get(id);
  }

  _onSentenceStart(turnId, index, text, startAt, audioUrl) {
    this.ui.revealSentence(turnId, index, text);
    this.ui.setTyping(turnId, false);
    this.record.starts.push({ turn: turnId, index, text, startAt, audio: audioUrl ?? null, rate: this.rate, seek: this.record.seeks,
      revision: this.revisionMode === LATEST ? this.track.revised.get(`${turnId}:${index}`) ?? 0 : 0 });
    this._refreshState();
  }

  _onTurnEnd(turnId) {
    const turn = this.conv.turns.get(turnId);
    if (turn) this._finishTurnView(turn);
  }

  _finishTurnView(turn) {
    if (!this.conv.finished(turn)) return;
    // A turn the Player holds shows its sentences as they are spoken; the others at once.
    if (!this.player.hasTurn(turn.id)) {
      for (const i of this.conv.visibleSentences(turn)) this.ui.revealSentence(turn.id, i, turn.sentences.get(i));
    }
    this.ui.setTyping(turn.id, false);
    if (turn.sentences.size === 0) this.ui.setEmptyReply(turn.id);
    renderNote(this.ui, turn);
  }

  _refreshState() {
    let state = "listening";
    if (this.player.current) state = "speaking";
    else if (this.conv && this.conv.unfinishedTurn()) state = "thinking";
    else if (this.player.isBusy() && this.player.scheduled.length) state = "speaking";
    if (state !== this._state) {
      if (state === "thinking" && !this.player.active) this.driver.setExpression("thinking", 0.5);
      else if (state === "listening") this.driver.setExpression("neutral");
      this._state = state;
    }
    this.ui.setAvatarState(state);
  }

  // --- Controls ------------------------------------------------------------------------------

  _bind() {
    const $ = (s) => this.root.querySelector(s);
    this.playBtn = $("[data-play]");
    this.clock = $("[data-clock]");
    this.timeline = $("[data-timeline]");
    this.fill = $("[data-timeline-fill]");
    this.head = $("[data-timeline-head]");
    this.marks = $("[data-timeline-marks]");
    this.turnList = $("[data-turns]");
    this.speedBtns = [...this.root.querySelectorAll("[data-speed]")];
    this.revisionBtns = [...this.root.querySelectorAll("[data-revision]")];
    for (const b of this.revisionBtns) b.addEventListener("click", () => this.setRevisionMode(b.dataset.revision));
    this._renderRevisionControl();
    this.playBtn.addEventListener("click", () => (this.playingWanted ? this.pause() : this.play()));
    for (const b of this.speedBtns) b.addEventListener("click", () => this.setSpeed(Number(b.dataset.speed)));
    this.timeline.addEventListener("click", (ev) => {
      if (!this.loaded || !this.total) return;
      const r = this.timeline.getBoundingClientRect();
      this.restart(((ev.clientX - r.left) / r.width) * this.total);
    });
    window.addEventListener("keydown", (ev) => {
      if (ev.target.closest?.("button, a, input, textarea")) return;
      if (ev.key === " ") {
        ev.preventDefault();
        this.playBtn.click();
      }
    });
  }

  _status() {
    if (!this.loaded) return;
    this.playBtn.dataset.playing = String(this.playingWanted);
    this.playBtn.setAttribute("aria-label", this.playingWanted ? "Пауза" : "Воспроизвести");
    if (this.ended) this.ui.setStatus("ended", "Повтор окончен");
    else if (this.following) this.ui.setStatus("following", this.playingWanted ? "Сессия идёт — повтор следует за ней" : "Сессия идёт сейчас");
    else if (this.playingWanted) this.ui.setStatus("online", `Воспроизведение · ${String(this.rate).replace(".", ",")}×`);
    else this.ui.setStatus("paused", "Пауза");
  }

  _renderTurnList() {
    const items = this.plan.turns.map((t, i) => {
      const li = el("li");
      li.dataset.turn = t.id;
      const b = el("button");
      b.type = "button";
      b.title = t.text;
      const q = el("span", "q", t.text);
      if (t.interruptPos !== null) q.append(el("span", "flag", "прерван"));
      else if (t.endPos === null) q.append(el("span", "flag", "идёт"));
      b.append(el("span", "n", String(i + 1)), q, el("span", "at", formatClock(t.userPos)));
      b.addEventListener("click", () => this.jumpToTurn(i));
      li.append(b);
      return li;
    });
    this.turnList.replaceChildren(...items);
    this._currentTurnEl = null;
  }

  _renderRevisionControl() {
    for (const b of this.revisionBtns) b.setAttribute("aria-pressed", String(b.dataset.revision === this.revisionMode));
    const n = this.track.revised.size;
    const latest = this.revisionBtns.find((b) => b.dataset.revision === LATEST);
    if (latest) latest.title = n ? `Каждая фраза в последней готовой правке (исправлено фраз: ${n})` : "Правок в этой сессии нет";
  }

  /** The transcript's mark on a revised sentence: played in revision N, or (original) has one. */
  _sentenceMark(turnId, index) {
    const n = this.track.revised.get(`${turnId}:${index}`);
    if (!n) return null;
    return this.revisionMode === LATEST ? { text: `правка ${n}`, kind: "played" } : { text: `есть правка ${n}`, kind: "available" };
  }

  _renderMarks() {
    const total = this.total || 1;
    this.marks.replaceChildren(...this.plan.turns.map((t) => {
      const m = el("span", "timeline-mark");
      m.style.left = `${(100 * t.userPos) / total}%`;
      m.title = t.text;
      m.dataset.pos = String(t.userPos);
      return m;
    }));
  }

  _renderProgress(p) {
    const total = this.total || 1;
    const f = Math.min(1, Math.max(0, p / total));
    const pct = `${(100 * f).toFixed(2)}%`;
    if (this.fill.style.width !== pct) {
      this.fill.style.width = pct;
      this.head.style.left = pct;
      this.timeline.setAttribute("aria-valuenow", String(Math.round(100 * f)));
      this.clock.textContent = `${formatClock(p)} / ${formatClock(this.total)}`;
      for (const m of this.marks.children) m.classList.toggle("past", Number(m.dataset.pos) <= p);
    }
    let cur = -1;
    this.plan.turns.forEach((t, i) => {
      if (t.userPos <= p) cur = i;
    });
    const li = cur >= 0 ? this.turnList.children[cur] : null;
    if (li !== this._currentTurnEl) {
      this._currentTurnEl?.classList.remove("current");
      li?.classList.add("current");
      this._currentTurnEl = li;
    }
  }

  // --- Read-only hook for the browser tests -------------------------------------------------

  _expose() {
    const r = this;
    const mouth = () => {
      const m = r.view.meshMorphs("mouth") || {};
      return Object.entries(m).reduce((s, [k, v]) => (k !== "mouth_X" && k.startsWith("mouth_") ? s + v : s), 0);
    };
    window.__replay = Object.freeze({
      state: () => ({
        loaded: r.loaded, playing: r.playingWanted, audioState: r.ctx.state, ended: r.ended, following: r.following,
        rate: r.rate, position: r.loaded ? r.position() : 0, total: r.total ?? 0, lastSeq: r.lastSeq, frames: r.view.stage?.frames ?? 0,
        avatar: r.ui.stateChip.dataset.state, seeks: r.record.seeks, revision: r.revisionMode,
        revised: Object.fromEntries(r.track.revised),
      }),
      position: () => (r.loaded ? r.position() : 0),
      audioTime: () => r.ctx.currentTime,
      playing: () => r.player.playing(),
      subtitle: () => r.player.subtitle,
      mouth,
      meshMorphs: (name) => r.view.meshMorphs(name),
      model: () => r.view.debug(),
      actions: () => r.driver.activeActions(),
      starts: () => r.record.starts.map((s) => ({ ...s })),
      subtitles: () => r.record.subtitles.map((s) => ({ ...s })),
      turns: () => (r.plan?.turns ?? []).map((t) => ({
        id: t.id, number: t.number, text: t.text, userPos: t.userPos, audioPos: t.audioPos, endPos: t.endPos,
        sentences: t.plan.map((s) => ({ index: s.index, text: s.text, ready: s.ready, start: s.start, end: s.end })),
        userAt: r.record.turns?.get(t.id)?.userAt ?? null,
      })),
    });
  }
}

function boot() {
  const root = document.querySelector("[data-replay-app]");
  if (!root) return;
  const params = new URLSearchParams(location.search);
  const config = pageConfig(params);
  if (params.get("revision") === LATEST) config.revision = LATEST;
  const replay = new Replay(root, config);
  const speed = Number(params.get("speed"));
  if (SPEEDS.includes(speed)) replay.setSpeed(speed);
  replay.start();
}

boot();
