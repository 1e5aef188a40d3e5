"""RuBERT sentence sentiment (``blanchefort/rubert-base-cased-sentiment``) through ``transformers``.

The model's labels NEUTRAL / POSITIVE / NEGATIVE become neutral / happy / sad;
on top, the shared ``thinking`` rule (a question, a hesitation) turns a neutral
result into ``thinking``, as the E5 engine does. Other classifiers can be used
with ``label_map`` (their label -> one of happy, sad, neutral, thinking); common
label names (joy, sadness, no_emotion, ...) are known already.

Options:

* ``model``: a local directory, or a hub name looked up in ``AVATAR_MODELS_DIR``
  (``manage.py download_models rubert`` puts it there) and then in the Hugging
  Face cache. Nothing is downloaded at run time (``local_files_only``): a
  missing model is ``EngineUnavailable`` naming the download command.
* ``device``: ``auto`` (GPU when it has the VRAM, else CPU, logged), ``cuda``,
  ``cuda:N``, ``cpu``. ``batch_size``, ``max_length`` (tokens), ``threads``
  (CPU torch threads, 0: torch's default), ``idle_unload_s`` (0: keep loaded).

Loaded once per worker process (``synthesis.gpu.MODELS``), on first use or by
``preload()``; ``pop_load_stats()`` gives the load time and VRAM once, for timings.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from synthesis.engines.sentiment.rules import has_thinking_cue, result_from_scores
from synthesis.gpu import (
    GPU_INSTALL_HINT,
    LoadStats,
    ManagedModel,
    default_models_dir,
    measure_load,
    missing_packages,
    select_device,
)
from synthesis.interfaces import EMOTIONS, Availability, EngineError, EngineUnavailable, SentimentResult

log = logging.getLogger("avatar.synthesis.sentiment")

DEFAULT_MODEL = "blanchefort/rubert-base-cased-sentiment"
DOWNLOAD_HINT = "run `python manage.py download_models rubert` on a machine with network"
NEED_VRAM_MB = 700  # ~180 M parameters in fp32 + activations for a batch of sentences
THINKING_BLEND = 0.5

# Label names of common sentiment / emotion classifiers -> our emotions.
LABELS: dict[str, str] = {
    "neutral": "neutral", "no_emotion": "neutral", "none": "neutral", "label_0": "neutral",
    "positive": "happy", "joy": "happy", "happy": "happy", "happiness": "happy", "label_1": "happy",
    "enthusiasm": "happy", "surprise": "neutral",
    "negative": "sad", "sadness": "sad", "sad": "sad", "anger": "sad", "fear": "sad", "disgust": "sad",
    "label_2": "sad",
    "thinking": "thinking",
}


def local_dir_name(model: str) -> str:
    """Where ``download_models`` puts a hub model under AVATAR_MODELS_DIR."""
    return model.rstrip("/").rsplit("/", 1)[-1]


def resolve_model(model: str, models_dir: Path | None = None) -> str | None:
    """A loadable local path or cached hub name for ``model``, or None when absent."""
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path) if (path / "config.json").is_file() else None
    local = (models_dir or default_models_dir()) / local_dir_name(model)
    if (local / "config.json").is_file():
        return str(local)
    if "/" in model and not model.startswith(("/", ".", "~")):
        try:
            hub = importlib.import_module("huggingface_hub")
            cached = hub.try_to_load_from_cache(model, "config.json")
        except Exception:
            cached = None
        if isinstance(cached, str):
            return model
    return None


@dataclass(frozen=True)
class _Loaded:
    tokenizer: Any
    model: Any
    device: str
    labels: tuple[str, ...]  # our emotion for each output index
    lock: threading.Lock


class RuBertSentiment(ManagedModel):
    name: ClassVar[str] = "rubert"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        models_dir: str | Path | None = None,
        device: str = "auto",
        batch_size: int = 16,
        max_length: int = 128,
        threads: int = 0,
        label_map: Mapping[str, str] | None = None,
        idle_unload_s: float = 0.0,
        need_vram_mb: int = NEED_VRAM_MB,
    ) -> None:
        if batch_size < 1 or max_length < 8 or threads < 0:
            raise ValueError("rubert: batch_size >= 1, max_length >= 8, threads >= 0")
        bad = {v for v in (label_map or {}).values() if v not in EMOTIONS}
        if bad:
            raise ValueError(f"rubert: label_map values must be emotions {EMOTIONS}, not {sorted(bad)}")
        self.model = model
        self.models_dir = Path(models_dir) if models_dir else default_models_dir()
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.threads = threads
        self.label_map = {k.lower(): v for k, v in (label_map or {}).items()}
        self.idle_unload_s = idle_unload_s
        self.need_vram_mb = need_vram_mb
        self._load_stats: LoadStats | None = None

    @classmethod
    def availability(cls, model: str = DEFAULT_MODEL, models_dir: str | None = None) -> Availability:
        missing = missing_packages("torch", "transformers")
        if missing:
            return Availability(False, f"not installed: {', '.join(missing)} ({GPU_INSTALL_HINT})")
        if resolve_model(model, Path(models_dir) if models_dir else None) is None:
            return Availability(False, f"model {model!r} not downloaded: {DOWNLOAD_HINT}")
        return Availability(True)

    # -- loading --

    @property
    def cache_key(self) -> str:
        return f"rubert:{self.model}:{self.device}"

    def _load(self) -> tuple[_Loaded, LoadStats]:
        missing = missing_packages("torch", "transformers")
        if missing:
            raise EngineUnavailable(f"rubert: not installed: {', '.join(missing)} ({GPU_INSTALL_HINT})")
        source = resolve_model(self.model, self.models_dir)
        if source is None:
            raise EngineUnavailable(f"rubert: model {self.model!r} not downloaded: {DOWNLOAD_HINT}")
        torch = importlib.import_module("torch")
        transformers = importlib.import_module("transformers")
        choice = select_device(self.device, need_mb=self.need_vram_mb, what=f"RuBERT ({self.model})")
        if self.threads and not choice.is_cuda:
            torch.set_num_threads(self.threads)
        with measure_load(f"RuBERT {self.model}", choice.device, choice.reason) as stats:
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
                model = transformers.AutoModelForSequenceClassification.from_pretrained(
                    source, local_files_only=True
                )
            except OSError as exc:  # missing or partial files
                raise EngineUnavailable(f"rubert: cannot load {source}: {exc}; {DOWNLOAD_HINT}") from exc
            model.to(choice.device)
            model.eval()
        labels = self._labels(model.config.id2label)
        return _Loaded(tokenizer, model, choice.device, labels, threading.Lock()), stats

    def _labels(self, id2label: Mapping[int, str]) -> tuple[str, ...]:
        labels: list[str] = []
        for index in range(len(id2label)):
            raw = str(id2label[index]).lower()
            emotion = self.label_map.get(raw) or LABELS.get(raw)
            if emotion is None:
                raise EngineError(f"rubert: model label {raw!r} has no emotion; set the label_map option")
            labels.append(emotion)
        return tuple(labels)

    # -- inference --

    def analyze(self, texts: Sequence[str]) -> list[SentimentResult]:
        results: list[SentimentResult] = [result_from_scores({"neutral": 1.0})] * len(texts)
        todo = [i for i, text in enumerate(texts) if text.strip()]
        if not todo:
            return results
        with self._acquire() as (loaded, stats):
            if stats is not None:
                self._load_stats = stats
            for start in range(0, len(todo), self.batch_size):
                batch = todo[start : start + self.batch_size]
                probs = self._probabilities(loaded, [texts[i] for i in batch])
                for i, row in zip(batch, probs, strict=True):
                    results[i] = self._result(texts[i], loaded.labels, row)
        return results

    def _probabilities(self, loaded: _Loaded, texts: list[str]) -> list[list[float]]:
        torch = importlib.import_module("torch")
        with loaded.lock, torch.inference_mode():
            inputs = loaded.tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(loaded.device)
            logits = loaded.model(**inputs).logits
            return [list(map(float, row)) for row in torch.softmax(logits.float(), dim=-1).cpu().tolist()]

    @staticmethod
    def _result(text: str, labels: Sequence[str], probs: Sequence[float]) -> SentimentResult:
        scores = dict.fromkeys(EMOTIONS, 0.0)
        for emotion, p in zip(labels, probs, strict=True):
            scores[emotion] += p
        result = result_from_scores(scores)
        if result.label != "neutral" or not has_thinking_cue(text):
            return result
        # Same rule as the E5 engine: a neutral question or hesitation looks pensive.
        blended = {e: (1 - THINKING_BLEND) * s for e, s in scores.items()}
        blended["thinking"] += THINKING_BLEND
        return result_from_scores(blended)
