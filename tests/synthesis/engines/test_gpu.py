"""Device selection, the VRAM check and the model cache (synthesis/gpu.py).

The selection logic and the cache are tested with injected GPU answers and run in
the light venv too; tests marked ``heavy`` use the real torch (GPU venv).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from synthesis import gpu
from synthesis.gpu import DeviceChoice, GpuMemory, LoadStats, ModelCache, select_device
from synthesis.interfaces import EngineUnavailable


def h200(free_mb: int) -> Any:
    return lambda index: GpuMemory(index, "NVIDIA H200", free_mb, 143_771, "nvml")


def test_auto_without_a_gpu_falls_back_to_cpu_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="avatar.gpu"):
        choice = select_device("auto", need_mb=2000, what="XTTS", has_cuda=lambda: False, memory=h200(0))
    assert choice == DeviceChoice("cpu", choice.reason) and not choice.is_cuda
    assert "XTTS" in caplog.text and "loading on CPU" in caplog.text


def test_auto_with_enough_vram_takes_the_gpu() -> None:
    choice = select_device("auto", need_mb=2000, what="XTTS", has_cuda=lambda: True, memory=h200(20_000))
    assert choice.device == "cuda:0" and choice.gpu is not None and choice.gpu.free_mb == 20_000


def test_auto_without_enough_vram_loads_on_cpu(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="avatar.gpu"):
        choice = select_device("auto", need_mb=2000, what="XTTS", has_cuda=lambda: True, memory=h200(1500))
    assert choice.device == "cpu"
    assert "not enough VRAM" in choice.reason and "1500 MiB free" in choice.reason
    assert "not enough VRAM" in caplog.text


def test_explicit_cuda_insists() -> None:
    with pytest.raises(EngineUnavailable, match="not enough VRAM on cuda:1"):
        select_device("cuda:1", need_mb=2000, what="XTTS", has_cuda=lambda: True, memory=h200(100))
    with pytest.raises(EngineUnavailable, match=r"no CUDA GPU|torch is not installed"):
        select_device("cuda", need_mb=10, what="RuBERT", has_cuda=lambda: False, memory=h200(0))
    assert select_device("cuda:1", need_mb=10, what="x", has_cuda=lambda: True, memory=h200(9000)).device == "cuda:1"


def test_cpu_and_bad_preferences() -> None:
    assert select_device("cpu", need_mb=10**6, what="x").device == "cpu"
    for bad in ("tpu", "cuda:x"):
        with pytest.raises(ValueError):
            select_device(bad, need_mb=1, what="x", has_cuda=lambda: True, memory=h200(10))


def test_unknown_free_memory_tries_the_gpu() -> None:
    assert select_device("auto", need_mb=10, what="x", has_cuda=lambda: True, memory=lambda i: None).is_cuda


def test_nvml_index_follows_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = SimpleNamespace(
        nvmlDeviceGetHandleByIndex=lambda i: ("index", i), nvmlDeviceGetHandleByUUID=lambda u: ("uuid", u)
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert gpu._nvml_handle(nvml, 0) == ("index", 3)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-abc")
    assert gpu._nvml_handle(nvml, 0) == ("uuid", "GPU-abc")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert gpu._nvml_handle(nvml, 2) == ("index", 2)


def test_gpu_memory_reads_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(free=10 << 30, total=12 << 30, used=2 << 30),
        nvmlDeviceGetName=lambda h: b"NVIDIA GeForce RTX 3060",
    )
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "pynvml" else None)
    monkeypatch.setattr(importlib, "import_module", lambda name: fake)
    assert gpu.gpu_memory(0) == GpuMemory(0, "NVIDIA GeForce RTX 3060", 10240, 12288, "nvml")


def test_engines_say_what_to_install_without_the_gpu_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    from synthesis.engines.sentiment.rubert import RuBertSentiment
    from synthesis.engines.tts.silero import SileroTTS
    from synthesis.engines.tts.xtts import XttsTTS

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name in ("torch", "transformers", "TTS") else real(name, *a),
    )
    for engine in (RuBertSentiment, XttsTTS, SileroTTS):
        avail = engine.availability()
        assert not avail.ok and "pip install -r requirements-gpu.txt" in avail.reason, avail
    assert "coqui-tts" in XttsTTS.availability().reason


def test_system_memory() -> None:
    available = gpu.system_memory_available_mb()
    assert available is None or available > 0


# --- the model cache ------------------------------------------------------------------


def loader(name: str, device: str = "cpu", calls: list[str] | None = None) -> Any:
    def load() -> tuple[Any, LoadStats]:
        if calls is not None:
            calls.append(name)
        return {"model": name}, LoadStats(name, device, load_ms=12.0)

    return load


def test_loads_once_and_reports_the_load_once() -> None:
    cache, calls = ModelCache(), list[str]()
    with cache.acquire("a", loader("a", calls=calls)) as (model, stats):
        assert model == {"model": "a"} and stats is not None and stats.to_timing() == {"load_ms": 12.0, "device": "cpu"}
    with cache.acquire("a", loader("a", calls=calls)) as (model, stats):
        assert stats is None
    assert calls == ["a"] and cache.loaded() == {"a": "cpu"}


def test_least_recently_used_is_unloaded_beyond_max_models() -> None:
    cache = ModelCache(max_models=2)
    for key in ("a", "b"):
        with cache.acquire(key, loader(key)):
            pass
    with cache.acquire("a", loader("a")):
        pass
    with cache.acquire("c", loader("c")):
        pass
    assert set(cache.loaded()) == {"a", "c"}


def test_a_model_in_use_is_never_unloaded() -> None:
    cache = ModelCache(max_models=1)
    with cache.acquire("a", loader("a")):
        with cache.acquire("b", loader("b")):
            assert set(cache.loaded()) == {"a", "b"}  # over the limit rather than pull a model from under a task
        assert not cache.unload("a")
        assert cache.unload_all() == ["b"]
    assert cache.unload("a") and cache.loaded() == {}


def test_idle_models_are_unloaded() -> None:
    cache = ModelCache(reap_every_s=0.05)
    with cache.acquire("a", loader("a"), idle_unload_s=0.1):
        pass
    with cache.acquire("b", loader("b")):  # idle_unload_s 0: kept
        pass
    deadline = time.monotonic() + 3
    while "a" in cache.loaded() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cache.loaded() == {"b": "cpu"}


def test_memory_pressure_unloads_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ModelCache()
    free = {"mb": 10_000}
    monkeypatch.setattr(gpu, "gpu_memory", lambda index=0: GpuMemory(0, "GPU", free["mb"], 12_288, "nvml"))
    with cache.acquire("xtts", loader("xtts", device="cuda:0"), need_mb=2000):
        pass
    free["mb"] = 900  # Ollama took the rest
    original_drop = cache._drop

    def drop(key: str) -> None:
        free["mb"] += 2000
        original_drop(key)

    monkeypatch.setattr(cache, "_drop", drop)
    monkeypatch.setattr(gpu, "release_cuda_memory", lambda: None)
    with cache.acquire("rubert", loader("rubert", device="cuda:0"), need_mb=700):
        pass
    assert set(cache.loaded()) == {"rubert"}


def test_concurrent_first_use_loads_once() -> None:
    cache, calls = ModelCache(), list[str]()
    barrier = threading.Barrier(4)

    def slow() -> tuple[Any, LoadStats]:
        calls.append("x")
        time.sleep(0.1)
        return object(), LoadStats("x", "cpu")

    def use() -> None:
        barrier.wait()
        with cache.acquire("x", slow):
            pass

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["x"]


# --- with the real torch (GPU venv) --------------------------------------------------------


def _require_torch() -> Any:
    if importlib.util.find_spec("torch") is None:
        pytest.fail("heavy test: run it in .venv-gpu (pip install -r requirements-gpu.txt); "
                    "the light run deselects it with -m 'not heavy'")
    return importlib.import_module("torch")


@pytest.mark.heavy
def test_real_torch_device_choice_and_load_stats(caplog: pytest.LogCaptureFixture) -> None:
    torch = _require_torch()
    with caplog.at_level(logging.INFO, logger="avatar.gpu"):
        choice = select_device("auto", need_mb=100, what="probe")
        with gpu.measure_load("probe", choice.device) as stats:
            tensor = torch.ones(256, 1024, device=choice.device)
    assert stats.load_ms > 0 and "loaded probe" in caplog.text
    if torch.cuda.is_available():
        assert choice.is_cuda and stats.vram_mb is not None and stats.vram_mb >= 0.9
        assert gpu.gpu_memory(0) is not None
    else:
        assert choice.device == "cpu" and "no CUDA GPU" in choice.reason and stats.vram_mb is None
        with pytest.raises(EngineUnavailable):
            select_device("cuda", need_mb=1, what="probe")
    del tensor
    gpu.release_cuda_memory()


@pytest.mark.heavy
def test_real_cuda_oom_is_recognised() -> None:
    torch = _require_torch()
    assert gpu.is_cuda_oom(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not gpu.is_cuda_oom(RuntimeError("shape mismatch"))
