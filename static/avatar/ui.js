// The chat page's DOM. All text from the server or the user goes in through textContent.

const STAGE_LABELS = {
  llm: "Ответ (LLM)",
  sentiment: "Эмоция",
  tts: "Синтез речи",
  lipsync: "Губы",
  motion: "Движения",
};

const ERROR_MESSAGES = {
  bad_json: "Сервер не понял сообщение. Попробуйте ещё раз.",
  binary_not_supported: "Сервер не понял сообщение. Попробуйте ещё раз.",
  too_large: "Сообщение слишком большое.",
  unknown_type: "Сервер не понял запрос.",
  bad_request: "Сервер не принял запрос.",
  rate_limited: "Слишком много сообщений подряд — подождите немного.",
  invalid_message: "Сообщение не принято.",
  no_active_turn: "Сейчас нечего останавливать.",
};

export const el = (tag, cls, text) => {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined && text !== null) n.textContent = text;
  return n;
};

export function formatMs(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} мс`;
  return `${(ms / 1000).toFixed(1).replace(".", ",")} с`;
}

function clock(ts) {
  const d = ts ? new Date(ts) : new Date();
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit" });
}

export function errorText(frame) {
  const base = ERROR_MESSAGES[frame.code] || "Что-то пошло не так.";
  // The server's own message is Russian and specific (e.g. why a message was refused).
  if (typeof frame.message === "string" && frame.message.trim() && ["invalid_message", "rate_limited", "too_large"].includes(frame.code)) {
    return frame.message.trim().slice(0, 300);
  }
  return base;
}

/** The page's config (the view's json_script), with ?fps= from the address (e.g. 20 on a slow machine). */
export function pageConfig(params) {
  let config = {};
  try {
    config = JSON.parse(document.getElementById("avatar-config")?.textContent || "{}") || {};
  } catch {
    config = {};
  }
  const fps = Number(params.get("fps"));
  if (fps >= 5 && fps <= 120) config.maxFps = fps;
  return config;
}

/** A turn that is not being played, drawn as it stands: its sentences, typing dots, note. */
export function renderTurn(ui, conv, turn) {
  ui.ensureTurn(turn);
  for (const i of conv.visibleSentences(turn)) {
    const partial = turn.interrupted && i === turn.interrupted.partialIndex && i >= turn.interrupted.heard;
    ui.revealSentence(turn.id, i, turn.sentences.get(i), { partial });
  }
  const finished = conv.finished(turn);
  ui.setTyping(turn.id, !finished);
  renderNote(ui, turn);
  if (finished && turn.sentences.size === 0) ui.setEmptyReply(turn.id);
}

/** The note under a reply: interrupted, cut short, or spoken without audio. */
export function renderNote(ui, turn) {
  if (turn.interrupted) ui.setNote(turn.id, "Ответ прерван", "interrupted");
  else if (turn.failures.some((f) => f.stage === "llm")) ui.setNote(turn.id, "Ответ получен не полностью", "warn");
  else if (turn.textOnly.size) ui.setNote(turn.id, "Без звука: синтез речи был недоступен", "warn");
}

export class ChatUI {
  constructor(root) {
    this.root = root;
    const $ = (sel) => root.querySelector(sel);
    this.log = $("[data-log]");
    this.empty = $("[data-empty]");
    this.statusEl = $("[data-status]");
    this.statusLabel = $("[data-status-label]");
    this.stateChip = $("[data-avatar-state]");
    this.subtitles = $("[data-subtitles]");
    this.subtitleText = $("[data-subtitle-text]");
    this.form = $("[data-composer]");
    this.input = $("[data-input]");
    this.sendBtn = $("[data-send]");
    this.stopBtn = $("[data-stop]");
    this.soundBtn = $("[data-sound]");
    this.timings = $("[data-timings]");
    this.timingsBody = $("[data-timings-body]");
    this.timingsSummary = $("[data-timings-summary]");
    this.toasts = $("[data-toasts]");
    this.newBtn = $("[data-new-session]");
    this.loading = $("[data-loading]");
    this.counter = $("[data-counter]");
    this.turnEls = new Map();
    this.pendingEls = new Map();
    this._autoGrow();
  }

  _autoGrow() {
    const grow = () => {
      this.input.style.height = "auto";
      this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
      const len = this.input.value.length;
      const max = Number(this.input.getAttribute("maxlength")) || 2000;
      this.counter.textContent = len > max * 0.8 ? `${len} / ${max}` : "";
    };
    this.input.addEventListener("input", grow);
    this._grow = grow;
  }

  clearInput() {
    this.input.value = "";
    this._grow();
  }

  // --- Status --------------------------------------------------------------------------

  setStatus(kind, label) {
    this.statusEl.dataset.kind = kind;
    this.statusLabel.textContent = label;
  }

  setAvatarState(state) {
    const labels = { listening: "Слушает", thinking: "Думает…", speaking: "Говорит", offline: "Нет связи" };
    this.stateChip.dataset.state = state;
    this.stateChip.textContent = labels[state] || "";
    this.stopBtn.hidden = !(state === "speaking" || state === "thinking");
  }

  setLoading(on) {
    this.loading.hidden = !on;
  }

  showSoundButton(on) {
    this.soundBtn.hidden = !on;
  }

  // --- Subtitles -----------------------------------------------------------------------

  showSubtitle(text) {
    if (text) {
      this.subtitleText.textContent = text;
      this.subtitles.classList.add("visible");
    } else {
      this.subtitles.classList.remove("visible");
    }
  }

  // --- Log -------------------------------------------------------------------------------

  _scrollToEnd(force = false) {
    const nearEnd = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 120;
    if (force || nearEnd) this.log.scrollTop = this.log.scrollHeight;
  }

  _updateEmpty() {
    this.empty.hidden = this.turnEls.size > 0 || this.pendingEls.size > 0;
  }

  addPending(clientMsgId, text) {
    const li = el("li", "turn pending");
    li.dataset.clientMsgId = clientMsgId;
    const user = el("div", "msg user");
    const bubble = el("div", "bubble", text);
    const meta = el("div", "meta", "Отправляется…");
    user.append(bubble, meta);
    li.append(user);
    this.log.append(li);
    this.pendingEls.set(clientMsgId, { li, meta });
    this._updateEmpty();
    this._scrollToEnd(true);
  }

  failPending(clientMsgId, reason) {
    const p = this.pendingEls.get(clientMsgId);
    if (!p) return;
    p.li.classList.add("failed");
    p.meta.textContent = reason || "Не отправлено";
    this.pendingEls.delete(clientMsgId);
  }

  oldestPendingId() {
    return this.pendingEls.keys().next().value ?? null;
  }

  /** Create (or adopt a pending bubble for) a turn. */
  ensureTurn(turn) {
    let t = this.turnEls.get(turn.id);
    if (t) return t;
    const pending = turn.clientMsgId ? this.pendingEls.get(turn.clientMsgId) : null;
    let li;
    let meta;
    if (pending) {
      li = pending.li;
      li.classList.remove("pending");
      meta = pending.meta;
      this.pendingEls.delete(turn.clientMsgId);
    } else {
      li = el("li", "turn");
      const user = el("div", "msg user");
      user.append(el("div", "bubble", turn.userText));
      meta = el("div", "meta");
      user.append(meta);
      li.append(user);
      this.log.append(li);
    }
    li.dataset.turn = turn.id;
    meta.textContent = clock(turn.ts);
    const bot = el("div", "msg bot");
    const face = el("div", "face");
    face.setAttribute("aria-hidden", "true");
    const body = el("div", "body");
    const bubble = el("div", "bubble");
    const typing = el("div", "typing");
    typing.setAttribute("aria-label", "Аватар печатает");
    typing.append(el("span"), el("span"), el("span"));
    bubble.append(typing);
    const note = el("div", "note");
    note.hidden = true;
    body.append(bubble, note);
    bot.append(face, body);
    li.append(bot);
    t = { li, bot, bubble, typing, note, spans: new Map() };
    this.turnEls.set(turn.id, t);
    this._updateEmpty();
    this._scrollToEnd(true);
    return t;
  }

  revealSentence(turnId, index, text, { partial = false } = {}) {
    const t = this.turnEls.get(turnId);
    if (!t || t.spans.has(index)) return;
    const span = el("span", partial ? "sentence partial" : "sentence", text);
    span.dataset.index = String(index);
    // sentenceMark(turnId, index) -> {text, kind} | null: e.g. the replay's "правка N"
    const mark = this.sentenceMark?.(turnId, index);
    if (mark) {
      const m = el("span", `rev-mark ${mark.kind || ""}`.trim(), mark.text);
      span.dataset.mark = mark.text;
      span.append(" ", m);
    }
    // a real space after each sentence: copy-paste and screen readers get separate sentences
    if (!partial) span.append(" ");
    const after = [...t.spans.entries()].filter(([i]) => i > index).sort((a, b) => a[0] - b[0])[0];
    if (after) t.bubble.insertBefore(span, after[1]);
    else t.bubble.insertBefore(span, t.typing);
    t.spans.set(index, span);
    this._scrollToEnd();
  }

  setTyping(turnId, on) {
    const t = this.turnEls.get(turnId);
    if (t) t.typing.hidden = !on;
    if (t) t.bot.classList.toggle("waiting", on && t.spans.size === 0);
  }

  setNote(turnId, text, kind = "") {
    const t = this.turnEls.get(turnId);
    if (!t) return;
    t.note.hidden = !text;
    t.note.textContent = text || "";
    t.note.dataset.kind = kind;
  }

  setEmptyReply(turnId) {
    const t = this.turnEls.get(turnId);
    if (t && t.spans.size === 0) t.bot.classList.add("empty");
  }

  clearLog() {
    this.log.replaceChildren();
    this.turnEls.clear();
    this.pendingEls.clear();
    this._updateEmpty();
  }

  // --- Timings ---------------------------------------------------------------------------

  showTimings(timings) {
    if (!timings || typeof timings !== "object") return;
    this.timings.hidden = false;
    const stages = timings.stages && typeof timings.stages === "object" ? timings.stages : {};
    const rows = Object.keys(STAGE_LABELS).filter((k) => stages[k]);
    const max = Math.max(1, ...rows.map((k) => (Number(stages[k].queued_ms) || 0) + (Number(stages[k].compute_ms) || 0)));
    const body = [];
    for (const k of rows) {
      const s = stages[k];
      const queued = Number(s.queued_ms) || 0;
      const compute = Number(s.compute_ms) || 0;
      const tr = el("tr");
      const name = el("th", null, STAGE_LABELS[k]);
      name.scope = "row";
      const count = el("td", "num", s.count ? `×${s.count}` : "");
      const bars = el("td", "bars");
      const bar = el("div", "bar");
      const q = el("span", "queued");
      q.style.width = `${(100 * queued) / max}%`;
      q.title = `Ожидание в очереди: ${formatMs(queued)}`;
      const c = el("span", "compute");
      c.style.width = `${(100 * compute) / max}%`;
      c.title = `Вычисление: ${formatMs(compute)}`;
      bar.append(q, c);
      bars.append(bar);
      const nums = el("td", "num", `${formatMs(compute)}`);
      const qn = el("td", "num muted", queued ? `+${formatMs(queued)}` : "");
      tr.append(name, count, bars, nums, qn);
      body.push(tr);
    }
    this.timingsBody.replaceChildren(...body);
    const parts = [];
    if (timings.first_sentence_ms != null) parts.push(["Первая фраза", timings.first_sentence_ms]);
    if (timings.first_audio_ms != null) parts.push(["Первый звук", timings.first_audio_ms]);
    if (timings.total_ms != null) parts.push(["Весь ответ", timings.total_ms]);
    this.timingsSummary.replaceChildren(
      ...parts.map(([label, ms]) => {
        const chip = el("span", "chip");
        chip.append(el("span", "k", label), el("b", null, formatMs(Number(ms))));
        return chip;
      }),
    );
  }

  // --- Toasts ------------------------------------------------------------------------------

  toast(message, kind = "info", ms = 5000) {
    const t = el("div", `toast ${kind}`, message);
    t.setAttribute("role", kind === "error" ? "alert" : "status");
    this.toasts.append(t);
    requestAnimationFrame(() => t.classList.add("shown"));
    setTimeout(() => {
      t.classList.remove("shown");
      setTimeout(() => t.remove(), 400);
    }, ms);
    while (this.toasts.children.length > 3) this.toasts.firstChild.remove();
  }
}
