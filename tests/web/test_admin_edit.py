"""The editor's path in a real browser: edit a sentence in the admin, the live server voices
the new revision through its chain, and the replay plays it; then re-render the whole
session and watch the progress fill in without reloading the page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.conftest import Daphne, screenshot
from tests.web.test_replay import open_replay, played

pytestmark = [pytest.mark.browser]
PASSWORD = "editor-test-password"
ORIGINAL = ["Первая фраза как была.", "Вторая фраза."]
EDITED = "Первая фраза, исправленная редактором."


@pytest.fixture(scope="module")
def editor(browser: Any, daphne: Daphne) -> Iterator[Any]:
    """A logged-in staff user with the view and revise permissions (not a superuser)."""
    daphne.call("create_editor", username="editor", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = context.new_page()
    page.goto(daphne.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "editor")
    page.fill("#id_password", PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url("**/admin/")
    page.close()
    yield context
    context.close()


def _events(page: Any, sid: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = page.evaluate(
        """async (sid) => (await (await fetch(`/api/sessions/${sid}/events?limit=1000`,
             { credentials: "same-origin" })).json()).events""",
        sid,
    )
    return events


def _wait_event(page: Any, sid: str, event_type: str, revision: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(
        e["type"] == event_type and e["data"].get("revision", 0) == revision for e in _events(page, sid)
    ):
        assert time.monotonic() < deadline, f"no {event_type} for revision {revision} in {timeout_s} s"
        time.sleep(0.5)


def test_edit_in_the_admin_is_voiced_and_replayed(editor: Any, daphne: Daphne) -> None:
    made = daphne.call("session", title="Правка в админке", replies=[ORIGINAL])
    sid = made["session"]
    page = editor.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{daphne.url}/admin/conversations/session/{sid}/change/")
    page.click("a.edit-sentence >> nth=0")
    assert page.input_value("#id_text") == ORIGINAL[0]
    page.fill("#id_text", EDITED)
    page.select_option("#id_emotion", "happy")
    page.select_option("#id_action", "nod")
    page.click("input[type=submit]")
    page.wait_for_url(f"**/admin/conversations/session/{sid}/change/**")
    assert "правка 1" in page.inner_text(".messagelist")
    # The live server's own chain voices it: real TTS on the new text, a new audio file.
    _wait_event(page, sid, "MotionPlanned", 1)
    events = _events(page, sid)
    speech = {(e["data"]["index"], e["data"].get("revision", 0)): e["data"] for e in events
              if e["type"] == "SpeechSynthesized"}
    assert speech[(0, 1)]["audio"]["sha256"] != speech[(0, 0)]["audio"]["sha256"]
    assert "исправленная" in speech[(0, 1)]["spoken_text"]
    page.reload()
    rows = page.locator("tr.sentence.revision")
    assert rows.count() == 1 and EDITED in rows.first.inner_text() and "в очереди" not in rows.first.inner_text()
    screenshot(page, "admin-edit-1-side-by-side")
    # The replay with the latest revision plays the edit, the original without it.
    replay = open_replay(editor, daphne.url, sid, "&revision=latest")
    starts = played(replay)
    assert [(s["text"], s["revision"]) for s in starts] == [(EDITED, 1), (ORIGINAL[1], 0)]
    assert starts[0]["audio"] == f"/api/sessions/{sid}/artifacts/{speech[(0, 1)]['audio']['sha256']}"
    assert not replay.errors, replay.errors
    replay.close()
    assert not errors, errors
    page.close()


def test_rerender_button_shows_progress_until_done(editor: Any, daphne: Daphne) -> None:
    made = daphne.call("session", title="Перерендер в админке", replies=[["Раз.", "Два.", "Три."]])
    sid = made["session"]
    page = editor.new_page()
    page.goto(f"{daphne.url}/admin/conversations/session/{sid}/change/")
    page.click("button[name=rerender]")
    page.wait_for_url(f"**/admin/conversations/session/{sid}/change/**")
    assert "Перерендер запущен: 3" in page.inner_text(".messagelist")
    # The page polls the log: the row completes without a reload.
    page.wait_for_function(
        "document.querySelector('#renders .count')?.textContent === '3 / 3 ✓'", timeout=120_000, polling=200,
    )
    assert page.eval_on_selector("#renders progress", "p => p.value") == 3
    screenshot(page, "admin-edit-2-rerender-done")
    revised = [e for e in _events(page, sid) if e["type"] == "SentenceRevised"]
    assert [(e["data"]["index"], e["data"]["revision"], e["data"]["reason"]) for e in revised] == [
        (0, 1, "rerender"), (1, 1, "rerender"), (2, 1, "rerender"),
    ]
    page.close()
