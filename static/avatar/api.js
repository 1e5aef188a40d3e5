// HTTP side of the client protocol (docs/protocol.md) and the session kept in localStorage.

const STORAGE_KEY = "avatar.session.v1";

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

function cookie(name) {
  const m = document.cookie.match(new RegExp(`(?:^|;\\s*)${name}=([^;]*)`));
  return m ? decodeURIComponent(m[1]) : null;
}

async function parseError(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, body?.code || "http_error", body?.message || `HTTP ${res.status}`, body || {});
}

export class Api {
  constructor(base = "") {
    this.base = base.replace(/\/$/, "");
  }

  async createSession(title = "") {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    const csrf = cookie("csrftoken");
    if (csrf) headers["X-CSRFToken"] = csrf;
    const res = await fetch(`${this.base}/api/sessions`, {
      method: "POST", headers, credentials: "same-origin", body: JSON.stringify(title ? { title } : {}),
    });
    if (res.status !== 201 && !res.ok) throw await parseError(res);
    const data = await res.json();
    if (!data.session_id || !data.token) throw new ApiError(res.status, "bad_response", "Сервер вернул неполный ответ.");
    return data;
  }

  /** One page of stored events after afterSeq: {events, head_seq, has_more}. */
  async events(session, afterSeq, limit = 500) {
    const url = `${this.base}/api/sessions/${encodeURIComponent(session.session_id)}/events?after_seq=${afterSeq}&limit=${limit}`;
    const res = await fetch(url, { headers: { Authorization: `Bearer ${session.token}`, Accept: "application/json" }, cache: "no-store" });
    if (!res.ok) throw await parseError(res);
    return res.json();
  }

  /** An artifact's bytes (audio), fetched with the session's token. */
  async artifact(session, url) {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${session.token}` } });
    if (!res.ok) throw await parseError(res);
    return res.arrayBuffer();
  }
}

/** The session (id, token) and playback progress, kept across reloads. */
export class SessionStore {
  constructor(storage = safeStorage()) {
    this.storage = storage;
  }

  load() {
    try {
      const data = JSON.parse(this.storage.getItem(STORAGE_KEY) || "null");
      if (data && typeof data.session_id === "string" && typeof data.token === "string") {
        return { lastSeq: 0, heard: null, ...data };
      }
    } catch {
      /* corrupt: start over */
    }
    return null;
  }

  save(session) {
    try {
      this.storage.setItem(STORAGE_KEY, JSON.stringify(session));
    } catch {
      /* storage full or disabled: the page still works, it just forgets on reload */
    }
  }

  clear() {
    try {
      this.storage.removeItem(STORAGE_KEY);
    } catch {
      /* ignore */
    }
  }
}

function safeStorage() {
  try {
    const k = "__avatar_probe__";
    window.localStorage.setItem(k, "1");
    window.localStorage.removeItem(k);
    return window.localStorage;
  } catch {
    const mem = new Map();
    return { getItem: (k) => mem.get(k) ?? null, setItem: (k, v) => mem.set(k, String(v)), removeItem: (k) => mem.delete(k) };
  }
}

/** A random id for client_msg_id (crypto.randomUUID needs a secure context). */
export function randomId() {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  const b = new Uint8Array(16);
  window.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
