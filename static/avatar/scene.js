// The stage: renderer, camera framing, soft lighting, and the render loop.

import * as THREE from "three";
import { RoomEnvironment } from "three/addons/environments/RoomEnvironment.js";

export class Stage {
  constructor(canvas, { onFrame, maxFps = 60 } = {}) {
    this.canvas = canvas;
    this.onFrame = onFrame;
    this.minFrameMs = 1000 / Math.max(1, maxFps) - 1;
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true, alpha: true, powerPreference: "high-performance" });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.renderer.outputColorSpace = THREE.SRGBColorSpace;
    this.renderer.toneMapping = THREE.ACESFilmicToneMapping;
    this.renderer.toneMappingExposure = 1.05;
    this.renderer.setClearColor(0x000000, 0);

    this.scene = new THREE.Scene();
    const pmrem = new THREE.PMREMGenerator(this.renderer);
    this.scene.environment = pmrem.fromScene(new RoomEnvironment(), 0.04).texture;
    this.scene.environmentIntensity = 0.45;
    pmrem.dispose();

    this.camera = new THREE.PerspectiveCamera(24, 1, 0.05, 20);
    this.target = new THREE.Vector3(0, 1.46, 0);

    const hemi = new THREE.HemisphereLight(0xfff4ea, 0x6a5a66, 0.9);
    this.scene.add(hemi);
    const key = new THREE.DirectionalLight(0xffeadb, 2.1);
    key.position.set(0.9, 2.3, 1.8);
    this.scene.add(key);
    const fill = new THREE.DirectionalLight(0xd8e6ff, 0.7);
    fill.position.set(-1.6, 1.5, 1.2);
    this.scene.add(fill);
    const rim = new THREE.DirectionalLight(0xbfd8ff, 1.6);
    rim.position.set(-0.6, 2.2, -1.8);
    this.scene.add(rim);
    const rim2 = new THREE.DirectionalLight(0xffd9c2, 0.9);
    rim2.position.set(1.2, 1.6, -1.4);
    this.scene.add(rim2);

    this.frames = 0;
    this._running = false;
    this._resize = () => this.resize();
    window.addEventListener("resize", this._resize);
    if ("ResizeObserver" in window) new ResizeObserver(this._resize).observe(canvas.parentElement || canvas);
    this.resize();
  }

  add(object) {
    this.scene.add(object);
  }

  resize() {
    const el = this.canvas.parentElement || this.canvas;
    const w = Math.max(1, el.clientWidth);
    const h = Math.max(1, el.clientHeight);
    this.renderer.setSize(w, h, false);
    const aspect = w / h;
    this.camera.aspect = aspect;
    // Portrait framing: head and shoulders fill the frame; a narrow frame pulls back a bit.
    let distance = aspect < 0.75 ? 2.3 : aspect < 1.1 ? 1.85 : 1.6;
    const small = h < 480; // a phone: the face matters more than the gestures
    if (small) distance *= 0.8;
    this.camera.fov = 24;
    this.camera.position.set(0, small ? 1.56 : 1.53, distance);
    this.camera.lookAt(this.target.x, this.target.y + (small ? 0.05 : 0), this.target.z);
    this.camera.updateProjectionMatrix();
  }

  start() {
    if (this._running) return;
    this._running = true;
    let last = performance.now();
    const tick = (now) => {
      if (!this._running) return;
      requestAnimationFrame(tick);
      if (now - last < this.minFrameMs) return; // frame cap (software rendering, laptops)
      const dt = Math.min((now - last) / 1000, 0.1);
      last = now;
      if (this.onFrame) this.onFrame(dt);
      this.renderer.render(this.scene, this.camera);
      this.frames++;
    };
    requestAnimationFrame(tick);
  }

  stop() {
    this._running = false;
  }
}

/** Without a renderer (no WebGL): `onFrame(dt)` every `ms` anyway, so what runs on the clock goes on. */
export function frameTimer(onFrame, ms = 50) {
  let last = performance.now();
  return setInterval(() => {
    const now = performance.now();
    onFrame((now - last) / 1000);
    last = now;
  }, ms);
}
