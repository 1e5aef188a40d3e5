"""Revisions in the page's own projection and the replay's choice of version (revisions.js, conversation.js).

The events are those of conversations.domain (checked against its JSON Schemas here): a turn
as generated live, then a staff edit of sentence 0 and a whole-session re-render, each with
its stage events (``data.revision`` N), as they also arrive on the live WebSocket.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from conversations.domain.schemas import DATA_SCHEMAS

pytestmark = pytest.mark.browser

TURN = "t-1"
AUDIO = {"sha256": "0" * 64, "name": "a.wav", "content_type": "audio/wav", "size": 1}


def _ts(second: float) -> str:
    return f"2025-01-01T12:00:{second:06.3f}+00:00"


def _stage_events(index: int, revision: int, url: str) -> list[tuple[str, dict[str, Any]]]:
    rev = {"revision": revision} if revision else {}  # old stored events have no revision at all
    sentence = {"turn_id": TURN, "index": index, **rev}
    return [
        ("SentimentAnalyzed", {**sentence, "label": "happy", "scores": {"happy": 1.0}, "engine": "t"}),
        ("SpeechSynthesized", {**sentence, "audio": {**AUDIO, "url": url}, "duration_ms": 900, "sample_rate": 16000,
                               "engine": "t", "voice": "v", "spoken_text": "x"}),
        ("LipSyncGenerated", {**sentence, "cues": [{"start": 0, "end": 0.9, "shape": "D"}], "generator": "t"}),
        ("MotionPlanned", {**sentence, "preset": "idle", "preset_version": 1,
                           "keyframes": {"duration": 0.9, "tracks": []}}),
    ]


def session_log() -> list[dict[str, Any]]:
    events: list[tuple[str, dict[str, Any]]] = [
        ("UserMessageReceived", {"turn_id": TURN, "text": "Привет", "mode": "llm"}),
        ("SentenceGenerated", {"turn_id": TURN, "index": 0, "text": "Первая."}),
        *_stage_events(0, 0, "/a/0-0"),
        ("SentenceGenerated", {"turn_id": TURN, "index": 1, "text": "Вторая."}),
        *_stage_events(1, 0, "/a/1-0"),
        ("ReplyGenerated", {"turn_id": TURN, "sentence_count": 2, "engine": "t", "finish_reason": "stop"}),
        ("TurnCompleted", {"turn_id": TURN, "sentence_count": 2, "timings": {"stages": {}}}),
        # A staff edit of sentence 0, rendered.
        ("SentenceRevised", {"turn_id": TURN, "index": 0, "revision": 1, "based_on": 0, "text": "Первая, исправленная.",
                             "emotion": None, "action": None, "reason": "edit", "editor": "anna", "render_id": None}),
        *_stage_events(0, 1, "/a/0-1"),
        # A re-render of the whole session: sentence 0 fails TTS (text only), sentence 1 never finishes.
        ("SessionRerenderRequested", {"render_id": "r1", "requested_by": "anna", "engines": {"tts": "festival"},
                                      "sentences": [{"turn_id": TURN, "index": 0, "revision": 2},
                                                    {"turn_id": TURN, "index": 1, "revision": 1}]}),
        ("SentenceRevised", {"turn_id": TURN, "index": 0, "revision": 2, "based_on": 1, "text": "Первая, исправленная.",
                             "reason": "rerender", "editor": "anna", "render_id": "r1"}),
        ("SentenceRevised", {"turn_id": TURN, "index": 1, "revision": 1, "based_on": 0, "text": "Вторая.",
                             "reason": "rerender", "editor": "anna", "render_id": "r1"}),
        ("StageFailed", {"stage": "tts", "error": "down", "fallback": "text-only", "turn_id": TURN, "index": 0,
                         "revision": 2}),
        ("MotionPlanned", {"turn_id": TURN, "index": 0, "revision": 2, "preset": "idle", "preset_version": 1,
                           "keyframes": {"duration": 1.0, "tracks": []}}),
        *_stage_events(1, 1, "/a/1-1")[:2],
        ("SessionRerenderCompleted", {"render_id": "r1", "sentence_count": 2, "failures": 1}),
    ]
    frames = []
    for seq, (kind, data) in enumerate(events, 1):
        jsonschema.validate(data, DATA_SCHEMAS[kind])
        frames.append({"seq": seq, "type": kind, "version": 1, "data": data, "ts": _ts(seq * 0.5)})
    return frames


def test_the_live_page_ignores_revisions(module_page: Any) -> None:
    """Conversation.apply (what app.js's frames and history go through) touches no turn for them."""
    result = module_page.evaluate(
        """(frames) => {
          const { Conversation } = window.mods.conversation;
          const conv = new Conversation();
          const touched = frames.map((f) => [f.type, f.data.revision ?? 0, conv.apply(f) !== null]);
          const t = conv.turns.get("t-1");
          return { touched, sentences: [...t.sentences.values()], failures: t.failures.length,
                   textOnly: [...t.textOnly], lastSeq: conv.lastSeq, finished: conv.finished(t) };
        }""",
        session_log(),
    )
    for kind, revision, touched in result["touched"]:
        is_revision = revision > 0 or kind.startswith(("SentenceRevised", "SessionRerender"))
        assert touched is not is_revision, (kind, revision)
    assert result["sentences"] == ["Первая.", "Вторая."]  # the transcript as it was said
    assert result["failures"] == 0 and result["textOnly"] == []  # the re-render's TTS failure is not this turn's
    assert result["lastSeq"] == len(session_log())  # resume goes on after them
    assert result["finished"]


def test_the_replay_picks_the_latest_complete_revision(module_page: Any) -> None:
    result = module_page.evaluate(
        """(frames) => {
          const { selectRevision, LATEST, ORIGINAL } = window.mods.revisions;
          const view = (mode) => {
            const { frames: out, revised } = selectRevision(frames, mode);
            return { seqs: out.map((f) => f.seq), revised: Object.fromEntries(revised),
                     rows: out.map((f) => [f.type, f.data.index ?? null, f.data.revision ?? 0, f.data.text ?? null,
                                           f.data.audio?.url ?? null, f.ts]) };
          };
          return { original: view(ORIGINAL), latest: view(LATEST) };
        }""",
        session_log(),
    )
    frames = session_log()
    live = [f["seq"] for f in frames if not f["data"].get("revision") and "Revised" not in f["type"]
            and "Rerender" not in f["type"]]
    assert result["original"]["seqs"] == live
    # Sentence 0: revision 2 (text only) is complete and the latest; sentence 1's revision 1 is not.
    assert result["original"]["revised"] == result["latest"]["revised"] == {f"{TURN}:0": 2}
    rows = result["latest"]["rows"]
    assert rows[1][:5] == ["SentenceGenerated", 0, 0, "Первая, исправленная.", None]
    sentence0 = [r for r in rows if r[1] == 0 and r[0] != "SentenceGenerated"]
    assert [r[:3] for r in sentence0] == [["StageFailed", 0, 2], ["MotionPlanned", 0, 2]]  # its revision's stages
    motion0 = next(f for f in frames if f["type"] == "MotionPlanned" and f["data"]["index"] == 0)
    assert sentence0[0][5] == motion0["ts"]  # at the time the original sentence became playable
    sentence1 = [r for r in rows if r[1] == 1]
    assert {r[2] for r in sentence1} == {0}  # the original, with its own audio
    assert ["SpeechSynthesized", 1, 0, None, "/a/1-0"] in [r[:5] for r in sentence1]
    assert [r[0] for r in rows][-2:] == ["ReplyGenerated", "TurnCompleted"]


def test_a_revision_without_its_motion_is_not_complete(module_page: Any) -> None:
    """A text-only revision counts once its motion (always the chain's last stage) is stored."""
    frames = [f for f in session_log() if not (f["type"] == "MotionPlanned" and f["data"].get("revision") == 2)]
    revised = module_page.evaluate(
        "(frames) => Object.fromEntries(window.mods.revisions.selectRevision(frames, 'latest').revised)", frames,
    )
    assert revised == {f"{TURN}:0": 1}  # revision 2 is still rendering: the edit before it plays
