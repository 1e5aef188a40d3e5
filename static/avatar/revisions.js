// Sentence revisions in the event log (no DOM here).
//
// Staff may edit a stored sentence: `SentenceRevised{turn_id, index, revision >= 1, text, ...}`
// is appended, and the stages run again for it, their events carrying `data.revision = N`
// (absent or 0: the sentence as generated live). A whole-session re-render adds
// `SessionRerenderRequested` / `SessionRerenderCompleted` around the same kind of events.
//
// The live page plays only revision 0: it drops every revision event (isRevisionEvent).
// The replay page can play, for each sentence, its latest revision whose rendering is
// complete (its MotionPlanned exists: motion ends every sentence's chain, text-only ones too):
// selectRevision() turns the log into the one the Player and the log follow, where the
// revision's events stand in for the original's stage events, at the original's time, so
// the turns and sentences start when they did in the recorded session.

export const ORIGINAL = "original";
export const LATEST = "latest";

const REVISION_TYPES = new Set(["SentenceRevised", "SessionRerenderRequested", "SessionRerenderCompleted"]);
const STAGE_TYPES = new Set(["SentimentAnalyzed", "SpeechSynthesized", "LipSyncGenerated", "MotionPlanned", "StageFailed"]);

/** The revision an event renders: 0 for the sentence as generated (also when absent). */
export function revisionOf(frame) {
  const r = frame?.data?.revision;
  return Number.isInteger(r) && r > 0 ? r : 0;
}

/** True for events that belong to a revision, not to the conversation as it happened. */
export function isRevisionEvent(frame) {
  return REVISION_TYPES.has(frame?.type) || revisionOf(frame) > 0;
}

const sentenceKey = (d) => `${d.turn_id}:${d.index}`;
const isSentenceEvent = (f) => Number.isInteger(f.data?.index) && !!f.data?.turn_id;

function completes(frame) {
  return frame.type === "MotionPlanned";
}

/**
 * Per sentence ("turn_id:index"), its latest revision whose rendering is complete:
 * {revision, text, events (that revision's stage events, in log order)}.
 */
export function latestRevisions(frames) {
  const revs = new Map(); // key -> Map(revision -> {text, events, complete})
  const entry = (d, n) => {
    const k = sentenceKey(d);
    if (!revs.has(k)) revs.set(k, new Map());
    const byRev = revs.get(k);
    if (!byRev.has(n)) byRev.set(n, { revision: n, text: null, events: [], complete: false });
    return byRev.get(n);
  };
  for (const f of frames) {
    if (!isSentenceEvent(f)) continue;
    if (f.type === "SentenceRevised" && revisionOf(f) > 0) entry(f.data, f.data.revision).text = f.data.text;
    else if (STAGE_TYPES.has(f.type) && revisionOf(f) > 0) {
      const e = entry(f.data, revisionOf(f));
      e.events.push(f);
      if (completes(f)) e.complete = true;
    }
  }
  const latest = new Map();
  for (const [k, byRev] of revs) {
    const ready = [...byRev.values()].filter((e) => e.complete && typeof e.text === "string" && e.text);
    if (ready.length) latest.set(k, ready.reduce((a, b) => (b.revision > a.revision ? b : a)));
  }
  return latest;
}

/**
 * The log to play: `mode` ORIGINAL keeps the conversation as it happened; LATEST puts each
 * sentence's latest complete revision in place of its original text and stage events.
 * Returns {frames, revised: Map("turn_id:index" -> revision)} (revised: those that have one).
 */
export function selectRevision(frames, mode = ORIGINAL) {
  const latest = latestRevisions(frames);
  const revised = new Map([...latest].map(([k, e]) => [k, e.revision]));
  const base = frames.filter((f) => !isRevisionEvent(f));
  if (mode !== LATEST || !latest.size) return { frames: base, revised };
  // The last original event of a sentence is when it became playable: the revision's
  // events take its place and its time.
  const anchor = new Map();
  base.forEach((f, i) => {
    if (isSentenceEvent(f) && latest.has(sentenceKey(f.data))) anchor.set(sentenceKey(f.data), i);
  });
  const out = [];
  base.forEach((f, i) => {
    const k = isSentenceEvent(f) ? sentenceKey(f.data) : null;
    const rev = k && latest.get(k);
    if (!rev) {
      out.push(f);
      return;
    }
    if (f.type === "SentenceGenerated") out.push({ ...f, data: { ...f.data, text: rev.text } });
    if (anchor.get(k) === i) out.push(...rev.events.map((e) => ({ ...e, ts: f.ts })));
  });
  return { frames: out, revised };
}
