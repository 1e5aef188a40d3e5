// The avatar page: session, history, live stream, playback, and the chat UI.

import { AvatarView, showConfiguredAvatar } from "./avatar-view.js";
import { Player } from "./player.js";
import { Conversation } from "./conversation.js";
import { Api, SessionStore, randomId } from "./api.js";
import { Connection } from "./connection.js";
import { ChatUI, errorText, pageConfig, renderNote, renderTurn } from "./ui.js";

const HISTORY_PAGE = 500;
const SAVE_DELAY_MS = 200;

class App {
  constructor(root, config) {
    this.config = config;
    this.ui = new ChatUI(root);
    this.api = new Api(config.apiBase || "");
    this.store = new SessionStore();
    this.conv = new Conversation();
    this.live = new Set(); // turns that play (arrived live, or the unfinished one on load)
    this.session = null;
    this.connected = false;
    this.interrupting = new Set(); // turns we asked to stop (their no_active_turn is expected)
    this._saveTimer = null;
    this._booting = true;
    this._setupAvatar(root);
    this.player = new Player({
      driver: this.driver,
      fetchAudio: (url) => this.api.artifact(this.session, url),
      onSentenceStart: (turnId, index, text) => this._onSentenceStart(turnId, index, text),
      onSubtitle: (text) => this.ui.showSubtitle(text),
      onTurnEnd: (turnId) => this._onTurnEnd(turnId),
      onActivity: () => this._refreshState(),
      onLocked: () => this.ui.showSoundButton(true),
      onAudioState: (state) => {
        if (state === "running") {
          this.ui.showSoundButton(false);
          this.player.pump();
        }
      },
      onAudioError: () => this.ui.toast("Не удалось загрузить звук фразы — показываю текст.", "warn"),
    });
    this.conn = new Connection({
      url: () => this._wsUrl(),
      resumeSeq: () => this.conv.lastSeq,
      onFrame: (frame) => this._onFrame(frame),
      onStatus: (status, info) => this._onConnStatus(status, info),
      onRefused: () => this._onRefused(),
    });
    this._avatarLoaded = showConfiguredAvatar(this.view, this.config.avatar, { player: this.player, ui: this.ui });
    this._bindUi();
    this._exposeDebug();
  }

  // --- Avatar and render loop -----------------------------------------------------------

  _setupAvatar(root) {
    this.view = new AvatarView(root, {
      maxFps: this.config.maxFps || 60,
      mapping: this.config.mapping,
      now: () => (this.player?.ctx ? this.player.ctx.currentTime : performance.now() / 1000),
      onFrame: () => this.player?.tick(),
    });
    // While the tab is hidden, requestAnimationFrame stops: keep subtitles and the log moving.
    setInterval(() => {
      if (document.hidden) this.player?.tick();
    }, 250);
  }

  get driver() {
    return this.view.driver;
  }

  // --- Boot --------------------------------------------------------------------------------

  async start() {
    this.ui.setStatus("connecting", "Подключение…");
    this.ui.setAvatarState("listening");
    this.ui.setLoading(true);
    await this._avatarLoaded; // nothing plays before the avatar that will speak is on stage
    for (let attempt = 0; ; attempt++) {
      try {
        await this._openSession();
        break;
      } catch (err) {
        this.ui.setStatus("offline", "Сервер недоступен — повтор…");
        await new Promise((r) => setTimeout(r, Math.min(15000, 1000 * 2 ** attempt)));
      }
    }
    this.ui.setLoading(false);
    this._booting = false;
    this.conn.connect();
  }

  async _openSession() {
    let session = this.store.load();
    if (session) {
      try {
        this.session = session;
        await this._loadHistory();
        return;
      } catch (err) {
        if (!(err.status === 403 || err.status === 404)) throw err;
        // The server no longer knows this session (or its token): start a new one.
        this.store.clear();
        this._resetState();
      }
    }
    const created = await this.api.createSession();
    this.session = { session_id: created.session_id, token: created.token, lastSeq: 0, heard: null };
    this.store.save(this.session);
    await this._loadHistory();
  }

  _resetState() {
    this.player.stop();
    this.conv = new Conversation();
    this.live.clear();
    this.ui.clearLog();
    this.ui.showSubtitle(null);
  }

  async _loadHistory() {
    const frames = [];
    let after = 0;
    for (;;) {
      const page = await this.api.events(this.session, after, HISTORY_PAGE);
      const events = Array.isArray(page.events) ? page.events : [];
      frames.push(...events);
      if (!events.length || !page.has_more) break;
      after = events[events.length - 1].seq;
    }
    const byTurn = new Map();
    for (const f of frames) {
      if (!Number.isInteger(f.seq) || f.seq <= this.conv.lastSeq) continue;
      const turn = this.conv.apply(f); // null for revisions of stored sentences: never played here
      if (!turn) continue;
      if (!byTurn.has(turn.id)) byTurn.set(turn.id, []);
      byTurn.get(turn.id).push(f);
    }
    // The log, as it stands: no audio for turns that are over.
    const open = this.conv.unfinishedTurn();
    for (const id of this.conv.order) if (id !== open?.id) renderTurn(this.ui, this.conv, this.conv.turns.get(id));
    const timings = this.conv.lastTimings();
    if (timings) this.ui.showTimings(timings);
    // A turn still in progress plays on, after what the previous page already played;
    // its other sentences appear as they are spoken.
    if (open) {
      const heard = this.session.heard && this.session.heard.turnId === open.id ? this.session.heard.index : -1;
      this.ui.ensureTurn(open);
      this.ui.setTyping(open.id, true);
      for (const i of [...open.sentences.keys()].filter((k) => k <= heard)) this.ui.revealSentence(open.id, i, open.sentences.get(i));
      this._makeLive(open, heard);
      for (const f of byTurn.get(open.id) || []) this.player.onEvent(f);
    }
    this._saveSoon();
    this._refreshState();
  }

  _makeLive(turn, skipThrough = -1) {
    this.live.add(turn.id);
    this.player.addTurn(turn.id, { skipThrough });
  }

  _wsUrl() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const path = `${this.config.wsPath || "/ws/sessions/"}${encodeURIComponent(this.session.session_id)}/`;
    return `${proto}//${location.host}${path}?token=${encodeURIComponent(this.session.token)}`;
  }

  // --- Live frames ---------------------------------------------------------------------------

  _onFrame(frame) {
    if (frame.type === "error") return this._onError(frame);
    if (frame.type === "hello") {
      // The server has fewer events than we processed: its store was reset. Start afresh.
      if (Number.isInteger(frame.head_seq) && frame.head_seq < this.conv.lastSeq) this._restartSession("Сервер начал разговор заново.");
      return;
    }
    if (frame.type === "ack") {
      return;
    }
    if (!Number.isInteger(frame.seq) || frame.seq <= this.conv.lastSeq) return; // duplicate or not an event
    const turn = this.conv.apply(frame);
    this._saveSoon();
    if (!turn) return; // also edits and re-renders of stored sentences: the live page plays what was said
    const d = frame.data || {};
    switch (frame.type) {
      case "UserMessageReceived":
        this.ui.ensureTurn(turn);
        this.ui.setTyping(turn.id, true);
        this._makeLive(turn);
        break;
      case "SentenceGenerated":
        if (!this.live.has(turn.id) || !this.player.audioRunning()) this.ui.revealSentence(turn.id, d.index, d.text);
        break;
      case "TurnCompleted":
        if (turn.timings) this.ui.showTimings(turn.timings);
        break;
      case "TurnInterrupted":
        // Someone (this page or another viewer) stopped the turn: stop it here too.
        this.player.cancelTurn(turn.id);
        this._finishTurnView(turn);
        break;
      case "StageFailed":
        renderNote(this.ui, turn);
        break;
      default:
        break;
    }
    if (this.live.has(turn.id)) this.player.onEvent(frame);
    this._refreshState();
  }

  _onError(frame) {
    const code = frame.code;
    if (code === "no_active_turn" && this.interrupting.size) return; // the turn had just ended
    if (["invalid_message", "rate_limited", "too_large", "bad_request"].includes(code)) {
      const id = this.ui.oldestPendingId();
      if (id) {
        this.ui.failPending(id, "Не отправлено");
        const text = this.pendingSays?.get(id);
        if (text && !this.ui.input.value) {
          this.ui.input.value = text;
          this.ui._grow();
        }
      }
    }
    this.ui.toast(errorText(frame), "error");
  }

  _onSentenceStart(turnId, index, text) {
    this.ui.revealSentence(turnId, index, text);
    this.ui.setTyping(turnId, false);
    this.session.heard = { turnId, index };
    this._saveSoon();
    this._refreshState();
  }

  _onTurnEnd(turnId) {
    const turn = this.conv.turns.get(turnId);
    if (turn) this._finishTurnView(turn);
    this._refreshState();
  }

  _finishTurnView(turn) {
    if (turn.interrupted || this.interrupting.has(turn.id)) {
      // keep only what was heard (already revealed as it played)
      if (turn.interrupted && !this.live.has(turn.id)) {
        for (const i of this.conv.visibleSentences(turn)) this.ui.revealSentence(turn.id, i, turn.sentences.get(i));
      }
    } else if (this.conv.finished(turn)) {
      for (const i of this.conv.visibleSentences(turn)) this.ui.revealSentence(turn.id, i, turn.sentences.get(i));
    }
    if (this.conv.finished(turn) || this.interrupting.has(turn.id)) {
      this.ui.setTyping(turn.id, false);
      if (turn.sentences.size === 0) this.ui.setEmptyReply(turn.id);
    }
    renderNote(this.ui, turn);
  }

  _onConnStatus(status, info) {
    this.connected = status === "open";
    if (status === "open") this.ui.setStatus("online", "На связи");
    else if (status === "connecting") this.ui.setStatus("connecting", "Подключение…");
    else if (status === "waiting") {
      const s = Math.max(1, Math.round(info.delay || 1));
      this.ui.setStatus("offline", `Нет связи — повтор через ${s} с`);
    } else this.ui.setStatus("offline", "Отключено");
    this._refreshState();
  }

  async _onRefused() {
    // The handshake failed: is it the network, or does the server no longer know us?
    try {
      await this.api.events(this.session, this.conv.lastSeq, 1);
    } catch (err) {
      if (err.status === 403 || err.status === 404) this._restartSession("Прежний разговор недоступен — начат новый.");
    }
  }

  async _restartSession(message) {
    this.conn.close();
    this.store.clear();
    this._resetState();
    if (message) this.ui.toast(message, "info");
    this.ui.setLoading(true);
    await this.start();
  }

  _refreshState() {
    let state = "listening";
    if (this.player.active) state = "speaking";
    else if (this.player.isBusy()) state = "thinking";
    else if ([...this.live].some((id) => {
      const t = this.conv.turns.get(id);
      return t && !this.conv.finished(t) && !this.interrupting.has(id);
    })) state = "thinking";
    if (!this.connected && !this._booting && state === "listening") state = "offline";
    if (state !== this._state) {
      // While the reply is being prepared the face looks thoughtful; the sentences' own
      // emotions take over once it speaks.
      if (state === "thinking" && !this.player.active) this.driver.setExpression("thinking", 0.5);
      else if (state === "listening" || state === "offline") this.driver.setExpression("neutral");
      this._state = state;
    }
    this.ui.setAvatarState(state);
  }

  _saveSoon() {
    if (this._saveTimer) return;
    this._saveTimer = setTimeout(() => {
      this._saveTimer = null;
      if (!this.session) return;
      this.session.lastSeq = this.conv.lastSeq;
      this.store.save(this.session);
    }, SAVE_DELAY_MS);
  }

  // --- User actions ---------------------------------------------------------------------------

  _bindUi() {
    const ui = this.ui;
    this.pendingSays = new Map();
    const unlock = () => this.player.unlock();
    window.addEventListener("pointerdown", unlock, { passive: true });
    window.addEventListener("keydown", unlock);
    ui.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.send(ui.input.value);
    });
    ui.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.send(ui.input.value);
      }
    });
    ui.stopBtn.addEventListener("click", () => this.interrupt());
    ui.soundBtn.addEventListener("click", async () => {
      if (await this.player.unlock()) ui.showSoundButton(false);
    });
    ui.newBtn.addEventListener("click", () => this._restartSession(null));
  }

  send(raw) {
    const text = (raw || "").trim();
    if (!text) {
      this.ui.input.focus();
      return;
    }
    const max = this.config.maxChars || 2000;
    if (text.length > max) {
      this.ui.toast(`Сообщение слишком длинное: ${text.length} символов, можно не больше ${max}.`, "error");
      return;
    }
    this.player.unlock();
    if (this.player.isBusy()) this.interrupt();
    const id = randomId();
    this.pendingSays.set(id, text);
    this.ui.addPending(id, text);
    this.ui.clearInput();
    const frame = { type: "say", text, client_msg_id: id };
    if (this.config.mode) frame.mode = this.config.mode;
    if (!this.conn.send(frame)) this.ui.toast("Нет связи — сообщение уйдёт, как только соединение восстановится.", "warn");
  }

  interrupt() {
    const progress = this.player.stop();
    const open = [...this.live].map((id) => this.conv.turns.get(id)).filter((t) => t && !this.conv.finished(t) && !this.interrupting.has(t.id));
    const target = open[open.length - 1] || (progress?.turn_id ? this.conv.turns.get(progress.turn_id) : null);
    if (!target) {
      this._refreshState();
      return;
    }
    const frame = { type: "interrupt", turn_id: target.id };
    if (progress && progress.turn_id === target.id && Number.isInteger(progress.played_index)) {
      frame.played_index = progress.played_index;
      frame.played_ms = progress.played_ms;
    }
    this.interrupting.add(target.id);
    setTimeout(() => this.interrupting.delete(target.id), 10000);
    this.conn.send(frame, { queue: false });
    this.ui.setTyping(target.id, false);
    this.ui.setNote(target.id, "Ответ прерван", "interrupted");
    this._refreshState();
  }

  // --- Debug hook for browser tests (read-only) -----------------------------------------------

  _exposeDebug() {
    const app = this;
    window.__avatar = Object.freeze({
      state: () => ({
        connection: app.conn.status,
        avatar: app.ui.stateChip.dataset.state,
        session: app.session?.session_id ?? null,
        lastSeq: app.conv.lastSeq,
        turns: app.conv.order.length,
        live: [...app.live],
        busy: app.player.isBusy(),
        player: app.player.debug(),
        frames: app.view.stage?.frames ?? 0,
        connects: app.conn.connects,
      }),
      mouthWeights: () => app.driver.mouthWeights(),
      morphs: () => app.driver.morphValues(),
      meshMorphs: (name = "mouth") => app.view.meshMorphs(name),
      model: () => app.view.debug(),
      playing: () => app.player.playing(),
      audioTime: () => app.player.now(),
      lastSeq: () => app.conv.lastSeq,
      subtitle: () => app.player.subtitle,
      actions: () => app.driver.activeActions(),
      gestures: () => app.driver.gestures,
      log: () => app.conv.order.map((id) => {
        const t = app.conv.turns.get(id);
        return { turn: id, user: t.userText, sentences: t.sentences.size, completed: t.completed, interrupted: !!t.interrupted,
          failures: t.failures.map((f) => `${f.stage}:${f.fallback}`) };
      }),
    });
  }
}

function boot() {
  const root = document.querySelector("[data-avatar-app]");
  if (!root) return;
  const params = new URLSearchParams(location.search);
  const config = pageConfig(params);
  if (params.get("mode") === "speak") config.mode = "speak"; // staff: speak the text as is
  const app = new App(root, config);
  app.start();
}

boot();
