"""The preset preview in the admin change page, in headless Chromium against a live daphne.

A staff user (created in the daphne's own AVATAR_HOME) opens a preset's change page: the
built-in avatar must be drawn and its bones must move with the preset's keyframes; pause,
loop and live edits of the tracks textarea must act on it; broken JSON or invalid tracks
must show a message (with the server's save errors) and never stop the preview. The
resampling that makes the preview play what the motion stage plays is checked against
animation/motion.py on the module harness.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from animation.motion import DEFAULT_FPS, _Curve

from .conftest import ROOT, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "preview-test-password"
PRESETS = "/admin/animation/animationpreset/"
FPS_QUERY = "?fps=10"  # software WebGL shares two CPUs with daphne: keep the render loop light

# Samples the preview's bones inside the page, so the timing does not depend on round trips.
SAMPLER = """() => {
  window.__boneSamples = [];
  clearInterval(window.__boneSampler);
  window.__boneSampler = setInterval(() => {
    const p = window.__presetPreview;
    window.__boneSamples.push({ t: p.state().time, bones: p.bones() });
  }, 100);
}"""


def _daphne_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The AVATAR_HOME that conftest's daphne_server made (mktemp("avatar-home"))."""
    base = tmp_path_factory.getbasetemp()
    homes = sorted({p.resolve() for p in base.glob("avatar-home*") if (p / "daphne.log").exists()})
    assert len(homes) == 1, homes
    return homes[0]


def _create_staff(home: Path) -> dict[str, int]:
    """A superuser in daphne's database; returns the latest preset ids by name."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    models = os.environ.get("AVATAR_MODELS_DIR", str(ROOT / "var" / "models"))
    env.update(AVATAR_HOME=str(home), AVATAR_MODELS_DIR=models)
    code = (
        "import json; from django.contrib.auth import get_user_model; U = get_user_model(); "
        "u, _ = U.objects.get_or_create(username='previewer'); u.is_staff = u.is_superuser = True; "
        f"u.set_password({PASSWORD!r}); u.save(); "
        "from animation.models import AnimationPreset as P; "
        "print(json.dumps({p.name: p.pk for p in P.objects.latest_versions()}))"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, timeout=120,
        capture_output=True, text=True,
    )
    ids: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return ids


@pytest.fixture(scope="module")
def preset_ids(daphne_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    return _create_staff(_daphne_home(tmp_path_factory))


@pytest.fixture(scope="module")
def staff(browser: Any, daphne_server: str, preset_ids: dict[str, int]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = context.new_page()
    page.goto(daphne_server + "/admin/login/?next=/admin/")
    page.fill("#id_username", "previewer")
    page.fill("#id_password", PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url("**/admin/")
    page.close()
    yield context
    context.close()


def open_preview(context: Any, url: str) -> Any:
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url + FPS_QUERY)
    page.wait_for_function("window.__presetPreview && window.__presetPreview.state().frames > 2", timeout=90_000)
    page.locator("[data-preset-preview]").scroll_into_view_if_needed()
    return page


def state(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("window.__presetPreview.state()")
    return result


def bones(page: Any) -> dict[str, list[float]]:
    result: dict[str, list[float]] = page.evaluate("window.__presetPreview.bones()")
    return result


def angle(q1: list[float], q2: list[float]) -> float:
    """The rotation between two quaternions, in radians (normalized: the hook rounds them)."""
    norms = math.hypot(*q1) * math.hypot(*q2)
    dot = min(1.0, abs(sum(a * b for a, b in zip(q1, q2, strict=True))) / norms)
    return 2 * math.acos(dot)


def sample_bones(page: Any, seconds: float) -> list[dict[str, Any]]:
    page.evaluate(SAMPLER)
    time.sleep(seconds)
    samples: list[dict[str, Any]] = page.evaluate("clearInterval(window.__boneSampler), window.__boneSamples")
    return samples


def swing(samples: list[dict[str, Any]], bone: str | None = None) -> float:
    """How far a bone (default: the one that moved most) turned away from its first sampled pose."""
    names = [bone] if bone else list(samples[0]["bones"])
    return max(angle(samples[0]["bones"][n], s["bones"][n]) for n in names for s in samples)


def wait_server(page: Any, valid: bool) -> None:
    page.wait_for_function(
        "(v) => { const s = window.__presetPreview.state().server; return !s.pending && s.valid === v; }",
        arg=valid, timeout=30_000, polling=100,
    )


def set_tracks(page: Any, text: str) -> None:
    """Type into the tracks textarea and wait until the preview has read it (after its debounce)."""
    page.fill("#id_tracks", text)
    shown = "(t) => window.__presetPreview.state().shownText === t"
    page.wait_for_function(shown, arg=text, timeout=30_000, polling=50)


def test_the_avatar_is_drawn_and_plays_the_preset(staff: Any, daphne_server: str, preset_ids: dict[str, int]) -> None:
    page = open_preview(staff, f"{daphne_server}{PRESETS}{preset_ids['wave']}/change/")
    s = state(page)
    assert s["webgl"] and s["playing"] and s["loop"]
    assert s["duration"] == pytest.approx(2.6) and s["tracks"] > 0 and s["skipped"] == []
    # Drawn: the face is there, the corner is the clear (transparent) background.
    face = page.evaluate("window.__presetPreview.pixel(0.5, 0.3)")
    corner = page.evaluate("window.__presetPreview.pixel(0.02, 0.02)")
    assert face[3] > 200 and corner[3] == 0, (face, corner)
    samples = sample_bones(page, 3.2)  # more than one loop of the 2.6 s wave
    screenshot(page, "preset-preview-1-wave")
    assert samples[-1]["t"] != samples[0]["t"]
    # The wave lifts the right arm and waves the forearm; the hips have no track and stay at rest.
    assert swing(samples, "upperArm_R") > 0.5, swing(samples, "upperArm_R")
    assert swing(samples, "lowerArm_R") > 0.1
    assert all(s["bones"]["hips"] == [0, 0, 0, 1] for s in samples)
    wait_server(page, True)
    assert page.get_attribute("[data-preview-message]", "data-kind") == "ok"
    assert not page.errors, page.errors
    page.close()


def test_pause_holds_the_pose_and_play_resumes(staff: Any, daphne_server: str, preset_ids: dict[str, int]) -> None:
    page = open_preview(staff, f"{daphne_server}{PRESETS}{preset_ids['wave']}/change/")
    page.click("[data-preview-play]")
    assert page.get_attribute("[data-preview-play]", "data-playing") == "false"
    paused = sample_bones(page, 0.8)
    assert all(s["bones"] == paused[0]["bones"] and s["t"] == paused[0]["t"] for s in paused)
    page.click("[data-preview-play]")
    assert page.get_attribute("[data-preview-play]", "data-playing") == "true"
    assert swing(sample_bones(page, 1.0)) > 0.05
    # Without the loop a one-shot ends and holds its last pose; looping again restarts it.
    page.uncheck("[data-preview-loop]")
    page.wait_for_function("!window.__presetPreview.state().playing", timeout=15_000, polling=100)
    s = state(page)
    assert s["time"] == pytest.approx(s["duration"]) and not s["loop"]
    page.check("[data-preview-loop]")
    page.wait_for_function("window.__presetPreview.state().playing", timeout=5_000, polling=50)
    assert state(page)["time"] < 2.0
    assert not page.errors, page.errors
    page.close()


def test_broken_json_shows_a_message_and_the_preview_keeps_running(
    staff: Any, daphne_server: str, preset_ids: dict[str, int]
) -> None:
    page = open_preview(staff, f"{daphne_server}{PRESETS}{preset_ids['wave']}/change/")
    wait_server(page, True)
    original = page.input_value("#id_tracks")
    set_tracks(page, original[:-3] + "oops")
    message = page.locator("[data-preview-message]")
    assert "JSON не читается" in message.inner_text()
    assert state(page)["parseError"]
    # The server says what the save would say about it.
    wait_server(page, False)
    assert "JSON" in page.inner_text("[data-preview-server-errors]")
    assert message.get_attribute("data-kind") == "error"
    screenshot(page, "preset-preview-2-broken-json")
    # Nothing crashed: the last good clip still plays.
    assert swing(sample_bones(page, 1.0)) > 0.05
    # Fixed again: a fresh clip, no message, the server agrees.
    set_tracks(page, original)
    wait_server(page, True)
    assert state(page)["parseError"] is None
    assert "JSON не читается" not in message.inner_text()
    assert not page.errors, page.errors
    page.close()


def test_invalid_tracks_are_listed_and_the_valid_ones_play(
    staff: Any, daphne_server: str, preset_ids: dict[str, int]
) -> None:
    page = open_preview(staff, f"{daphne_server}{PRESETS}{preset_ids['nod']}/change/")
    tracks = json.loads(page.input_value("#id_tracks"))
    head = next(t for t in tracks if t["target"] == "bone" and t["name"] == "head")
    tail = {**head, "name": "tail"}  # no such bone
    too_far = {**head, "name": "neck", "values": [v * 20 for v in head["values"]]}  # out of the rig's range
    set_tracks(page, json.dumps([tail, head, too_far]))
    s = state(page)
    # The light check drops the unknown bone; the range is the server's call, so that track plays.
    assert s["issues"] == ["tracks[0].name"] and s["tracks"] == 2
    wait_server(page, False)
    server = page.inner_text("[data-preview-server-errors]")
    assert "tracks[0].name" in server and "tail" in server
    assert "tracks[2].values" in server and "outside the rig range" in server
    assert swing(sample_bones(page, 1.5), "head") > 0.05
    screenshot(page, "preset-preview-3-invalid-tracks")
    assert not page.errors, page.errors
    page.close()


def test_the_add_page_previews_what_is_typed(staff: Any, daphne_server: str, preset_ids: dict[str, int]) -> None:
    page = open_preview(staff, f"{daphne_server}{PRESETS}add/")
    assert state(page)["tracks"] == 0  # an empty textarea: nothing to play, nothing crashes
    page.fill("#id_name", "preview-test")
    page.fill("#id_duration", "1")
    track = {"target": "bone", "name": "upperArm_L", "property": "rotation", "times": [0, 0.5, 1],
             "values": [0, 0, 0, 0, 0, 1.2, 0, 0, 0]}
    set_tracks(page, json.dumps([track]))
    assert state(page)["tracks"] == 1
    wait_server(page, True)
    assert swing(sample_bones(page, 1.2), "upperArm_L") > 0.3
    assert not page.errors, page.errors
    page.close()


# --- The resampling matches the motion stage ---------------------------------------------------


def test_resampling_matches_the_motion_stage(module_page: Any) -> None:
    """Every bundled preset, sampled by preset-tracks.js and by animation/motion.py."""
    for path in sorted((ROOT / "animation" / "presets").glob("*.json")):
        preset = json.loads(path.read_text(encoding="utf-8"))
        keyframes: dict[str, Any] = module_page.evaluate(
            """async (preset) => {
              const m = await import("/static/animation/preset-tracks.js");
              return m.previewKeyframes(preset);
            }""",
            preset,
        )
        assert keyframes["fps"] == DEFAULT_FPS
        smooth = preset.get("interpolation", "smooth") == "smooth"
        for ours, track in zip(keyframes["tracks"], preset["tracks"], strict=True):
            grid = np.asarray(ours["times"])
            assert grid[0] == 0 and grid[-1] == preset["duration"]
            expected = _Curve.from_track(track, smooth, preset["loop"]).sample(grid).ravel()
            assert np.allclose(ours["values"], expected, atol=1e-9), (path.name, track["name"])
