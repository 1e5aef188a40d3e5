"""Coqui XTTS-v2 (``coqui-tts``) Russian speech, with optional voice cloning.

Loaded with Coqui's API (``TTS.api.TTS(model_path=DIR, config_path=DIR/config.json)``)
from a local model directory (``config.json``, ``model.pth``, ``vocab.json``,
``speakers_xtts.pth``); ``manage.py download_models xtts`` fetches XTTS-v2 there.
Nothing is downloaded at run time.

Options:

* ``model_dir``: default ``AVATAR_MODELS_DIR/xtts_v2``.
* ``speaker_wav`` (``AVATAR_TTS_SPEAKER_WAV``, read by this engine whether it is
  configured or a fallback): a reference recording (WAV/FLAC/OGG, 6-30 s of one
  clean voice) to clone. Its conditioning latents are computed once per file
  version and kept. Without it, ``speaker`` (a built-in voice of
  ``speakers_xtts.pth``, e.g. ``Claribel Dervla``; default: the first one).
* ``language`` (``ru``), ``speed`` (1.0), ``temperature``, ``top_p``, ``top_k``,
  ``repetition_penalty``, ``seed`` (for repeatable output).
* ``device`` (``auto``/``cuda``/``cuda:N``/``cpu``), ``need_vram_mb`` (2000),
  ``idle_unload_s`` (0: keep loaded), ``threads`` (CPU torch threads).

The model is loaded lazily and kept per worker process in ``synthesis.gpu.MODELS``;
it is unloaded when idle past ``idle_unload_s``, when another model needs the
memory, and on a CUDA out-of-memory error (then the sentence is retried once).
The stage timeout bounds GPT decoding through ``max_time``; audio that comes
back after the deadline is refused (``StageTimeout``) rather than cut.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from synthesis.audio import read_wav, write_wav
from synthesis.gpu import (
    GPU_INSTALL_HINT,
    MODELS,
    LoadStats,
    ManagedModel,
    default_models_dir,
    is_cuda_oom,
    measure_load,
    missing_packages,
    release_cuda_memory,
    select_device,
)
from synthesis.interfaces import Availability, EngineError, EngineUnavailable, SpeechAudio, StageTimeout

log = logging.getLogger("avatar.synthesis.tts")

DEFAULT_DIR_NAME = "xtts_v2"
DOWNLOAD_HINT = "run `python manage.py download_models xtts --agree-cpml` on a machine with network"
NEED_VRAM_MB = 2000
REQUIRED_FILES = ("config.json", "model.pth", "vocab.json")
CLONE_SAMPLE_RATE = 22050  # XTTS computes its conditioning at this rate
PAUSE_S = 0.12  # between the pieces of a sentence longer than XTTS's limit


def resolve_model_dir(model_dir: str | Path | None) -> Path:
    return Path(model_dir).expanduser() if model_dir else default_models_dir() / DEFAULT_DIR_NAME


def resolve_speaker_wav(speaker_wav: str | None) -> str | None:
    return os.environ.get("AVATAR_TTS_SPEAKER_WAV", "").strip() or speaker_wav or None


def _model_problem(directory: Path) -> str | None:
    if not directory.is_dir():
        return f"XTTS model not found in {directory}: {DOWNLOAD_HINT}"
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        return f"XTTS model in {directory} is incomplete (missing {', '.join(missing)}): {DOWNLOAD_HINT}"
    return None


@dataclass
class _Loaded:
    api: Any  # TTS.api.TTS
    model: Any  # TTS.tts.models.xtts.Xtts
    device: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    voices: dict[tuple[str, int, int], tuple[Any, Any]] = field(default_factory=dict)  # cloned latents

    @property
    def speakers(self) -> list[str]:
        manager = getattr(self.model, "speaker_manager", None)
        return list(getattr(manager, "speakers", {}) or {})


class XttsTTS(ManagedModel):
    name: ClassVar[str] = "xtts"

    def __init__(
        self,
        *,
        model_dir: str | None = None,
        speaker_wav: str | None = None,
        speaker: str | None = None,
        language: str = "ru",
        speed: float = 1.0,
        temperature: float = 0.75,
        top_p: float = 0.85,
        top_k: int = 50,
        repetition_penalty: float = 10.0,
        seed: int | None = None,
        device: str = "auto",
        need_vram_mb: int = NEED_VRAM_MB,
        idle_unload_s: float = 0.0,
        threads: int = 0,
    ) -> None:
        if not 0.25 <= speed <= 4.0:
            raise ValueError("xtts: speed must be within 0.25..4")
        self.model_dir = resolve_model_dir(model_dir)
        self.speaker_wav = resolve_speaker_wav(speaker_wav)
        self.speaker = speaker
        self.language = language
        self.speed = speed
        self.sampling: dict[str, Any] = {
            "temperature": temperature, "top_p": top_p, "top_k": top_k, "repetition_penalty": repetition_penalty,
        }
        self.seed = seed
        self.device = device
        self.need_vram_mb = need_vram_mb
        self.idle_unload_s = idle_unload_s
        self.threads = threads
        self._load_stats: LoadStats | None = None

    @classmethod
    def availability(cls, model_dir: str | None = None, speaker_wav: str | None = None) -> Availability:
        missing = missing_packages("torch", "TTS")
        if missing:
            names = ", ".join("coqui-tts" if m == "TTS" else m for m in missing)
            return Availability(False, f"not installed: {names} ({GPU_INSTALL_HINT})")
        directory = resolve_model_dir(model_dir)
        problem = _model_problem(directory)
        if problem:
            return Availability(False, problem)
        wav = resolve_speaker_wav(speaker_wav)
        if wav and not Path(wav).is_file():
            return Availability(False, f"speaker_wav {wav} (AVATAR_TTS_SPEAKER_WAV) does not exist")
        if not wav and not (directory / "speakers_xtts.pth").is_file():
            return Availability(False, f"no voice: {directory}/speakers_xtts.pth is missing and no speaker_wav is set")
        return Availability(True)

    # -- loading --

    @property
    def cache_key(self) -> str:
        return f"xtts:{self.model_dir}:{self.device}"

    def _load(self) -> tuple[_Loaded, LoadStats]:
        missing = missing_packages("torch", "TTS")
        if missing:
            raise EngineUnavailable(f"xtts: not installed: {', '.join(missing)} ({GPU_INSTALL_HINT})")
        problem = _model_problem(self.model_dir)
        if problem:
            raise EngineUnavailable(problem)
        torch = importlib.import_module("torch")
        choice = select_device(self.device, need_mb=self.need_vram_mb, what="XTTS")
        if self.threads and not choice.is_cuda:
            torch.set_num_threads(self.threads)
        api_module = importlib.import_module("TTS.api")
        with measure_load(f"XTTS {self.model_dir.name}", choice.device, choice.reason) as stats:
            try:
                api = api_module.TTS(
                    model_path=str(self.model_dir),
                    config_path=str(self.model_dir / "config.json"),
                    progress_bar=False,
                ).to(choice.device)
            except (OSError, KeyError, RuntimeError) as exc:
                if is_cuda_oom(exc):
                    raise
                raise EngineError(f"xtts: cannot load {self.model_dir}: {type(exc).__name__}: {exc}") from exc
        model = api.synthesizer.tts_model
        if type(model).__name__ != "Xtts":
            raise EngineError(f"xtts: {self.model_dir} holds a {type(model).__name__} model, not XTTS")
        return _Loaded(api, model, choice.device), stats

    def _after_load(self, loaded: Any) -> None:
        self._voice(loaded)  # the speaker conditioning, computed once at warm-up

    @property
    def voice_name(self) -> str:
        if self.speaker_wav:
            return f"xtts:clone:{Path(self.speaker_wav).name}"
        return f"xtts:{self.speaker or 'default'}"

    # -- voices --

    def _voice(self, loaded: _Loaded) -> tuple[Any, Any]:
        """(gpt_cond_latent, speaker_embedding) of the configured voice."""
        if self.speaker_wav:
            return self._cloned(loaded, Path(self.speaker_wav))
        speakers = loaded.speakers
        if not speakers:
            raise EngineError("xtts: the model has no built-in speakers; set speaker_wav (AVATAR_TTS_SPEAKER_WAV)")
        name = self.speaker or speakers[0]
        if name not in speakers:
            raise EngineError(f"xtts: no speaker {name!r}; the model has {', '.join(speakers[:10])}...")
        voice = loaded.model.speaker_manager.speakers[name]
        return voice["gpt_cond_latent"], voice["speaker_embedding"]

    def _cloned(self, loaded: _Loaded, path: Path) -> tuple[Any, Any]:
        try:
            st = path.stat()
        except OSError as exc:
            raise EngineError(f"xtts: speaker_wav {path} cannot be read: {exc}") from exc
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in loaded.voices:
            started = time.perf_counter()
            loaded.voices[key] = self._clone(loaded, path)
            log.info("xtts: cloned voice from %s in %.2f s", path, time.perf_counter() - started)
        return loaded.voices[key]

    def _clone(self, loaded: _Loaded, path: Path) -> tuple[Any, Any]:
        """Coqui's ``get_conditioning_latents``, from audio read without FFmpeg.

        Coqui reads the file with torchaudio, which needs FFmpeg's libraries; we
        read it with soundfile (or our WAV reader) and run the same two steps.
        """
        torch = importlib.import_module("torch")
        functional = importlib.import_module("torchaudio.functional")
        model = loaded.model
        cfg = model.config
        try:
            samples, rate = _read_audio(path)
        except (OSError, ValueError, RuntimeError) as exc:
            raise EngineError(f"xtts: speaker_wav {path} is not readable audio: {exc}") from exc
        audio = torch.tensor(samples, dtype=torch.float32).unsqueeze(0)
        if rate != CLONE_SAMPLE_RATE:
            audio = functional.resample(audio, rate, CLONE_SAMPLE_RATE)
        audio = audio[:, : CLONE_SAMPLE_RATE * int(cfg.max_ref_len)].to(loaded.device)
        if audio.shape[-1] < CLONE_SAMPLE_RATE:
            raise EngineError(f"xtts: speaker_wav {path} is shorter than 1 s (6-30 s recommended)")
        embedding = model.get_speaker_embedding(audio, CLONE_SAMPLE_RATE)
        latent = model.get_gpt_cond_latents(
            audio, CLONE_SAMPLE_RATE, length=int(cfg.gpt_cond_len), chunk_length=int(cfg.gpt_cond_chunk_len)
        )
        return latent, embedding

    # -- synthesis --

    def synthesize(self, text: str, *, timeout: float) -> SpeechAudio:
        deadline = time.monotonic() + timeout
        spoken = " ".join(text.split())
        if not any(ch.isalnum() for ch in spoken):
            raise EngineError(f"xtts: nothing speakable in {text!r}")
        for attempt in (1, 2):
            try:
                return self._synthesize_once(spoken, deadline)
            except Exception as exc:
                if not is_cuda_oom(exc) or attempt == 2:
                    raise
                log.warning("xtts: CUDA out of memory; unloading other models and retrying once")
                MODELS.unload_all(except_key=self.cache_key)
                release_cuda_memory()
        raise AssertionError("unreachable")

    def _synthesize_once(self, text: str, deadline: float) -> SpeechAudio:
        torch = importlib.import_module("torch")
        with self._acquire() as (loaded, stats):
            if stats is not None:
                self._load_stats = stats
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StageTimeout("xtts: the stage's time ran out while loading the model")
            with loaded.lock:
                latent, embedding = self._voice(loaded)
                if self.seed is not None:
                    torch.manual_seed(self.seed)
                limit = loaded.model.tokenizer.char_limits.get(self.language, 250)
                pieces = []
                for chunk in split_text(text, limit):
                    try:
                        out = loaded.model.inference(
                            chunk,
                            self.language,
                            latent,
                            embedding,
                            speed=self.speed,
                            max_time=max(0.1, deadline - time.monotonic()),
                            **self.sampling,
                        )
                    except (AssertionError, KeyError, NotImplementedError) as exc:
                        raise EngineError(f"xtts: cannot speak {chunk[:60]!r}: {type(exc).__name__}: {exc}") from exc
                    pieces.append(_as_numpy(out["wav"]))
                    if time.monotonic() > deadline:
                        break
            sample_rate = int(loaded.model.config.audio.output_sample_rate)
        if time.monotonic() > deadline:
            raise StageTimeout(f"xtts: synthesis took longer than the stage allows ({len(text)} characters)")
        np = importlib.import_module("numpy")
        gap = np.zeros(int(sample_rate * PAUSE_S), dtype=np.float32)
        joined = np.concatenate([part for piece in pieces for part in (piece, gap)][:-1])
        wav = write_wav(joined, sample_rate)
        samples, _ = read_wav(wav)
        return SpeechAudio(
            wav=wav,
            sample_rate=sample_rate,
            duration_ms=round(len(samples) * 1000 / sample_rate),
            text=text,
            voice=self.voice_name,
        )


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut after punctuation, else between words.

    XTTS truncates text over its per-language limit (182 characters for Russian);
    Coqui's own splitter needs spaCy, which the stack does not install.
    """
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max(window.rfind(p) for p in (". ", "! ", "? ", "; ", ": ", ", ", " - "))
        if cut <= limit // 3:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        else:
            cut += 1
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _as_numpy(wav: Any) -> Any:
    np = importlib.import_module("numpy")
    if hasattr(wav, "detach"):
        wav = wav.detach().cpu().numpy()
    return np.asarray(wav, dtype=np.float32).reshape(-1)


def _read_audio(path: Path) -> tuple[Any, int]:
    """Mono float samples in [-1, 1] and the rate: soundfile if installed, else 16-bit WAV."""
    np = importlib.import_module("numpy")
    try:
        soundfile = importlib.import_module("soundfile")
    except (ImportError, OSError):
        soundfile = None
    if soundfile is not None:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        return np.asarray(data.mean(axis=1), dtype=np.float32), int(rate)
    samples, rate = read_wav(path.read_bytes())
    return np.asarray(samples, dtype=np.float32) / 32768.0, rate
