// Live preview of an animation preset in the admin's change and add pages.
//
// The built-in avatar (static/avatar: avatar.js, driver.js, motion.js, scene.js, used as
// they are) plays the keyframes typed in the tracks textarea, re-read 300 ms after the
// last edit. Two kinds of messages: the local check (preset-tracks.js) says at once what
// the preview could not play; the server (preview-validate, the form the save runs) says
// what the save would refuse. A broken edit never stops the preview: the last playable
// clip keeps running until the text can be played again.

import * as THREE from "three";
import { Stage, frameTimer } from "../avatar/scene.js";
import { buildDefaultAvatar } from "../avatar/avatar.js";
import { AvatarDriver } from "../avatar/driver.js";
import { BONE_NAMES } from "../avatar/rig.js";
import { checkTracks, fallbackDuration, parseTracks, previewKeyframes } from "./preset-tracks.js";

const DEBOUNCE_MS = 300;
const DEFAULT_FPS = 30; // an admin page: leave the CPU to the editor, not to the render loop

const el = (tag, cls, text) => {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined && text !== null) n.textContent = text;
  return n;
};

/** A stage framed for the whole upper body: preset gestures move the arms, not only the head. */
class PreviewStage extends Stage {
  resize() {
    super.resize();
    if (!this.camera) return;
    this.camera.position.set(0, 1.38, 2.7);
    this.camera.lookAt(0, 1.3, 0);
    this.camera.updateProjectionMatrix();
  }
}

// --- The form, read as the save would read it ------------------------------------------------

class PresetForm {
  constructor(form, config) {
    this.form = form;
    this.config = config;
    this.tracks = form?.querySelector("#id_tracks") ?? null;
  }

  get editable() {
    return this.tracks !== null;
  }

  /** The fields the preview and the server check need, as typed. */
  fields() {
    const stored = this.config.preset || {};
    const value = (name, fallback) => this.form?.querySelector(`#id_${name}`)?.value ?? fallback;
    const loop = this.form?.querySelector("#id_loop");
    return {
      name: value("name", stored.name ?? ""),
      emotion: value("emotion", stored.emotion ?? ""),
      loop: loop ? loop.checked : !!stored.loop,
      duration: value("duration", String(stored.duration ?? "")),
      interpolation: value("interpolation", stored.interpolation ?? "smooth"),
      description: value("description", stored.description ?? ""),
      tracks: this.tracks ? this.tracks.value : JSON.stringify(stored.tracks ?? []),
    };
  }

  onEdit(callback) {
    if (!this.form) return;
    this.form.addEventListener("input", callback);
    this.form.addEventListener("change", callback);
  }

  csrfToken() {
    const input = this.form?.querySelector("input[name=csrfmiddlewaretoken]");
    return input?.value || document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)?.[1] || "";
  }
}

// --- The player: one clip on the driver's mixer ----------------------------------------------

class PresetPlayer {
  constructor(driver) {
    this.driver = driver;
    // The preview shows the preset alone: no idle sway under it, no blinks of the page's own.
    driver.idleAction.stop();
    driver.blink.next = Infinity;
    this.action = null;
    this.loop = true;
    this.playing = true;
    this.ended = false; // a one-shot ran out: it holds its last pose (clamped, paused by three.js)
    this.builds = 0;
    driver.mixer.addEventListener("finished", (e) => {
      if (e.action !== this.action) return;
      this.playing = false;
      this.ended = true;
    });
  }

  /** Swap in a new clip, keeping the playhead so an edit does not restart the gesture. */
  setClip(clip) {
    const old = this.action;
    const time = old ? Math.min(old.time, clip.duration) : 0;
    const action = this.driver.mixer.clipAction(clip);
    this._applyLoop(action);
    action.play();
    action.time = time;
    action.paused = !this.playing;
    if (old) {
      old.stop();
      this.driver.mixer.uncacheClip(old.getClip());
    }
    this.action = action;
    this.builds++;
  }

  toggle() {
    if (!this.action) return;
    if (this.ended) this._restart();
    else this.playing = !this.playing;
    this.action.paused = !this.playing;
  }

  setLoop(loop) {
    this.loop = loop;
    if (!this.action) return;
    this._applyLoop(this.action);
    if (loop && this.ended) this._restart(); // looping again means playing again
  }

  _restart() {
    this.ended = false;
    this.playing = true;
    this.action.reset().play();
  }

  _applyLoop(action) {
    action.setLoop(this.loop ? THREE.LoopRepeat : THREE.LoopOnce, Infinity);
    action.clampWhenFinished = true; // a one-shot holds its last pose instead of snapping to rest
  }

  time() {
    return this.action ? this.action.time : 0;
  }

  duration() {
    return this.action ? this.action.getClip().duration : 0;
  }
}

// --- The panel -------------------------------------------------------------------------------

class PresetPreview {
  constructor(panel, form, config) {
    this.panel = panel;
    this.form = new PresetForm(form, config);
    this.config = config;
    this.local = { issues: [], parseError: null, skipped: [] };
    this.server = { pending: false, valid: null, errors: {}, labels: {}, failed: null };
    this.requests = 0;
    this.avatar = buildDefaultAvatar();
    this.driver = new AvatarDriver(this.avatar);
    this.player = new PresetPlayer(this.driver);
    this.ui = {
      play: panel.querySelector("[data-preview-play]"),
      loop: panel.querySelector("[data-preview-loop]"),
      clock: panel.querySelector("[data-preview-clock]"),
      message: panel.querySelector("[data-preview-message]"),
    };
    this._startStage(panel.querySelector("[data-preview-canvas]"), Number(config.maxFps) || DEFAULT_FPS);
    this._bindControls();
    this.refresh();
  }

  _startStage(canvas, maxFps) {
    const frame = (dt) => {
      this.driver.update(dt);
      this._renderClock();
    };
    try {
      this.stage = new PreviewStage(canvas, { onFrame: frame, maxFps });
      this.stage.add(this.avatar.root);
      this.stage.start();
    } catch (err) {
      // No WebGL: the panel still checks the tracks; the avatar just is not drawn.
      this.stage = null;
      this.panel.querySelector("[data-preview-fallback]").hidden = false;
      frameTimer(frame);
    }
  }

  _bindControls() {
    this.ui.play.addEventListener("click", () => {
      this.player.toggle();
      this._renderPlay();
    });
    this.ui.loop.addEventListener("change", () => this.player.setLoop(this.ui.loop.checked));
    let timer = null;
    this.form.onEdit((e) => {
      if (this.panel.contains(e.target)) return; // the panel's own controls are not the preset
      clearTimeout(timer);
      timer = setTimeout(() => this.refresh(), DEBOUNCE_MS);
    });
  }

  /** Re-read the form: rebuild the clip if the text can be played, then ask the server. */
  refresh() {
    const fields = this.form.fields();
    this.shownText = fields.tracks;
    this._rebuild(fields);
    this._renderMessage();
    if (this.form.editable && this.config.validateUrl) this._validateOnServer(fields);
  }

  _rebuild(fields) {
    const parsed = parseTracks(fields.tracks);
    if (parsed.error) {
      this.local = { issues: [], parseError: parsed.error, skipped: [] };
      return; // keep the last playable clip running
    }
    const duration = Number(fields.duration);
    const durationOk = fields.duration.trim() !== "" && Number.isFinite(duration) && duration > 0;
    const { playable, issues } = checkTracks(parsed.tracks, durationOk ? duration : null);
    if (!durationOk) issues.unshift({ path: "duration", message: "нужно число больше 0 (пока клип длится до последнего ключа)" });
    this.local = { issues, parseError: null, skipped: [] };
    const keyframes = previewKeyframes({
      tracks: playable,
      duration: durationOk ? duration : fallbackDuration(playable),
      interpolation: fields.interpolation,
      loop: fields.loop,
    });
    const { clip, skipped } = this.driver.clipFrom(keyframes, "preset-preview");
    this.local.skipped = skipped;
    this.player.setClip(clip);
    this._renderPlay();
  }

  async _validateOnServer(fields) {
    const id = ++this.requests;
    this.server = { ...this.server, pending: true };
    let result;
    try {
      const response = await fetch(this.config.validateUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": this.form.csrfToken() },
        body: JSON.stringify({ object_id: this.config.objectId ?? null, fields }),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      result = { pending: false, valid: body.valid, errors: body.errors || {}, labels: body.labels || {}, failed: null };
    } catch (err) {
      result = { pending: false, valid: null, errors: {}, labels: {}, failed: String(err?.message || err) };
    }
    if (id !== this.requests) return; // a newer edit is already being checked
    this.server = result;
    this._renderMessage();
  }

  // --- Rendering the controls and messages ----------------------------------------------------

  _renderPlay() {
    const playing = this.player.playing;
    this.ui.play.dataset.playing = String(playing);
    this.ui.play.textContent = playing ? "❚❚ Пауза" : "▶ Играть";
    this.ui.play.setAttribute("aria-pressed", String(playing));
  }

  _renderClock() {
    if (String(this.player.playing) !== this.ui.play.dataset.playing) this._renderPlay(); // a one-shot ended, or restarted
    const text = `${this.player.time().toFixed(2)} / ${this.player.duration().toFixed(2)} с`;
    if (this.ui.clock.textContent !== text) this.ui.clock.textContent = text;
  }

  _renderMessage() {
    const box = this.ui.message;
    box.replaceChildren();
    const { parseError, issues } = this.local;
    if (parseError) {
      box.append(el("p", "preset-preview-error", `JSON не читается: ${parseError}. Показан последний верный вариант.`));
    } else if (issues.length) {
      box.append(el("p", "preset-preview-error", "Не показано в предпросмотре:"));
      box.append(list(issues.map((i) => `${i.path}: ${i.message}`)));
    }
    box.append(...this._serverLines());
    const failed = parseError || issues.length || this.server.valid === false;
    box.dataset.kind = failed ? "error" : !this.form.editable ? "view" : this.server.valid ? "ok" : "pending";
  }

  _serverLines() {
    const s = this.server;
    if (!this.form.editable) return [el("p", "preset-preview-note", "Только просмотр: сохранённая версия.")];
    if (s.failed) return [el("p", "preset-preview-note", `Проверка на сервере не удалась (${s.failed}).`)];
    if (s.valid === null) return [el("p", "preset-preview-note", "Проверка на сервере…")];
    if (s.valid) return [el("p", "preset-preview-ok", "Сервер: пресет верен, его можно сохранить.")];
    const lines = Object.entries(s.errors).flatMap(([field, messages]) =>
      messages.map((m) => (field === "__all__" ? m : `${s.labels[field] || field}: ${m}`)));
    return [el("p", "preset-preview-error", "При сохранении будут ошибки:"), list(lines, "data-preview-server-errors")];
  }

  // --- Read-only state for the browser tests (tests/web/test_preset_preview.py) ---------------

  debugHook() {
    const self = this;
    return Object.freeze({
      state: () => ({
        frames: self.stage?.frames ?? 0,
        webgl: self.stage !== null,
        playing: self.player.playing,
        loop: self.player.loop,
        time: self.player.time(),
        duration: self.player.duration(),
        tracks: self.player.action?.getClip().tracks.length ?? 0,
        builds: self.player.builds,
        shownText: self.shownText, // the tracks text the preview last read (tests wait for their edit)
        parseError: self.local.parseError,
        issues: self.local.issues.map((i) => i.path),
        skipped: self.local.skipped,
        server: { ...self.server },
        message: self.ui.message.dataset.kind,
      }),
      bones: () => Object.fromEntries(BONE_NAMES.filter((n) => self.avatar.bones.has(n))
        .map((n) => [n, self.avatar.bones.get(n).quaternion.toArray().map((v) => +v.toFixed(5))])),
      morphs: () => self.driver.morphValues(),
      pixel: (fx, fy) => self._pixel(fx, fy),
    });
  }

  /** One pixel of a freshly rendered frame (RGBA), to tell a drawn avatar from an empty canvas. */
  _pixel(fx, fy) {
    if (!this.stage) return null;
    const r = this.stage.renderer;
    r.render(this.stage.scene, this.stage.camera);
    const gl = r.getContext();
    const c = r.domElement;
    const px = new Uint8Array(4);
    gl.readPixels(Math.floor(c.width * fx), Math.floor(c.height * (1 - fy)), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    return Array.from(px);
  }
}

function list(lines, attr) {
  const ul = el("ul", "preset-preview-list");
  if (attr) ul.setAttribute(attr, "");
  for (const line of lines) ul.append(el("li", null, line));
  return ul;
}

function readConfig() {
  const node = document.getElementById("preset-preview-config");
  let config = {};
  try {
    config = node ? JSON.parse(node.textContent) : {};
  } catch {
    config = {};
  }
  const fps = Number(new URLSearchParams(location.search).get("fps"));
  if (fps >= 5 && fps <= 120) config.maxFps = fps; // as on the avatar page: ?fps=10 on a slow machine
  return config;
}

function boot() {
  const panel = document.querySelector("[data-preset-preview]");
  if (!panel) return;
  const form = document.getElementById("animationpreset_form");
  // Right under the textarea being edited, rather than after the version history.
  form?.querySelector(".form-row.field-tracks")?.after(panel);
  panel.hidden = false;
  const preview = new PresetPreview(panel, form, readConfig());
  window.__presetPreview = preview.debugHook();
}

boot();
