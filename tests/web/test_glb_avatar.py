"""End to end: the admin's default GLB avatar on the live page and the replay, driven by its viseme mapping.

The test builds a small GLB that three.js's GLTFLoader can load (one quad, "AvatarHead", with
the Oculus viseme morphs and one more, "customMouth"), uploads it as the default avatar with
a mapping that opens the mouth through "customMouth" only, and checks that this model is the
one on stage and that "customMouth" moves while a reply is spoken, while the viseme morphs
the driver would pick by itself stay still: the mapping, not a built-in table, drives it.
A GLB that cannot be loaded leaves the built-in avatar on stage, with a notice.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from animation import glb
from tests.animation.test_glb import make_glb

from .conftest import Daphne, screenshot, staff_context

pytestmark = pytest.mark.browser

MESH = "AvatarHead"
MORPHS = [*glb.OCULUS_NAMES, "customMouth"]
MAPPING = {shape: {"customMouth": 1.0} for shape in "ABCDEFGH"} | {"X": {"viseme_sil": 1.0}}
FLOAT, UINT16 = 5126, 5123  # glTF component types
CONNECTED = "window.__avatar && window.__avatar.state().connection === 'open'"
# Every 40 ms: is audio playing, and the GLB mesh's morph weights (hook: "__avatar" or "__replay").
SAMPLER = """([hook, mesh]) => {
  window.__morphs = [];
  clearInterval(window.__sampler);
  window.__sampler = setInterval(() => {
    const a = window[hook];
    window.__morphs.push({ playing: a.playing(), morphs: a.meshMorphs(mesh) });
  }, 40);
}"""


def loadable_glb(morph_names: Sequence[str]) -> bytes:
    """A GLB three.js loads: a 0.3 x 0.4 m quad whose morph targets each move its lower edge."""
    positions = np.array([[-0.15, -0.2, 0], [0.15, -0.2, 0], [0.15, 0.2, 0], [-0.15, 0.2, 0]], dtype="<f4")
    blob = bytearray()
    views: list[dict[str, Any]] = []
    accessors: list[dict[str, Any]] = []

    def add(array: np.ndarray[Any, Any], component: int, kind: str) -> int:
        blob.extend(b"\0" * (-len(blob) % 4))
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": array.nbytes})
        blob.extend(array.tobytes())
        accessor = {"bufferView": len(views) - 1, "componentType": component, "count": len(array), "type": kind}
        if kind == "VEC3":
            accessor |= {"min": array.min(axis=0).tolist(), "max": array.max(axis=0).tolist()}
        accessors.append(accessor)
        return len(accessors) - 1

    position = add(positions, FLOAT, "VEC3")
    indices = add(np.array([0, 1, 2, 0, 2, 3], dtype="<u2"), UINT16, "SCALAR")
    targets = []
    for i, _ in enumerate(morph_names):
        delta = np.zeros_like(positions)
        delta[:2, 1] = -0.01 * (i + 1)
        targets.append({"POSITION": add(delta, FLOAT, "VEC3")})
    blob.extend(b"\0" * (-len(blob) % 4))
    document = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": MESH}],
        "meshes": [{
            "name": MESH,
            "primitives": [{"attributes": {"POSITION": position}, "indices": indices, "targets": targets}],
            "weights": [0.0] * len(targets),
            "extras": {"targetNames": list(morph_names)},
        }],
        "buffers": [{"byteLength": len(blob)}],
        "bufferViews": views,
        "accessors": accessors,
    }
    json_bytes = json.dumps(document).encode()
    json_bytes += b" " * (-len(json_bytes) % 4)
    body = struct.pack("<II", len(json_bytes), glb.CHUNK_JSON) + json_bytes
    body += struct.pack("<II", len(blob), glb.CHUNK_BIN) + bytes(blob)
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def install(daphne: Daphne, tmp_path_factory: pytest.TempPathFactory, content: bytes, name: str) -> Any:
    path = tmp_path_factory.mktemp("glb") / "avatar.glb"
    path.write_bytes(content)
    return daphne.call("install_avatar", glb_path=str(path), name=name, mapping=MAPPING)


@pytest.fixture(scope="module")
def staff(browser: Any, daphne: Daphne) -> Iterator[Any]:
    context = staff_context(browser, daphne)
    yield context
    context.close()


@pytest.fixture
def glb_avatar(daphne: Daphne, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield install(daphne, tmp_path_factory, loadable_glb(MORPHS), "Тестовая голова")
    daphne.call("use_builtin_avatar")  # the other browser tests expect the built-in avatar


def open_page(context: Any, url: str, ready: str) -> Any:
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url)
    page.wait_for_function(ready, timeout=60_000)
    return page


def speak(page: Any, text: str) -> None:
    """A reply in speak mode, sent over HTTP with the staff login (the page's own token may not choose it)."""
    page.evaluate(
        """async (text) => {
          const s = JSON.parse(localStorage.getItem("avatar.session.v1"));
          const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
          const r = await fetch(`/api/sessions/${s.session_id}/messages`, { method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
            body: JSON.stringify({ text, mode: "speak" }) });
          if (r.status !== 202) throw new Error("say: " + r.status + " " + await r.text());
        }""",
        text,
    )


def spoken_morphs(page: Any) -> dict[str, float]:
    """The largest weight each morph of the GLB mesh reached while audio played."""
    samples: list[dict[str, Any]] = page.evaluate("window.__morphs")
    playing = [s["morphs"] for s in samples if s["playing"]]
    assert playing, "no audio played"
    return {name: max(m[name] for m in playing) for name in MORPHS}


def assert_glb_on_stage(model: dict[str, Any]) -> None:
    assert model["kind"] == "glb" and model["name"] == "Тестовая голова", model
    assert model["onStage"] == ["glb"]  # the built-in avatar has left the scene
    assert model["meshes"] == [MESH] and model["mouthMode"] == "mapping", model


def test_the_live_page_speaks_with_the_default_glb_avatar(staff: Any, daphne: Daphne, glb_avatar: Any) -> None:
    assert glb_avatar["standard"] == "oculus"
    page = open_page(staff, daphne.url + "/?fps=10", CONNECTED)
    assert_glb_on_stage(page.evaluate("window.__avatar.model()"))
    page.evaluate(SAMPLER, ["__avatar", MESH])
    speak(page, "Проверка голоса новой модели.")
    page.wait_for_function("window.__avatar.playing()", timeout=120_000, polling=50)
    page.wait_for_function(
        """() => { const log = window.__avatar.log(); return log.length === 1 && log[0].completed
                   && !window.__avatar.state().busy; }""",
        timeout=120_000, polling=200,
    )
    screenshot(page, "glb-1-live")
    reached = spoken_morphs(page)
    assert reached["customMouth"] > 0.3, reached  # the admin's mapping opens the mouth
    assert reached["viseme_aa"] == 0, reached  # not the driver's own Oculus table
    assert not page.errors, page.errors
    page.close()


def test_the_replay_shows_the_glb_avatar_too(staff: Any, daphne: Daphne, glb_avatar: Any) -> None:
    made = daphne.call("session", title="Повтор с моделью", replies=[["Модель говорит в повторе."]])
    page = open_page(staff, f"{daphne.url}/replay/{made['session']}/?fps=10", "window.__replay?.state().loaded")
    assert_glb_on_stage(page.evaluate("window.__replay.model()"))
    page.evaluate(SAMPLER, ["__replay", MESH])
    page.click("[data-play]")
    page.wait_for_function("window.__replay.state().ended", timeout=90_000, polling=100)
    reached = spoken_morphs(page)
    assert reached["customMouth"] > 0.3 and reached["viseme_aa"] == 0, reached
    assert not page.errors, page.errors
    page.close()


def test_a_glb_that_does_not_load_leaves_the_builtin_avatar(
    browser: Any, daphne: Daphne, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Passes the upload check (a glTF header and morph names) but has no vertex data to load.
    install(daphne, tmp_path_factory, make_glb(MORPHS), "Сломанная")
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
        page = open_page(context, daphne.url + "/?fps=10", CONNECTED)
        page.wait_for_selector(".toast >> text=Не удалось загрузить аватар «Сломанная»", timeout=10_000)
        model = page.evaluate("window.__avatar.model()")
        assert model["kind"] == "builtin" and model["error"], model
        assert model["onStage"] == ["builtin"]
        assert page.evaluate("window.__avatar.meshMorphs('mouth')")  # the built-in face is there to speak
        screenshot(page, "glb-2-fallback")
        assert not page.errors, page.errors
        context.close()
    finally:
        daphne.call("use_builtin_avatar")
