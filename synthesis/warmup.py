"""Loading engines before the first task, so the first turn is not the slow one."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from . import factory

log = logging.getLogger("avatar.warmup")

# Which stages each Celery queue runs (the routes in avatar_project/celery.py).
QUEUE_STAGES: dict[str, tuple[str, ...]] = {
    "llm": ("llm",),
    "gpu": ("sentiment", "tts"),
    "cpu": ("lipsync", "motion"),
}


def stages_for_queues(queues: Iterable[str]) -> list[str]:
    return [stage for q in queues for stage in QUEUE_STAGES.get(q, ())]


def warm_up(stages: Iterable[str]) -> dict[str, float]:
    """Build (and load, where the engine can) the first available engine of each stage.

    Returns the seconds each took. Failures are logged, never raised: the stage
    itself will report them, with its fallbacks, when it runs.
    """
    took: dict[str, float] = {}
    for stage in stages:
        candidate = next((c for c in factory.candidates(stage) if c.availability.ok), None)
        if candidate is None:
            continue
        t0 = time.perf_counter()
        try:
            engine = factory.get_engine(stage, candidate.name)
            for method in ("preload", "start"):
                if callable(getattr(engine, method, None)):
                    getattr(engine, method)()
                    break
        except Exception:
            log.exception("warm-up of %s engine %s failed", stage, candidate.name)
            continue
        took[stage] = time.perf_counter() - t0
        log.info("warmed up %s engine %s in %.1f s", stage, candidate.name, took[stage])
    return took
