"""The Celery application: one queue per kind of work (llm, gpu, cpu)."""

from __future__ import annotations

import os

from celery import Celery
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
