"""Unit-level checks of the page's 3D code in a real browser (WebGL via SwiftShader).

The modules are loaded from a static server (no Django): the built-in avatar against the
rig contract, the mouth and face morphs, the driver's layers, lip-sync sampling, and the
conversion of the motion stage's real output into three.js clips.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from animation import rig
from animation.motion import PresetMotionGenerator

from .conftest import screenshot

pytestmark = pytest.mark.browser

PRESETS = Path(__file__).resolve().parents[2] / "animation" / "presets"
MOUTH = [f"mouth_{s}" for s in "ABCDEFGHX"]


def _preset(name: str) -> dict[str, Any] | None:
    path = PRESETS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _plan(emotion: str, action: str | None, duration: float) -> dict[str, Any]:
    return PresetMotionGenerator(loader=_preset, fps=15).plan(emotion, action, duration).to_dict()


BUILD = """() => {
  const { avatar, driver, scene } = window.mods;
  if (window.av) window.av.root.removeFromParent();
  const av = avatar.buildDefaultAvatar();
  const d = new driver.AvatarDriver(av, { random: () => 0.5 });
  window.av = av; window.drv = d;
  if (!window.stage) {
    window.stage = new scene.Stage(document.getElementById("c"), { onFrame: (dt) => window.drv.update(dt) });
    window.stage.start();
  }
  window.stage.add(av.root);
  return true;
}"""


def test_builtin_avatar_has_the_rig(module_page: Any) -> None:
    module_page.evaluate(BUILD)
    info = module_page.evaluate(
        """() => {
          const av = window.av;
          av.root.updateMatrixWorld(true);
          const bones = {};
          av.root.traverse((o) => { if (o.isBone) bones[o.name] = {
            parent: o.parent && o.parent.isBone ? o.parent.name : null,
            offset: o.position.toArray(), rest: o.quaternion.toArray() }; });
          const morphs = new Set();
          for (const m of av.morphMeshes) for (const k of Object.keys(m.morphTargetDictionary)) morphs.add(k);
          return { bones, morphs: [...morphs], skeleton: av.skeleton.bones.map((b) => b.name) };
        }"""
    )
    assert set(info["bones"]) == set(rig.BONES)
    assert info["skeleton"] == list(rig.BONES)
    for name, spec in rig.BONES.items():
        bone = info["bones"][name]
        assert bone["parent"] == spec.parent
        assert bone["offset"] == pytest.approx(list(spec.offset), abs=1e-6)
        assert bone["rest"] == pytest.approx([0, 0, 0, 1])  # rest orientation = identity
    assert set(rig.MORPHS) <= set(info["morphs"])
    assert set(MOUTH) <= set(info["morphs"])


def test_avatar_renders_and_every_morph_moves_geometry(module_page: Any) -> None:
    module_page.evaluate(BUILD)
    module_page.wait_for_function("window.stage.frames > 3", timeout=30_000)
    # Every morph target has real vertex offsets on at least one mesh.
    sizes = module_page.evaluate(
        """() => {
          const out = {};
          for (const m of window.av.morphMeshes) {
            const attrs = m.geometry.morphAttributes.position;
            for (const [name, i] of Object.entries(m.morphTargetDictionary)) {
              let max = 0;
              const a = attrs[i].array;
              for (let k = 0; k < a.length; k++) max = Math.max(max, Math.abs(a[k]));
              out[name] = Math.max(out[name] || 0, max);
            }
          }
          return out;
        }"""
    )
    for name in [*rig.MORPHS, *MOUTH]:
        if name == "mouth_X":
            assert sizes[name] == 0  # the rest shape is the base mesh
        else:
            assert sizes[name] > 0.0005, name  # at least half a millimetre somewhere
    # The avatar is actually drawn: the centre of the face is not the clear colour.
    pixel = module_page.evaluate(
        """() => {
          const r = window.stage.renderer; const gl = r.getContext();
          r.render(window.stage.scene, window.stage.camera);
          const c = r.domElement; const px = new Uint8Array(4);
          gl.readPixels(Math.floor(c.width / 2), Math.floor(c.height * 0.72), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
          return Array.from(px);
        }"""
    )
    assert pixel[3] > 200, pixel
    screenshot(module_page, "modules-avatar-rest")


def test_driver_mouth_expression_and_blink(module_page: Any) -> None:
    module_page.evaluate(BUILD)
    result = module_page.evaluate(
        """async () => {
          const d = window.drv; const av = window.av;
          const mouth = av.morphMeshes.find((m) => m.name === "mouth");
          const infl = (mesh, name) => mesh.morphTargetInfluences[mesh.morphTargetDictionary[name]];
          d.setMouthShape({ D: 1 });
          for (let i = 0; i < 20; i++) d.update(1 / 60);
          const open = infl(mouth, "mouth_D");
          d.setVisemes({ U: 1 });
          for (let i = 0; i < 20; i++) d.update(1 / 60);
          const pucker = infl(mouth, "mouth_F");
          d.setMouthShape({ X: 1 });
          for (let i = 0; i < 20; i++) d.update(1 / 60);
          const rest = Math.max(...["A","B","C","D","E","F","G","H"].map((s) => infl(mouth, "mouth_" + s)));
          d.setExpression("happy");
          d.update(0.1);
          const early = d.morphValues().smile;
          for (let i = 0; i < 120; i++) d.update(1 / 60);
          const late = d.morphValues().smile;
          const head = av.morphMeshes.find((m) => m.name === "headSkin");
          const cheek = infl(head, "smile");
          d.setExpression("neutral");
          for (let i = 0; i < 240; i++) d.update(1 / 60);
          const after = d.morphValues().smile;
          // local blinks happen by themselves while nothing plays
          let blinked = 0;
          for (let i = 0; i < 60 * 8; i++) { d.update(1 / 60); blinked = Math.max(blinked, d.morphValues().blink); }
          return { open, pucker, rest, early, late, cheek, after, blinked };
        }"""
    )
    assert result["open"] > 0.9
    assert result["pucker"] > 0.9
    assert result["rest"] < 0.01
    assert 0 < result["early"] < result["late"]  # eased in, not snapped
    assert result["late"] == pytest.approx(0.5, abs=0.05)
    assert result["cheek"] == pytest.approx(result["late"], abs=1e-6)
    assert result["after"] < 0.02
    assert result["blinked"] > 0.9


def test_driver_follows_the_viseme_mapping(module_page: Any) -> None:
    """The admin's mapping decides which morphs make a shape; one that names none of them is not used."""
    result = module_page.evaluate(
        """() => {
          const { avatar, driver } = window.mods;
          const av = avatar.buildDefaultAvatar();
          const mouth = av.morphMeshes.find((m) => m.name === "mouth");
          const infl = (name) => mouth.morphTargetInfluences[mouth.morphTargetDictionary[name]];
          const table = Object.fromEntries("ABCDEFGHX".split("").map((s) => [s, {}]));
          const mapped = new driver.AvatarDriver(av, { mouthMapping: { ...table, D: { mouth_E: 0.5 } } });
          mapped.setMouthShape({ D: 1 });
          for (let i = 0; i < 20; i++) mapped.update(1 / 60);
          const foreign = new driver.AvatarDriver(avatar.buildDefaultAvatar(),
            { mouthMapping: { ...table, D: { viseme_aa: 1 } } });
          return { mode: mapped.mouthMode, e: infl("mouth_E"), d: infl("mouth_D"), foreign: foreign.mouthMode };
        }"""
    )
    assert result["mode"] == "mapping"
    assert result["e"] == pytest.approx(0.5, abs=0.02)  # shape D through mouth_E at the table's weight
    assert result["d"] < 0.01  # not the morph named after the shape
    assert result["foreign"] == "rhubarb"  # an Oculus table on the built-in face: its own morphs instead


def test_lipsync_cues_crossfade_on_the_clock(module_page: Any) -> None:
    cues = [
        {"start": 0.0, "end": 0.2, "shape": "X"},
        {"start": 0.2, "end": 0.5, "shape": "D"},
        {"start": 0.5, "end": 0.7, "shape": "F"},
        {"start": 0.7, "end": 0.73, "shape": "B"},  # shorter than the fades: never full
        {"start": 0.73, "end": 1.2, "shape": "X"},
    ]
    w = module_page.evaluate(
        """(cues) => {
          const t = new window.mods.lipsync.CueTrack(cues);
          const at = (x) => t.weightsAt(x, {});
          return { before: at(0.1), mid: at(0.35), edge: at(0.5), f: at(0.6), short: at(0.715),
                   after: at(1.0), end: at(5) };
        }""",
        cues,
    )
    assert w["before"]["X"] == 1 and w["before"]["D"] == 0
    assert w["mid"]["D"] == pytest.approx(1)
    # at a boundary the outgoing and incoming shapes cross-fade, summing to a full mouth
    assert 0.2 < w["edge"]["D"] < 0.8 and 0.2 < w["edge"]["F"] < 0.8
    assert w["edge"]["D"] + w["edge"]["F"] == pytest.approx(1, abs=0.02)
    assert w["f"]["F"] == pytest.approx(1)
    assert 0 < w["short"]["B"] < 1
    assert w["after"]["X"] == 1 and w["end"]["X"] == 1


def test_server_motion_becomes_a_playing_clip(module_page: Any) -> None:
    plan = _plan("happy", "wave", 3.0)
    assert plan["action"] == "wave"
    module_page.evaluate(BUILD)
    result = module_page.evaluate(
        """(kf) => {
          const { THREE } = window.mods;
          const d = window.drv; const av = window.av;
          const extra = { target: "bone", name: "tail", property: "rotation", times: [0, 1],
                          values: [0, 0, 0, 1, 1, 1] };
          const { clip, skipped } = d.clipFrom({ ...kf, tracks: [...kf.tracks, extra] }, "wave-test");
          const names = clip.tracks.map((t) => t.name);
          // The first key of upperArm_R as a quaternion equals the Euler XYZ angles of the plan.
          const src = kf.tracks.find((t) => t.name === "upperArm_R" && t.property === "rotation");
          const k = Math.floor(src.times.length / 2);
          const [x, y, z] = src.values.slice(3 * k, 3 * k + 3);
          const q = new THREE.Quaternion().setFromEuler(new THREE.Euler(x, y, z, "XYZ"));
          const track = clip.tracks.find((t) => t.name === "upperArm_R.quaternion");
          const got = Array.from(track.values.slice(4 * k, 4 * k + 4));
          const pos = clip.tracks.find((t) => t.name === "hips.position");
          const hand = () => {
            av.root.updateMatrixWorld(true);
            return av.bones.get("hand_R").getWorldPosition(new THREE.Vector3()).y;
          };
          const restY = hand();
          let t = 0; d.now = () => t;
          d.playMotion(clip, { startAt: 0, fade: 0.2 });
          let maxY = restY; let gesture = false;
          for (let i = 0; i < 150; i++) { t += 1 / 60; d.update(1 / 60); maxY = Math.max(maxY, hand());
            if (d.activeActions().some((a) => a.name === "wave-test" && a.weight > 0.9)) gesture = true; }
          // after the clip ends the driver fades back to its own idle loop
          for (let i = 0; i < 200; i++) { t += 1 / 60; d.update(1 / 60); }
          const actions = d.activeActions();
          return { names, skipped, quat: [q.x, q.y, q.z, q.w], got, posFirst: Array.from(pos.values.slice(0, 3)),
                   duration: clip.duration, restY, maxY, gesture, actions,
                   restHips: av.bones.get("hips").position.toArray() };
        }""",
        plan,
    )
    assert "upperArm_R.quaternion" in result["names"]
    assert "morphs.morphTargetInfluences[smile]" in result["names"]
    assert result["skipped"] == ["bone:tail.rotation: no such bone"]
    q, got = result["quat"], result["got"]
    sign = 1 if sum(a * b for a, b in zip(q, got, strict=True)) >= 0 else -1
    assert [sign * v for v in got] == pytest.approx(q, abs=1e-5)
    hips = next(t for t in plan["tracks"] if t["name"] == "hips" and t["property"] == "position")
    rest = rig.BONES["hips"].offset
    assert result["posFirst"] == pytest.approx([rest[i] + hips["values"][i] for i in range(3)], abs=1e-5)
    assert result["duration"] == pytest.approx(3.0)
    assert result["gesture"]
    assert result["maxY"] > result["restY"] + 0.4  # the right hand is raised to wave
    assert [a["name"] for a in result["actions"]] == ["local-idle"]
    assert all(math.isfinite(v) for v in result["restHips"])


def test_wave_pose_screenshot(module_page: Any) -> None:
    """Not an assertion of taste: a picture of the gesture and a talking face to look at."""
    plan = _plan("happy", "wave", 2.6)
    module_page.evaluate(BUILD)
    module_page.evaluate(
        """(kf) => {
          const d = window.drv;
          const { clip } = d.clipFrom(kf, "wave-shot");
          let t = 0; d.now = () => t;
          d.playMotion(clip, { startAt: 0, fade: 0.1 });
          d.setMouthShape({ C: 1 });
          for (let i = 0; i < 66; i++) { t += 1 / 60; d.update(1 / 60); }
          window.stage.stop();
          window.stage.renderer.render(window.stage.scene, window.stage.camera);
          window.stage.start();
        }""",
        plan,
    )
    screenshot(module_page, "modules-avatar-wave")


PLAYER_SCENARIO = """async () => {
  const { player: P } = window.mods;
  // A WAV of `seconds` of a soft tone: what the artifact URL would return.
  const wav = (seconds) => {
    const rate = 16000, n = Math.round(seconds * rate), buf = new ArrayBuffer(44 + 2 * n), v = new DataView(buf);
    const str = (o, s) => [...s].forEach((c, i) => v.setUint8(o + i, c.charCodeAt(0)));
    str(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); str(8, "WAVEfmt "); v.setUint32(16, 16, true);
    v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true); v.setUint32(28, 2 * rate, true);
    v.setUint16(32, 2, true); v.setUint16(34, 16, true); str(36, "data"); v.setUint32(40, 2 * n, true);
    for (let i = 0; i < n; i++) v.setInt16(44 + 2 * i, 3000 * Math.sin(i / 8), true);
    return buf;
  };
  const starts = [];
  const subtitles = [];
  const mouth = [];
  const p = new P.Player({
    driver: window.drv,
    fetchAudio: async (url) => wav(Number(url.split(":")[1])),
    onSentenceStart: (turn, index, text, startAt) => starts.push({ index, at: startAt, text }),
    onSubtitle: (text) => subtitles.push(text),
  });
  window.drv.now = () => p.now();
  await p.unlock();
  const T = "turn-1";
  const ev = (type, data) => p.onEvent({ type, data: { turn_id: T, ...data } });
  const cues = (d) => [{ start: 0, end: 0.1, shape: "X" }, { start: 0.1, end: d - 0.1, shape: "D" },
                       { start: d - 0.1, end: d, shape: "X" }];
  const motion = (d) => ({ duration: d, fps: 15, interpolation: "linear", tracks: [
    { target: "bone", name: "head", property: "rotation", times: [0, d], values: [0, 0, 0, 0.1, 0, 0] }] });
  p.addTurn(T);
  // Sentence 1 is complete before sentence 0 has even been generated.
  ev("SentenceGenerated", { index: 1, text: "Вторая фраза." });
  ev("SpeechSynthesized", { index: 1, audio: { url: "wav:0.8" }, duration_ms: 800 });
  ev("LipSyncGenerated", { index: 1, cues: cues(0.8) });
  ev("MotionPlanned", { index: 1, keyframes: motion(0.8) });
  await new Promise((r) => setTimeout(r, 400));
  const nothingYet = starts.length;
  // Sentence 0 arrives without its motion: it starts after the grace period anyway.
  ev("SentenceGenerated", { index: 0, text: "Первая фраза." });
  ev("SentimentAnalyzed", { index: 0, label: "happy" });
  ev("SpeechSynthesized", { index: 0, audio: { url: "wav:0.8" }, duration_ms: 800 });
  ev("LipSyncGenerated", { index: 0, cues: cues(0.8) });
  // Sentence 2 is text-only: no audio, shown for its planned duration.
  ev("SentenceGenerated", { index: 2, text: "Третья фраза без звука." });
  ev("StageFailed", { index: 2, stage: "tts", fallback: "text-only", error: "x" });
  ev("MotionPlanned", { index: 2, keyframes: motion(1.5) });
  ev("ReplyGenerated", { sentence_count: 3 });
  ev("TurnCompleted", { sentence_count: 3 });
  let maxMouth = 0;
  const t0 = performance.now();
  while (p.isBusy() && performance.now() - t0 < 15000) {
    await new Promise((r) => setTimeout(r, 30));
    window.drv.update(0.03);
    const w = window.drv.mouthWeights();
    mouth.push(w.D);
    maxMouth = Math.max(maxMouth, w.D);
  }
  const t1 = performance.now();
  while (p.subtitle !== null && performance.now() - t1 < 3000) await new Promise((r) => setTimeout(r, 50));
  window.drv.update(0.1);
  return { nothingYet, starts, subtitles, maxMouth, restMouth: window.drv.mouthWeights().D, busy: p.isBusy(),
           sched: p.debug(), endAt: p.lastEnd };
}"""


def test_player_orders_sentences_on_the_audio_clock(module_page: Any) -> None:
    module_page.evaluate(BUILD)
    r = module_page.evaluate(PLAYER_SCENARIO)
    assert r["nothingYet"] == 0  # sentence 1 waited for sentence 0
    starts = r["starts"]
    assert [s["index"] for s in starts] == [0, 1, 2]
    # back to back: each starts after the previous one's audio plus a natural pause, no more
    gap01 = starts[1]["at"] - (starts[0]["at"] + 0.8)
    gap12 = starts[2]["at"] - (starts[1]["at"] + 0.8)
    assert 0.15 <= gap01 <= 0.45, gap01
    assert 0.15 <= gap12 <= 0.45, gap12
    # the text-only sentence lasts its planned 1.5 s on screen
    assert r["endAt"] - starts[2]["at"] == pytest.approx(1.5, abs=0.05)
    assert "Третья фраза без звука." in r["subtitles"]
    assert r["subtitles"][-1] is None  # cleared after the last one
    assert r["maxMouth"] > 0.8 and r["restMouth"] < 0.02
    assert not r["busy"]
