// The WebSocket: connect, resume after the last processed seq, reconnect with backoff.

const BACKOFF_S = [0.5, 1, 2, 4, 8, 15];

export class Connection {
  /**
   * opts: {url() -> string, resumeSeq() -> number, onFrame(frame), onStatus(status, info),
   *        onRefused() -> called when the handshake fails without ever opening}
   * status: "connecting" | "open" | "waiting" (reconnect scheduled) | "closed"
   */
  constructor(opts) {
    this.opts = opts;
    this.ws = null;
    this.attempt = 0;
    this.outbox = [];
    this.status = "closed";
    this.stopped = false;
    this.timer = null;
    this.connects = 0; // successful opens (tests)
    this._online = () => {
      if (this.status === "waiting" && !this.stopped) this.reconnectNow();
    };
    window.addEventListener("online", this._online);
  }

  _setStatus(status, info = {}) {
    this.status = status;
    this.opts.onStatus?.(status, info);
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.timer);
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) return;
    let ws;
    try {
      ws = new WebSocket(this.opts.url());
    } catch (err) {
      this._scheduleReconnect(false);
      return;
    }
    this.ws = ws;
    let opened = false;
    this._setStatus("connecting", { attempt: this.attempt });
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.connects++;
      // Always resume: the server sends every stored event after our last one, then live ones.
      ws.send(JSON.stringify({ type: "resume", after_seq: this.opts.resumeSeq() }));
      this._setStatus("open");
      const pending = this.outbox.splice(0);
      for (const frame of pending) ws.send(JSON.stringify(frame));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (frame && typeof frame === "object") this.opts.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) {
        this._setStatus("closed");
        return;
      }
      if (!opened) this.opts.onRefused?.(ev);
      this._scheduleReconnect(opened);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  _scheduleReconnect(wasOpen) {
    if (this.stopped) return;
    const base = BACKOFF_S[Math.min(this.attempt, BACKOFF_S.length - 1)];
    const delay = wasOpen ? 0.3 : base * (0.8 + 0.4 * Math.random());
    this.attempt++;
    this._setStatus("waiting", { delay, attempt: this.attempt });
    this.timer = setTimeout(() => this.connect(), delay * 1000);
  }

  reconnectNow() {
    clearTimeout(this.timer);
    this.connect();
  }

  /** Send a frame; while disconnected, frames that may wait (say) are queued. */
  send(frame, { queue = true } = {}) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    if (queue) this.outbox.push(frame);
    return false;
  }

  /** Drop the socket as a network failure would (tests, "reconnect" button). */
  drop() {
    if (this.ws) this.ws.close(4000, "client drop");
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "bye");
  }
}
