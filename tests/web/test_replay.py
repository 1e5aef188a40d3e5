"""End to end: a session recorded on the live daphne is replayed on the avatar in Chromium.

A staff user (created in the daphne's own AVATAR_HOME) records two turns in speak mode
through the client API, then opens /replay/<id>/. The replay must play the same sentences
in order, with audio on the AudioContext clock and a moving mouth, and the reply of turn 2
must start after the reply of turn 1 exactly as long after as it became playable in the
original session (scaled by the speed), within 50 ms, measured on the page's audio clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from .conftest import Daphne, screenshot, staff_context

pytestmark = pytest.mark.browser

MOTION_GRACE_S = 0.3  # static/avatar/player.js
TOLERANCE_S = 0.05
TURN_TIMEOUT_S = 180
TURN_TEXTS = [
    "Здравствуйте! Это первый ход записи.",
    "А это второй ход. Он начинается после паузы.",
]
SENTENCE_TYPES = {"SentenceGenerated", "SpeechSynthesized", "LipSyncGenerated", "MotionPlanned", "StageFailed"}

SAMPLER = """() => {
  window.__samples = [];
  clearInterval(window.__sampler);
  window.__sampler = setInterval(() => {
    const r = window.__replay;
    window.__samples.push({ t: performance.now(), playing: r.playing(), audio: r.audioTime(), mouth: r.mouth(),
      subtitle: r.subtitle(), position: r.position(), actions: r.actions() });
  }, 40);
}"""


def _ts(frame: dict[str, Any]) -> float:
    return datetime.fromisoformat(frame["ts"]).timestamp()


def _events(page: Any, sid: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = page.evaluate(
        """async (sid) => {
          const r = await fetch(`/api/sessions/${sid}/events?limit=1000`, { credentials: "same-origin" });
          return (await r.json()).events;
        }""",
        sid,
    )
    return events


def _say(page: Any, sid: str, text: str) -> str:
    turn: str = page.evaluate(
        """async ([sid, text]) => {
          const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
          const r = await fetch(`/api/sessions/${sid}/messages`, { method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
            body: JSON.stringify({ text, mode: "speak" }) });
          if (r.status !== 202) throw new Error("say: " + r.status + " " + await r.text());
          return (await r.json()).turn_id;
        }""",
        [sid, text],
    )
    return turn


def _wait_completed(page: Any, sid: str, turn_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + TURN_TIMEOUT_S
    while time.monotonic() < deadline:
        events = _events(page, sid)
        ends = ("TurnCompleted", "TurnInterrupted")
        if any(e["type"] in ends and e["data"]["turn_id"] == turn_id for e in events):
            return events
        time.sleep(0.5)
    raise AssertionError(f"turn {turn_id} did not complete")


def expected_plan(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per turn: its sentence texts and when its first sentence became playable (seconds since the first event)."""
    t0 = _ts(events[0])
    turns: dict[str, dict[str, Any]] = {}
    for e in events:
        d = e["data"]
        if e["type"] == "UserMessageReceived":
            turns[d["turn_id"]] = {"id": d["turn_id"], "user": _ts(e) - t0, "ready": {}, "motion": set(), "texts": {}}
            continue
        t = turns.get(d.get("turn_id", ""))
        if t is None or e["type"] not in SENTENCE_TYPES or not isinstance(d.get("index"), int) or d.get("revision"):
            continue  # revisions (later edits) do not change when the original became playable
        i = d["index"]
        t["ready"][i] = max(t["ready"].get(i, 0.0), _ts(e) - t0)
        if e["type"] in ("MotionPlanned", "StageFailed"):
            t["motion"].add(i)
        if e["type"] == "SentenceGenerated":
            t["texts"][i] = d["text"]
    out = []
    for t in turns.values():
        first = t["ready"][0] + (0.0 if 0 in t["motion"] else MOTION_GRACE_S)
        texts = [t["texts"][i] for i in sorted(t["texts"])]
        out.append({"id": t["id"], "user": t["user"], "audio": first, "texts": texts})
    return out


@pytest.fixture(scope="module")
def staff(browser: Any, daphne: Daphne) -> Iterator[Any]:
    context = staff_context(browser, daphne)
    yield context
    context.close()


@pytest.fixture(scope="module")
def recorded(staff: Any, daphne_server: str) -> dict[str, Any]:
    """Two turns in speak mode; the second sent once the first would have finished playing."""
    page = staff.new_page()
    page.goto(daphne_server + "/admin/")
    sid: str = page.evaluate(
        """async () => {
          const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
          const r = await fetch("/api/sessions", { method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
            body: JSON.stringify({ title: "Повтор: тест" }) });
          return (await r.json()).session_id;
        }"""
    )
    turn1 = _say(page, sid, TURN_TEXTS[0])
    events = _wait_completed(page, sid, turn1)
    spoken = sum(e["data"]["duration_ms"] for e in events if e["type"] == "SpeechSynthesized") / 1000
    time.sleep(spoken + 1.2)  # as if a visitor listened to the answer, then wrote again
    turn2 = _say(page, sid, TURN_TEXTS[1])
    events = _wait_completed(page, sid, turn2)
    page.close()
    plan = expected_plan(events)
    assert [t["id"] for t in plan] == [turn1, turn2]
    assert all(t["texts"] for t in plan), plan
    return {"sid": sid, "events": events, "plan": plan}


def open_replay(context: Any, base: str, sid: str, query: str = "") -> Any:
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(f"{base}/replay/{sid}/?fps=10{query}")
    page.wait_for_function("window.__replay && window.__replay.state().loaded", timeout=60_000)
    page.wait_for_function("window.__replay.state().frames > 2", timeout=60_000)
    return page


def wait_ended(page: Any, timeout_s: float = 90) -> None:
    page.wait_for_function("window.__replay.state().ended", timeout=timeout_s * 1000, polling=100)


def first_starts(page: Any) -> dict[str, float]:
    """Clock time at which each turn's first sentence started (the latest seek only)."""
    starts: list[dict[str, Any]] = page.evaluate("window.__replay.starts()")
    seek = max(s["seek"] for s in starts)
    return {s["turn"]: s["startAt"] for s in starts if s["index"] == 0 and s["seek"] == seek}


def reply_gap(page: Any, plan: list[dict[str, Any]], rate: float = 1) -> tuple[float, float]:
    """From turn 1's reply to turn 2's: on the page's audio clock, and as recorded (at `rate`)."""
    starts = first_starts(page)
    return starts[plan[1]["id"]] - starts[plan[0]["id"]], (plan[1]["audio"] - plan[0]["audio"]) / rate


def spoken_texts(page: Any) -> list[str]:
    subs: list[dict[str, Any]] = page.evaluate("window.__replay.subtitles()")
    out: list[str] = []
    for s in subs:
        if not out or out[-1] != s["text"]:
            out.append(s["text"])
    return out


def test_replay_plays_the_session_as_recorded(staff: Any, daphne_server: str, recorded: dict[str, Any]) -> None:
    page = open_replay(staff, daphne_server, recorded["sid"])
    screenshot(page, "replay-1-ready")
    page.evaluate(SAMPLER)
    page.click("[data-play]")
    page.wait_for_function("window.__replay.playing()", timeout=30_000, polling=50)
    time.sleep(0.5)
    screenshot(page, "replay-2-speaking")
    wait_ended(page)
    screenshot(page, "replay-3-ended")
    plan = recorded["plan"]
    # The same sentences, spoken in order, as subtitles.
    assert spoken_texts(page) == [s for t in plan for s in t["texts"]]
    samples: list[dict[str, Any]] = page.evaluate("window.__samples")
    playing = [s for s in samples if s["playing"]]
    assert playing, "no audio played"
    assert playing[-1]["audio"] > playing[0]["audio"]  # the audio clock ran while sources played
    assert max(s["mouth"] for s in playing) > 0.3  # the mouth moved with the voice
    assert any(a["name"].startswith("sentence-") for s in playing for a in s["actions"])  # the recorded motion
    # Turn 2's reply starts as long after turn 1's as it did in the original session.
    gap, expected = reply_gap(page, plan)
    assert abs(gap - expected) < TOLERANCE_S, (gap, expected)
    assert expected > 2.0  # the pause is real, not the next sentence following at once
    # The log holds both turns with all their sentences.
    log = page.inner_text("[data-log]")
    for t in plan:
        assert all(s in log for s in t["texts"])
    assert page.inner_text("[data-status]").strip() == "Повтор окончен"
    assert not page.errors, page.errors
    page.close()


def test_pause_stops_time(staff: Any, daphne_server: str, recorded: dict[str, Any]) -> None:
    page = open_replay(staff, daphne_server, recorded["sid"])
    page.click("[data-play]")
    page.wait_for_function("window.__replay.playing()", timeout=30_000, polling=50)
    page.click("[data-play]")
    page.wait_for_function("window.__replay.state().audioState === 'suspended'", timeout=5_000)
    before = page.evaluate("[window.__replay.position(), window.__replay.audioTime(), window.__replay.subtitle()]")
    time.sleep(0.8)
    after = page.evaluate("[window.__replay.position(), window.__replay.audioTime(), window.__replay.subtitle()]")
    assert after == before
    assert page.get_attribute("[data-play]", "data-playing") == "false"
    screenshot(page, "replay-4-paused")
    page.click("[data-play]")
    time.sleep(0.6)
    assert page.evaluate("window.__replay.position()") > before[0] + 0.2
    assert not page.errors, page.errors
    page.close()


def test_double_speed_halves_the_gap(staff: Any, daphne_server: str, recorded: dict[str, Any]) -> None:
    page = open_replay(staff, daphne_server, recorded["sid"])
    page.click("[data-speed='2']")
    assert page.get_attribute("[data-speed='2']", "aria-pressed") == "true"
    page.click("[data-play]")
    wait_ended(page, 60)
    plan = recorded["plan"]
    assert spoken_texts(page) == [s for t in plan for s in t["texts"]]
    gap, expected = reply_gap(page, plan, rate=2)
    assert abs(gap - expected) < TOLERANCE_S, (gap, expected)
    # The voice itself runs at double speed: a sentence lasts half its recorded duration.
    all_starts: list[dict[str, Any]] = page.evaluate("window.__replay.starts()")
    turns: list[dict[str, Any]] = page.evaluate("window.__replay.turns()")
    s0 = turns[0]["sentences"]
    if len(s0) > 1:
        t1 = [s["startAt"] for s in all_starts if s["turn"] == plan[0]["id"]]
        assert abs((t1[1] - t1[0]) - (s0[1]["start"] - s0[0]["start"]) / 2) < TOLERANCE_S
    assert not page.errors, page.errors
    page.close()


def test_jump_to_turn_two_starts_there(staff: Any, daphne_server: str, recorded: dict[str, Any]) -> None:
    page = open_replay(staff, daphne_server, recorded["sid"])
    page.click("[data-turns] li:nth-child(2) button")
    page.wait_for_function("window.__replay.playing() && window.__replay.subtitle()", timeout=30_000, polling=50)
    plan = recorded["plan"]
    assert page.evaluate("window.__replay.subtitle()") == plan[1]["texts"][0]
    # Turn 1 is already in the log, in full; turn 2 is the current one in the list.
    assert all(s in page.inner_text("[data-log]") for s in plan[0]["texts"])
    assert page.get_attribute("[data-turns] li:nth-child(2)", "class") == "current"
    screenshot(page, "replay-5-jumped")
    wait_ended(page)
    assert spoken_texts(page) == plan[1]["texts"]
    assert not page.errors, page.errors
    page.close()


# --- A session that is still live ------------------------------------------------------------


def test_replay_follows_a_session_whose_reply_is_still_coming(staff: Any, daphne: Daphne) -> None:
    """The replay opens while turn 2 waits for its reply; the reply is stored sentence by sentence later."""
    made = daphne.call("session", title="Повтор: живая сессия", replies=[["Ответ на первый вопрос."]],
                       open_question="А что дальше?")
    sid, live_turn = made["session"], made["turns"][1]
    page = open_replay(staff, daphne.url, sid)
    assert page.evaluate("window.__replay.state().following")
    page.click("[data-play]")
    later = ["Эта фраза пришла позже.", "А эта ещё позже."]
    daphne.call("finish_turn", session_id=sid, turn_id=live_turn, sentences=later, pause_s=1.0)
    wait_ended(page, 120)
    assert spoken_texts(page) == ["Ответ на первый вопрос.", *later]
    starts = [s for s in page.evaluate("window.__replay.starts()") if s["turn"] == live_turn]
    assert [s["index"] for s in starts] == [0, 1] and all(s["audio"] for s in starts)  # both spoken, with audio
    assert not page.evaluate("window.__replay.state().following")  # it stopped polling once the turn ended
    assert all(s in page.inner_text("[data-log]") for s in later)
    assert page.inner_text("[data-status]").strip() == "Повтор окончен"
    assert not page.errors, page.errors
    page.close()


# --- Revisions: original or latest ------------------------------------------------------------

ORIGINAL_TEXTS = ["Исходная первая фраза.", "Вторая фраза без готовой правки."]
REVISED_TEXT = "Исправленная первая фраза, она длиннее."


@pytest.fixture(scope="module")
def revised(daphne: Daphne, staff: Any) -> dict[str, Any]:
    """One turn of two sentences: sentence 0 has a complete revision 1 (2 s of audio instead of 1 s)
    and an unfinished revision 2; sentence 1 has only an unfinished revision."""
    made = daphne.call("session", title="Повтор: правки", replies=[ORIGINAL_TEXTS])
    sid, turn = made["session"], made["turns"][0]
    daphne.call("revise", session_id=sid, turn_id=turn, index=0, text=REVISED_TEXT, seconds=2.0)
    daphne.call("revise", session_id=sid, turn_id=turn, index=0, text="Правка без звука.", seconds=1.5, complete=False)
    daphne.call("revise", session_id=sid, turn_id=turn, index=1, text="Тоже не готова.", seconds=1.5, complete=False)
    page = staff.new_page()
    page.goto(daphne.url + "/admin/")
    events = _events(page, sid)
    page.close()
    audio = {(e["data"]["index"], e["data"].get("revision", 0)): e["data"]["audio"]["url"]
             for e in events if e["type"] == "SpeechSynthesized"}
    return {"sid": sid, "turn": turn, "audio": audio, "plan": expected_plan(events)}


def played(page: Any) -> list[dict[str, Any]]:
    """Each sentence as it started: index, text, audio URL, revision (one run from the start)."""
    page.click("[data-play]")
    wait_ended(page)
    starts: list[dict[str, Any]] = page.evaluate("window.__replay.starts()")
    return [s for s in starts if s["seek"] == max(x["seek"] for x in starts)]


def marks(page: Any) -> list[str]:
    found: list[str] = page.eval_on_selector_all("[data-log] .sentence", "els => els.map((e) => e.dataset.mark || '')")
    return found


def test_latest_revision_plays_the_revised_sentence(staff: Any, daphne: Daphne, revised: dict[str, Any]) -> None:
    page = open_replay(staff, daphne.url, revised["sid"], "&revision=latest")
    assert page.get_attribute("[data-revision='latest']", "aria-pressed") == "true"
    starts = played(page)
    screenshot(page, "replay-6-latest-revision")
    assert [s["text"] for s in starts] == [REVISED_TEXT, ORIGINAL_TEXTS[1]]
    assert [s["audio"] for s in starts] == [revised["audio"][(0, 1)], revised["audio"][(1, 0)]]
    assert [s["revision"] for s in starts] == [1, 0]  # sentence 1's revision never finished rendering
    assert spoken_texts(page) == [REVISED_TEXT, ORIGINAL_TEXTS[1]]
    assert marks(page) == ["правка 1", ""]
    # When the reply starts is the original recording's; the revised sentence lasts as long as its new audio.
    turn = page.evaluate("window.__replay.turns()")[0]
    assert abs(turn["audioPos"] - revised["plan"][0]["audio"]) < TOLERANCE_S
    s0 = turn["sentences"][0]
    assert abs((s0["end"] - s0["start"]) - 2.0) < TOLERANCE_S
    assert not page.errors, page.errors
    page.close()


def test_original_plays_as_recorded_and_the_control_switches(
    staff: Any, daphne: Daphne, revised: dict[str, Any]
) -> None:
    page = open_replay(staff, daphne.url, revised["sid"])
    assert page.get_attribute("[data-revision='original']", "aria-pressed") == "true"
    starts = played(page)
    assert [s["text"] for s in starts] == ORIGINAL_TEXTS
    assert [s["audio"] for s in starts] == [revised["audio"][(0, 0)], revised["audio"][(1, 0)]]
    assert marks(page) == ["есть правка 1", ""]
    turn = page.evaluate("window.__replay.turns()")[0]
    assert abs(turn["audioPos"] - revised["plan"][0]["audio"]) < TOLERANCE_S
    # The control: the latest revision from here on, and the address says so.
    page.click("[data-revision='latest']")
    assert page.evaluate("location.search").endswith("revision=latest")
    page.click("[data-turns] li:nth-child(1) button")  # from the turn's start again
    page.wait_for_function("window.__replay.subtitle()", timeout=30_000, polling=50)
    assert page.evaluate("window.__replay.subtitle()") == REVISED_TEXT
    assert marks(page)[0] == "правка 1"
    assert not page.errors, page.errors
    page.close()
