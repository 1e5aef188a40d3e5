"""Silero Russian voices (``v4_ru``: aidar, baya, kseniya, xenia, eugene) through torch.

Silero models are ``torch.package`` files; the ``silero`` pip package and
``torch.hub`` only download them at run time, which fails offline. Here the file
is loaded from disk the way Silero documents for local use::

    model = torch.package.PackageImporter(path).load_pickle("tts_models", "model")
    model.to(device)
    audio = model.apply_tts(text=..., speaker="xenia", sample_rate=48000, put_accent=True, put_yo=True)

``manage.py download_models silero`` puts the file at ``AVATAR_MODELS_DIR/silero/v4_ru.pt``.

Options: ``model_path``, ``speaker`` (``xenia``), ``sample_rate`` (8000, 24000 or
48000; default 24000), ``put_accent``/``put_yo`` (Silero's automatic stress and
ё), ``device`` (auto/cuda/cpu; Silero is small and fast on CPU, ~RTF 0.1-0.3 on 2
cores), ``threads``, ``idle_unload_s``. Licence: Silero models are CC BY-NC-SA 4.0
(non-commercial) unless you have a commercial licence from Silero.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from synthesis.audio import read_wav, write_wav
from synthesis.gpu import (
    GPU_INSTALL_HINT,
    LoadStats,
    ManagedModel,
    default_models_dir,
    measure_load,
    missing_packages,
    select_device,
)
from synthesis.interfaces import Availability, EngineError, EngineUnavailable, SpeechAudio, StageTimeout

log = logging.getLogger("avatar.synthesis.tts")

DEFAULT_FILE = "silero/v4_ru.pt"
DOWNLOAD_URL = "https://models.silero.ai/models/tts/ru/v4_ru.pt"
DOWNLOAD_HINT = "run `python manage.py download_models silero` on a machine with network"
SAMPLE_RATES = (8000, 24000, 48000)
NEED_VRAM_MB = 300


def resolve_model_path(model_path: str | None) -> Path:
    return Path(model_path).expanduser() if model_path else default_models_dir() / DEFAULT_FILE


@dataclass
class _Loaded:
    model: Any
    device: str
    lock: threading.Lock = field(default_factory=threading.Lock)


class SileroTTS(ManagedModel):
    name: ClassVar[str] = "silero"

    def __init__(
        self,
        *,
        model_path: str | None = None,
        speaker: str = "xenia",
        sample_rate: int = 24000,
        put_accent: bool = True,
        put_yo: bool = True,
        device: str = "auto",
        threads: int = 0,
        idle_unload_s: float = 0.0,
        need_vram_mb: int = NEED_VRAM_MB,
    ) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise ValueError(f"silero: sample_rate must be one of {SAMPLE_RATES}")
        self.model_path = resolve_model_path(model_path)
        self.speaker = speaker
        self.sample_rate = sample_rate
        self.put_accent = put_accent
        self.put_yo = put_yo
        self.device = device
        self.threads = threads
        self.idle_unload_s = idle_unload_s
        self.need_vram_mb = need_vram_mb
        self._load_stats: LoadStats | None = None

    @classmethod
    def availability(cls, model_path: str | None = None) -> Availability:
        missing = missing_packages("torch")
        if missing:
            return Availability(False, f"not installed: torch ({GPU_INSTALL_HINT})")
        path = resolve_model_path(model_path)
        if not path.is_file():
            return Availability(False, f"Silero model not downloaded ({path} is missing): {DOWNLOAD_HINT}")
        return Availability(True)

    @property
    def cache_key(self) -> str:
        return f"silero:{self.model_path}:{self.device}"

    def _load(self) -> tuple[_Loaded, LoadStats]:
        if missing_packages("torch"):
            raise EngineUnavailable(f"silero: torch is not installed ({GPU_INSTALL_HINT})")
        if not self.model_path.is_file():
            raise EngineUnavailable(f"Silero model not downloaded ({self.model_path} is missing): {DOWNLOAD_HINT}")
        torch = importlib.import_module("torch")
        package = importlib.import_module("torch.package")
        choice = select_device(self.device, need_mb=self.need_vram_mb, what="Silero")
        if self.threads and not choice.is_cuda:
            torch.set_num_threads(self.threads)
        with measure_load(f"Silero {self.model_path.name}", choice.device, choice.reason) as stats:
            try:
                model = package.PackageImporter(str(self.model_path)).load_pickle("tts_models", "model")
            except Exception as exc:  # a corrupt or foreign file fails in many ways
                raise EngineError(f"silero: cannot load {self.model_path}: {type(exc).__name__}: {exc}") from exc
            model.to(torch.device(choice.device))
        speakers = list(getattr(model, "speakers", []) or [])
        if speakers and self.speaker not in speakers:
            raise EngineError(f"silero: no speaker {self.speaker!r}; the model has {', '.join(speakers)}")
        return _Loaded(model, choice.device), stats

    def synthesize(self, text: str, *, timeout: float) -> SpeechAudio:
        deadline = time.monotonic() + timeout
        spoken = " ".join(text.split())
        if not any(ch.isalnum() for ch in spoken):
            raise EngineError(f"silero: nothing speakable in {text!r}")
        torch = importlib.import_module("torch")
        with self._acquire() as (loaded, stats):
            if stats is not None:
                self._load_stats = stats
            with loaded.lock, torch.inference_mode():
                try:
                    audio = loaded.model.apply_tts(
                        text=spoken,
                        speaker=self.speaker,
                        sample_rate=self.sample_rate,
                        put_accent=self.put_accent,
                        put_yo=self.put_yo,
                    )
                except (ValueError, RuntimeError, KeyError) as exc:  # Silero rejects odd text with these
                    raise EngineError(f"silero: cannot speak {spoken[:60]!r}: {exc}") from exc
        if time.monotonic() > deadline:
            raise StageTimeout(f"silero: synthesis took longer than the stage allows ({len(spoken)} characters)")
        samples = audio.detach().cpu().float().numpy().reshape(-1) if hasattr(audio, "detach") else audio
        wav = write_wav(samples, self.sample_rate)
        pcm, _ = read_wav(wav)
        return SpeechAudio(
            wav=wav,
            sample_rate=self.sample_rate,
            duration_ms=round(len(pcm) * 1000 / self.sample_rate),
            text=spoken,
            voice=f"silero:{self.speaker}",
        )
