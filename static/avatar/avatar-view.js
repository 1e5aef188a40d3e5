// The avatar on the stage, for both pages (live and replay): the built-in avatar at once,
// and the admin's default GLB avatar (config.avatar) in its place once it has loaded.
// A GLB that cannot be loaded (network, broken file, no usable morphs) leaves the built-in
// avatar in place: the page must keep talking whatever the upload is.

import * as THREE from "three";
import { Stage, frameTimer } from "./scene.js";
import { buildDefaultAvatar } from "./avatar.js";
import { AvatarDriver, describeAvatar } from "./driver.js";

const GLB_TIMEOUT_MS = 30000;
// Height range (metres) of a full-body avatar standing at the origin: the stage's own frame.
const BODY_HEIGHT = [1.2, 2.4];
const BUST_HEIGHT = 0.5; // anything else (a bust, a head, another unit) is scaled to this
const BUST_TOP = 1.72; // and placed where the built-in avatar's head is

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function loadGltf(url) {
  // Imported only when there is a GLB to load: a missing loader must not break the page.
  const { GLTFLoader } = await import("three/addons/loaders/GLTFLoader.js");
  return new GLTFLoader().loadAsync(url);
}

/** Put a model where the camera looks: a full body as it is, anything else as a bust. */
export function fitToStage(root) {
  const box = new THREE.Box3().setFromObject(root);
  if (box.isEmpty()) return;
  const size = box.getSize(new THREE.Vector3());
  if (size.y >= BODY_HEIGHT[0] && size.y <= BODY_HEIGHT[1]) return;
  const k = BUST_HEIGHT / Math.max(size.y, 1e-6);
  const center = box.getCenter(new THREE.Vector3());
  root.scale.multiplyScalar(k);
  root.position.set(-center.x * k, BUST_TOP - box.max.y * k, -center.z * k);
}

export class AvatarView {
  /** opts: {maxFps, now() (the clock motion refers to), mapping (built-in avatar's viseme table), onFrame(dt)} */
  constructor(root, { maxFps = 60, now, mapping = null, onFrame = () => {} } = {}) {
    this.now = now;
    this.avatar = buildDefaultAvatar();
    this.avatar.root.userData.avatar = "builtin";
    this.driver = new AvatarDriver(this.avatar, { now, mouthMapping: mapping });
    this.info = { kind: "builtin", name: null, url: null, error: null };
    const frame = (dt) => {
      onFrame(dt);
      this.driver.update(dt);
    };
    try {
      this.stage = new Stage(root.querySelector("[data-canvas]"), { onFrame: frame, maxFps });
      this.stage.add(this.avatar.root);
      this.stage.start();
    } catch {
      this.stage = null; // no WebGL: text and voice go on, the clock still drives the face
      root.querySelector("[data-stage]").classList.add("no-webgl");
      frameTimer(frame);
    }
  }

  /**
   * Replace the built-in avatar with the GLB that `spec` ({url, name, standard, mapping}) names.
   * Resolves true when it is on stage, false when the built-in avatar stays (info.error says why).
   */
  async loadGlb(spec, { timeoutMs = GLB_TIMEOUT_MS } = {}) {
    if (!spec?.url) return false;
    try {
      const gltf = await withTimeout(loadGltf(spec.url), timeoutMs);
      fitToStage(gltf.scene); // before the driver adds its morph proxy, which has no real geometry
      const avatar = describeAvatar(gltf.scene);
      const driver = new AvatarDriver(avatar, { now: this.now, mouthMapping: spec.mapping });
      if (driver.mouthMode === "none") throw new Error("no mouth morphs the viseme mapping or the driver knows");
      avatar.root.userData.avatar = "glb";
      this.avatar.root.removeFromParent();
      this.stage?.add(avatar.root);
      [this.avatar, this.driver] = [avatar, driver];
      this.info = { kind: "glb", name: spec.name ?? null, url: spec.url, standard: spec.standard ?? null, error: null };
      return true;
    } catch (err) {
      this.info = { ...this.info, error: String(err?.message || err) };
      return false;
    }
  }

  /** Morph name -> influence of one mesh of the avatar on stage (tests), or null. */
  meshMorphs(name) {
    const mesh = this.avatar.morphMeshes.find((m) => m.name === name);
    if (!mesh) return null;
    return Object.fromEntries(Object.entries(mesh.morphTargetDictionary).map(([k, i]) => [k, mesh.morphTargetInfluences[i]]));
  }

  /** What stands on the stage (tests): the avatar shown, and every avatar model in the scene. */
  debug() {
    const scene = this.stage?.scene;
    return {
      ...this.info,
      onStage: (scene?.children ?? []).filter((o) => o.userData.avatar).map((o) => o.userData.avatar),
      meshes: this.avatar.morphMeshes.map((m) => m.name),
      mouthMode: this.driver.mouthMode,
    };
  }
}

/** The admin's GLB avatar (config.avatar) on stage, speaking for `player`; a notice when the built-in one stays. */
export async function showConfiguredAvatar(view, spec, { player, ui }) {
  if (!spec) return;
  if (await view.loadGlb(spec)) player.driver = view.driver;
  else ui.toast(`Не удалось загрузить аватар «${spec.name}» — показан встроенный.`, "warn", 8000);
}
