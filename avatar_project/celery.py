"""The Celery application: one queue per kind of work (llm, gpu, cpu)."""

from __future__ import annotations

import os
import threading
from typing import Any

from celery import Celery
from celery.signals import celeryd_after_setup, worker_process_init
from kombu import Queue  # type: ignore[attr-defined]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "avatar_project.settings")

app = Celery("avatar_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("llm"), Queue("gpu"), Queue("cpu"))
# Which queue each stage runs on; workers are started with `-Q llm`, `-Q gpu`, `-Q cpu`.
app.conf.task_routes = {
    "synthesis.generate_reply": {"queue": "llm"},
    "synthesis.analyze_sentiment": {"queue": "gpu"},
    "synthesis.synthesize_speech": {"queue": "gpu"},
    "synthesis.generate_lipsync": {"queue": "cpu"},
    "synthesis.plan_motion": {"queue": "cpu"},
}
app.autodiscover_tasks()


# --- Warm-up: each worker process loads the engines of the queues it consumes -------
_consumed_queues: list[str] = []


@celeryd_after_setup.connect
def _remember_queues(sender: str, instance: Any, **kwargs: Any) -> None:
    # Runs in the parent before the pool forks; the children inherit the list.
    _consumed_queues[:] = list(instance.app.amqp.queues.consume_from)


@worker_process_init.connect
def _warm_up(**kwargs: Any) -> None:
    from synthesis.warmup import stages_for_queues, warm_up

    # A thread: process init has a short time limit, and loading a model takes seconds.
    stages = stages_for_queues(_consumed_queues)
    threading.Thread(target=warm_up, args=(stages,), name="warm-up", daemon=True).start()
