"""Celery tasks: thin wrappers over ``synthesis.pipeline``.

Each task takes ids (never objects), is idempotent (the pipeline function skips work
whose event is stored), and sends the next stage of its sentence when it is done,
so no task ever waits on another. ``acks_late`` + idempotency: a task lost with its
worker runs again and stores nothing twice. The last argument of every task is the
wall-clock time it was sent, for the queue-wait timing.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import dispatch, pipeline
from .config import STAGES, stage_config


def _limits(stage: str) -> dict[str, float]:
    """The engines enforce the configured deadline themselves; Celery's limits are the
    backstop for an engine that hangs anyway (they need the prefork pool, i.e. real workers)."""
    timeout = stage_config(stage).timeout_s
    return {"soft_time_limit": timeout + 5, "time_limit": timeout + 15}


_LIMITS = {stage: _limits(stage) for stage in STAGES}
_COMMON: dict[str, Any] = {"acks_late": True, "ignore_result": True}


@shared_task(name="synthesis.generate_reply", **_COMMON, **_LIMITS["llm"])
def generate_reply(session_id: str, turn_id: str, enqueued_at: float) -> None:
    pipeline.generate_reply(
        session_id, turn_id, enqueued_at,
        on_sentence=lambda index: dispatch.send_on_commit(
            "synthesis.analyze_sentiment", session_id, turn_id, index
        ),
    )


def _next(task_name: str, session_id: str, turn_id: str, index: int, revision: int) -> None:
    # ``revision`` only when set: the live chain's messages look as they always did.
    extra = {"revision": revision} if revision else {}
    dispatch.send_on_commit(task_name, session_id, turn_id, index, **extra)


# ``revision`` (0: the sentence as generated) selects which revision of the sentence a
# stage renders: edits and re-renders run the same chain as the live turn.


@shared_task(name="synthesis.analyze_sentiment", **_COMMON, **_LIMITS["sentiment"])
def analyze_sentiment(session_id: str, turn_id: str, index: int, enqueued_at: float, revision: int = 0) -> None:
    pipeline.analyze_sentiment(session_id, turn_id, index, enqueued_at, revision)
    _next("synthesis.synthesize_speech", session_id, turn_id, index, revision)


@shared_task(name="synthesis.synthesize_speech", **_COMMON, **_LIMITS["tts"])
def synthesize_speech(session_id: str, turn_id: str, index: int, enqueued_at: float, revision: int = 0) -> None:
    pipeline.synthesize_speech(session_id, turn_id, index, enqueued_at, revision)
    _next("synthesis.generate_lipsync", session_id, turn_id, index, revision)


@shared_task(name="synthesis.generate_lipsync", **_COMMON, **_LIMITS["lipsync"])
def generate_lipsync(session_id: str, turn_id: str, index: int, enqueued_at: float, revision: int = 0) -> None:
    pipeline.generate_lipsync(session_id, turn_id, index, enqueued_at, revision)
    _next("synthesis.plan_motion", session_id, turn_id, index, revision)


@shared_task(name="synthesis.plan_motion", **_COMMON, **_LIMITS["motion"])
def plan_motion(session_id: str, turn_id: str, index: int, enqueued_at: float, revision: int = 0) -> None:
    pipeline.plan_motion(session_id, turn_id, index, enqueued_at, revision)
