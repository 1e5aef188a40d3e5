"""Devices and model memory for the torch engines (RuBERT, XTTS, Silero).

* ``select_device``: where a model of a given size should load. ``auto`` takes the
  GPU when torch sees one and it has the VRAM free (asked through NVML,
  ``nvidia-ml-py``, before anything is loaded), else the CPU, with one log line
  saying why. ``cuda``/``cuda:N`` insists: not enough VRAM or no GPU raises
  ``EngineUnavailable`` (the stage then falls back to its next engine).
  ``cpu`` is the CPU.
* ``ModelCache``: the process-wide store of loaded models. A model is loaded
  once per worker process, kept while used, and unloaded when idle longer than
  its ``idle_unload_s``, when another model needs the memory (least recently
  used first), or on a CUDA out-of-memory error; unloading empties torch's CUDA
  cache so the VRAM goes back to the other processes (Ollama, other workers).
* ``LoadStats``: how long a load took and how much VRAM it took, for timings.

Nothing here imports torch at module level: the light install has no torch.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .interfaces import EngineUnavailable

log = logging.getLogger("avatar.gpu")

GPU_INSTALL_HINT = "pip install -r requirements-gpu.txt"
# A CUDA context and the allocator's slack come on top of the weights.
CUDA_OVERHEAD_MB = 300


def default_models_dir() -> Path:
    """Django's AVATAR_MODELS_DIR when settings are configured, else env, else var/models."""
    try:
        from django.conf import settings

        if settings.configured and hasattr(settings, "AVATAR_MODELS_DIR"):
            return Path(settings.AVATAR_MODELS_DIR)
    except ImportError:
        pass
    env = os.environ.get("AVATAR_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "var" / "models"


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def missing_packages(*names: str) -> list[str]:
    """The named import packages that are not installed (cheap: no import)."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def _torch() -> Any:
    return importlib.import_module("torch")


# --- GPU memory ------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuMemory:
    index: int  # CUDA device index (as torch numbers it)
    name: str
    free_mb: int
    total_mb: int
    source: str  # "nvml" or "torch"


def _nvml_handle(nvml: Any, cuda_index: int) -> Any:
    """The NVML handle of CUDA device ``cuda_index``, honouring CUDA_VISIBLE_DEVICES."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if cuda_index < len(visible):
        chosen = visible[cuda_index]
        if chosen.isdigit():
            return nvml.nvmlDeviceGetHandleByIndex(int(chosen))
        return nvml.nvmlDeviceGetHandleByUUID(chosen)
    return nvml.nvmlDeviceGetHandleByIndex(cuda_index)


def gpu_memory(cuda_index: int = 0) -> GpuMemory | None:
    """Free and total VRAM of one GPU, from NVML (no CUDA context needed) or torch.

    None when there is no GPU or neither NVML nor CUDA can say.
    """
    if importlib.util.find_spec("pynvml") is not None:
        try:
            nvml = importlib.import_module("pynvml")
            nvml.nvmlInit()
            try:
                handle = _nvml_handle(nvml, cuda_index)
                info = nvml.nvmlDeviceGetMemoryInfo(handle)
                name = nvml.nvmlDeviceGetName(handle)
                name = name.decode() if isinstance(name, bytes) else str(name)
                return GpuMemory(cuda_index, name, int(info.free) >> 20, int(info.total) >> 20, "nvml")
            finally:
                nvml.nvmlShutdown()
        except Exception as exc:  # no driver, no such device: NVML raises its own errors
            log.debug("NVML could not report GPU %d: %s", cuda_index, exc)
    if not torch_installed():
        return None
    torch = _torch()
    try:
        if not torch.cuda.is_available() or cuda_index >= torch.cuda.device_count():
            return None
        free, total = torch.cuda.mem_get_info(cuda_index)
        return GpuMemory(cuda_index, torch.cuda.get_device_name(cuda_index), free >> 20, total >> 20, "torch")
    except Exception as exc:
        log.debug("torch could not report GPU %d: %s", cuda_index, exc)
        return None


def cuda_available() -> bool:
    if not torch_installed():
        return False
    try:
        return bool(_torch().cuda.is_available())
    except Exception:
        return False


def system_memory_available_mb() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), in MiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) >> 10
    except (OSError, ValueError, IndexError):
        pass
    return None


# --- choosing the device ------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # "cuda:N" or "cpu"
    reason: str
    gpu: GpuMemory | None = None

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


def _cuda_index(preference: str) -> int:
    _, _, index = preference.partition(":")
    if index and not index.isdigit():
        raise ValueError(f"bad device {preference!r}: use auto, cpu, cuda or cuda:N")
    return int(index or 0)


def select_device(
    preference: str = "auto",
    *,
    need_mb: int,
    what: str,
    memory: Callable[[int], GpuMemory | None] = gpu_memory,
    has_cuda: Callable[[], bool] = cuda_available,
) -> DeviceChoice:
    """Where ``what`` (needing about ``need_mb`` MiB of VRAM) should load.

    ``auto``: the GPU if torch sees one and NVML says enough is free, else the CPU
    (logged at WARNING, once per call). ``cuda``/``cuda:N``: that GPU or
    ``EngineUnavailable``. ``cpu``: the CPU.
    """
    preference = (preference or "auto").strip().lower()
    if preference == "cpu":
        return DeviceChoice("cpu", "configured")
    if preference != "auto" and not preference.startswith("cuda"):
        raise ValueError(f"bad device {preference!r}: use auto, cpu, cuda or cuda:N")
    strict = preference != "auto"
    index = _cuda_index(preference) if strict else 0
    if not has_cuda():
        reason = "no CUDA GPU visible to torch" if torch_installed() else "torch is not installed"
        if strict:
            raise EngineUnavailable(f"{what}: device {preference!r} requested but {reason}")
        log.warning("%s: %s; loading on CPU", what, reason)
        return DeviceChoice("cpu", reason)
    gpu = memory(index)
    device = f"cuda:{index}"
    if gpu is None:  # CUDA works but nobody can tell the free memory: try it
        return DeviceChoice(device, "GPU memory unknown; trying the GPU")
    need = need_mb + CUDA_OVERHEAD_MB
    if gpu.free_mb < need:
        reason = (
            f"not enough VRAM on {device} ({gpu.name}): {gpu.free_mb} MiB free of {gpu.total_mb}, "
            f"needs ~{need} MiB"
        )
        if strict:
            raise EngineUnavailable(f"{what}: {reason}")
        log.warning("%s: %s; loading on CPU", what, reason)
        return DeviceChoice("cpu", reason, gpu)
    return DeviceChoice(device, f"{gpu.free_mb} MiB free of {gpu.total_mb} on {gpu.name}", gpu)


# --- load statistics ---------------------------------------------------------------------


@dataclass
class LoadStats:
    what: str
    device: str
    load_ms: float = 0.0
    vram_mb: float | None = None  # VRAM the load allocated (torch's own count), CUDA only
    reason: str = ""

    def to_timing(self) -> dict[str, Any]:
        """Fields to merge into a stage event's ``timing``."""
        timing: dict[str, Any] = {"load_ms": round(self.load_ms, 1), "device": self.device}
        if self.vram_mb is not None:
            timing["vram_mb"] = round(self.vram_mb, 1)
        return timing


def _cuda_allocated(device: str) -> int | None:
    if not device.startswith("cuda"):
        return None
    try:
        return int(_torch().cuda.memory_allocated(device))
    except Exception:
        return None


@contextlib.contextmanager
def measure_load(what: str, device: str, reason: str = "") -> Iterator[LoadStats]:
    """Time a load and count the VRAM it allocated; the stats are filled on exit."""
    stats = LoadStats(what, device, reason=reason)
    before = _cuda_allocated(device)
    started = time.perf_counter()
    try:
        yield stats
    finally:
        stats.load_ms = (time.perf_counter() - started) * 1000
        after = _cuda_allocated(device)
        if before is not None and after is not None:
            stats.vram_mb = (after - before) / 2**20
    log.info(
        "loaded %s on %s in %.0f ms%s",
        what, device, stats.load_ms, "" if stats.vram_mb is None else f", {stats.vram_mb:.0f} MiB VRAM",
    )


def release_cuda_memory() -> None:
    """Give cached, unused CUDA memory back to the driver (after dropping models)."""
    gc.collect()
    if torch_installed():
        torch = _torch()
        with contextlib.suppress(Exception):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def is_cuda_oom(exc: BaseException) -> bool:
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "CUDA out of memory" in str(exc)


# --- the model cache -------------------------------------------------------------------------


@dataclass
class _Entry:
    key: str
    model: Any
    device: str
    need_mb: int
    idle_unload_s: float
    stats: LoadStats
    last_used: float = field(default_factory=time.monotonic)
    busy: int = 0


class ModelCache:
    """Loaded models of this process, least recently used first.

    ``acquire(key, ...)`` is a context manager that yields the model (loading it on
    first use) and marks it busy, so the idle reaper and memory-pressure eviction
    never unload a model in use. ``max_models`` bounds how many stay loaded.
    """

    def __init__(self, *, max_models: int = 4, reap_every_s: float = 30.0) -> None:
        self.max_models = max_models
        self.reap_every_s = reap_every_s
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.RLock()
        self._loading: dict[str, threading.Lock] = {}
        self._reaper: threading.Thread | None = None
        self._stop = threading.Event()

    # -- loading and use --

    @contextlib.contextmanager
    def acquire(
        self,
        key: str,
        loader: Callable[[], tuple[Any, LoadStats]],
        *,
        need_mb: int = 0,
        idle_unload_s: float = 0.0,
    ) -> Iterator[tuple[Any, LoadStats | None]]:
        """Yield (model, stats of the load if this call loaded it, else None)."""
        entry, fresh = self._get_or_load(key, loader, need_mb, idle_unload_s)
        try:
            yield entry.model, (entry.stats if fresh else None)
        finally:
            with self._lock:
                entry.busy -= 1
                entry.last_used = time.monotonic()

    def _get_or_load(
        self, key: str, loader: Callable[[], tuple[Any, LoadStats]], need_mb: int, idle_unload_s: float
    ) -> tuple[_Entry, bool]:
        with self._lock:
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:  # one load per key at a time; other keys load in parallel
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.busy += 1
                    self._entries.move_to_end(key)
                    return entry, False
            self.make_room(need_mb, keep=key)
            model, stats = loader()
            entry = _Entry(key, model, stats.device, need_mb, idle_unload_s, stats, busy=1)
            with self._lock:
                self._entries[key] = entry
                while len(self._entries) > self.max_models and self._evict_one(keep=key):
                    pass
            if idle_unload_s > 0:
                self._start_reaper()
            return entry, True

    def make_room(self, need_mb: int, *, keep: str | None = None, gpu_index: int = 0) -> None:
        """Unload idle models (least recently used first) until ``need_mb`` fits.

        Checks the GPU when any loaded model is on it, else system RAM.
        """
        if need_mb <= 0:
            return
        while True:
            with self._lock:
                on_gpu = any(e.device.startswith("cuda") for e in self._entries.values())
            if on_gpu:
                gpu = gpu_memory(gpu_index)
                free = gpu.free_mb if gpu is not None else None
            else:
                free = system_memory_available_mb()
            if free is None or free >= need_mb + CUDA_OVERHEAD_MB:
                return
            with self._lock:
                evicted = self._evict_one(keep=keep)
            if not evicted:
                return
            log.info("memory pressure (%s MiB free, %d needed): unloaded %s", free, need_mb, evicted)

    # -- unloading --

    def _evict_one(self, *, keep: str | None = None) -> str | None:
        """Unload the least recently used idle model; its key, or None."""
        for key, entry in self._entries.items():
            if key != keep and entry.busy == 0:
                self._drop(key)
                return key
        return None

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        on_cuda = entry.device.startswith("cuda")
        entry.model = None
        del entry
        if on_cuda:
            release_cuda_memory()
        else:
            gc.collect()
        log.info("unloaded %s", key)

    def unload(self, key: str) -> bool:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.busy:
                return False
            self._drop(key)
            return True

    def unload_all(self, *, except_key: str | None = None) -> list[str]:
        """Unload every idle model (e.g. after a CUDA out-of-memory error)."""
        with self._lock:
            keys = [k for k, e in self._entries.items() if k != except_key and e.busy == 0]
            for key in keys:
                self._drop(key)
        return keys

    def unload_idle(self, now: float | None = None) -> list[str]:
        """Unload models idle past their ``idle_unload_s`` (the reaper calls this)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            keys = [
                k for k, e in self._entries.items()
                if e.busy == 0 and e.idle_unload_s > 0 and now - e.last_used >= e.idle_unload_s
            ]
            for key in keys:
                self._drop(key)
        return keys

    def loaded(self) -> dict[str, str]:
        """key -> device of every loaded model."""
        with self._lock:
            return {k: e.device for k, e in self._entries.items()}

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None and self._reaper.is_alive():
                return
            self._reaper = threading.Thread(target=self._reap, name="model-reaper", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        while not self._stop.wait(self.reap_every_s):
            try:
                self.unload_idle()
            except Exception:  # never let the reaper die on one bad model
                log.exception("idle unload failed")


MODELS = ModelCache()


class ManagedModel:
    """What RuBERT, XTTS and Silero share: weights held in the per-process ``MODELS``
    cache (one copy per worker, unloaded when idle or under memory pressure), loaded
    ahead of the first task by ``preload`` (see synthesis/warmup.py), with the load's
    time, device and VRAM reported once through ``pop_load_stats``."""

    cache_key: Any
    need_vram_mb: int
    idle_unload_s: float
    _load_stats: LoadStats | None

    def _load(self) -> Any:  # returns (the loaded model, LoadStats)
        raise NotImplementedError

    def _acquire(self) -> Any:
        return MODELS.acquire(self.cache_key, self._load, need_mb=self.need_vram_mb, idle_unload_s=self.idle_unload_s)

    def _after_load(self, loaded: Any) -> None:
        """Hook for work that belongs to warming up (e.g. computing a voice)."""

    def preload(self) -> None:
        with self._acquire() as (loaded, stats):
            if stats is not None:
                self._load_stats = stats
            self._after_load(loaded)

    def pop_load_stats(self) -> dict[str, Any] | None:
        """The last load's time/VRAM/device, once (merge into the stage's timing)."""
        stats, self._load_stats = self._load_stats, None
        return None if stats is None else stats.to_timing()
