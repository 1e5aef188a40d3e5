// The conversation as the page knows it: turns rebuilt from stored events. No DOM here.

import { isRevisionEvent } from "./revisions.js";

export class Conversation {
  /**
   * keepRevisions: false (the live page) drops edits and re-renders of stored sentences, which
   * are not the conversation as it happened; the replay passes true for a log it has already
   * chosen the revisions of (revisions.js selectRevision).
   */
  constructor({ keepRevisions = false } = {}) {
    this.keepRevisions = keepRevisions;
    this.turns = new Map(); // turn_id -> turn
    this.order = []; // turn ids, oldest first
    this.lastSeq = 0;
  }

  _turn(id) {
    return this.turns.get(id) || null;
  }

  /** Apply one event frame (in seq order). Returns the turn it touched, or null. */
  apply(frame) {
    if (Number.isInteger(frame.seq)) this.lastSeq = Math.max(this.lastSeq, frame.seq);
    if (!this.keepRevisions && isRevisionEvent(frame)) return null;
    const d = frame.data || {};
    if (frame.type === "UserMessageReceived") {
      if (this.turns.has(d.turn_id)) return this.turns.get(d.turn_id);
      const turn = {
        id: d.turn_id, seq: frame.seq, ts: frame.ts, userText: d.text, clientMsgId: d.client_msg_id ?? null, mode: d.mode,
        sentences: new Map(), count: null, finishReason: null, completed: false, interrupted: null, timings: null,
        failures: [], textOnly: new Set(), lastTs: frame.ts,
      };
      this.turns.set(d.turn_id, turn);
      this.order.push(d.turn_id);
      return turn;
    }
    const turn = d.turn_id ? this._turn(d.turn_id) : null;
    if (!turn) return null;
    turn.lastTs = frame.ts;
    switch (frame.type) {
      case "SentenceGenerated":
        if (Number.isInteger(d.index) && typeof d.text === "string") turn.sentences.set(d.index, d.text);
        break;
      case "ReplyGenerated":
        turn.count = d.sentence_count;
        turn.finishReason = d.finish_reason;
        break;
      case "TurnCompleted":
        turn.completed = true;
        turn.timings = d.timings || null;
        if (turn.count === null) turn.count = d.sentence_count;
        break;
      case "TurnInterrupted":
        turn.interrupted = {
          heard: d.heard_sentences ?? 0, partialIndex: d.partial_index ?? null, partialMs: d.partial_ms ?? null,
          heardText: d.heard_text ?? "",
        };
        break;
      case "StageFailed":
        turn.failures.push({ stage: d.stage, fallback: d.fallback, index: d.index ?? null, engine: d.engine || "" });
        if (d.stage === "tts" && d.fallback === "text-only" && Number.isInteger(d.index)) turn.textOnly.add(d.index);
        break;
      default:
        break;
    }
    return turn;
  }

  finished(turn) {
    return !!turn && (turn.completed || !!turn.interrupted);
  }

  /** The newest turn if it has not ended (the one a reload may still play). */
  unfinishedTurn() {
    const id = this.order[this.order.length - 1];
    const turn = id ? this.turns.get(id) : null;
    return turn && !this.finished(turn) ? turn : null;
  }

  /** Sentence indexes to show for a turn that is not being played live. */
  visibleSentences(turn) {
    const all = [...turn.sentences.keys()].sort((a, b) => a - b);
    if (!turn.interrupted) return all;
    const { heard, partialIndex } = turn.interrupted;
    return all.filter((i) => i < heard || i === partialIndex);
  }

  lastTimings() {
    for (let i = this.order.length - 1; i >= 0; i--) {
      const t = this.turns.get(this.order[i]);
      if (t.timings) return t.timings;
    }
    return null;
  }
}
