"""A whole turn through real Celery worker processes, PostgreSQL and Redis.

Run by ``scripts/test.sh`` with DATABASE_URL and REDIS_URL set; the workers are
started here, one per queue as in the Procfile, against the test database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from conversations import services
from tests.helpers import assert_complete_turn, wait_for_turn

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _database_url() -> str:
    s = connection.settings_dict
    user = s["USER"] or "postgres"
    auth = f"{user}:{s['PASSWORD']}" if s["PASSWORD"] else user
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(scope="module")
def workers(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[subprocess.Popen[bytes]]]:
    if connection.vendor != "postgresql" or settings.AVATAR_TASK_MODE != "celery":
        pytest.fail("the services tests need DATABASE_URL (PostgreSQL) and REDIS_URL: run scripts/test.sh")
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no stale tasks from an earlier run
    logs = tmp_path_factory.mktemp("workers")
    env = {**os.environ, "DATABASE_URL": _database_url(), "AVATAR_MODELS_DIR": str(settings.AVATAR_MODELS_DIR)}
    procs = []
    for queue in ("llm", "gpu", "cpu"):
        log = open(logs / f"{queue}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "avatar_project", "worker", "-Q", queue,
             "-c", "1", "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        ))
    _wait_ready(logs, procs)
    yield procs
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def _wait_ready(logs: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        texts = [(logs / f"{q}.log").read_text(errors="replace") for q in ("llm", "gpu", "cpu")]
        if all(" ready." in t for t in texts):
            return
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.5)
    raise AssertionError("Celery workers did not start:\n" + "\n".join(
        (logs / f"{q}.log").read_text(errors="replace")[-2000:] for q in ("llm", "gpu", "cpu")))


def test_llm_turn_through_real_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    session_id = services.start_session(client="test")
    user = services.receive_user_message(session_id, "Привет! Расскажи коротко, что ты умеешь.")
    events = wait_for_turn(session_id, user.data["turn_id"], timeout=300)
    completed = assert_complete_turn(events)
    reply = " ".join(e.data["text"] for e in events if e.type == "SentenceGenerated")
    assert re.search(r"[а-яё]{3,}", reply.lower()), reply
    # Every stage ran in a worker and measured its queue wait.
    assert all("queued_ms" in t for t in completed["timings"]["stages"].values())
    assert all(p.poll() is None for p in workers)


def test_spoken_turn_and_idempotent_redelivery(workers: list[subprocess.Popen[bytes]]) -> None:
    from avatar_project.celery import app

    session_id = services.start_session(client="test")
    user = services.receive_user_message(session_id, "Раз, два, три. Проверка связи!", mode="speak")
    turn_id = user.data["turn_id"]
    events = wait_for_turn(session_id, turn_id, timeout=120)
    assert_complete_turn(events)
    # A redelivered task (acks_late after a lost worker) runs again: nothing is stored twice.
    for name in ("synthesis.analyze_sentiment", "synthesis.synthesize_speech"):
        app.send_task(name, args=(str(session_id), turn_id, 0, time.time()))
    app.send_task("synthesis.generate_reply", args=(str(session_id), turn_id, time.time()))
    time.sleep(5)
    again = wait_for_turn(session_id, turn_id)
    assert [e.event_id for e in again] == [e.event_id for e in events]


def test_edit_and_rerender_through_real_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """Revisions travel through the broker (the revision goes as a task keyword) to the workers."""
    from conversations import selectors

    session_id = services.start_session(client="test")
    user = services.receive_user_message(session_id, "Доброе утро. Как спалось?", mode="speak")
    turn_id = user.data["turn_id"]
    wait_for_turn(session_id, turn_id, timeout=120)
    services.revise_sentence(session_id, turn_id, 1, text="Хорошо ли вы спали?", emotion="thinking", editor="t")
    requested = services.rerender_session(session_id, requested_by="t")
    render_id = requested.data["render_id"]
    deadline = time.monotonic() + 180
    while not (status := selectors.render_status(session_id, render_id)) or not status.completed:
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
    events = selectors.turn_events(session_id, turn_id)
    # Sentence 1: the edit (revision 1) and the re-render built on it (revision 2); sentence 0: revision 1.
    for index, revision in ((0, 1), (1, 1), (1, 2)):
        motion = selectors.sentence_event(events, "MotionPlanned", index, revision)
        speech = selectors.sentence_event(events, "SpeechSynthesized", index, revision)
        assert motion is not None and speech is not None, (index, revision)
        assert "queued_ms" in speech.data["timing"]  # rendered by a worker
    second = selectors.sentence_event(events, "SentenceRevised", 1, 2)
    assert second is not None and second.data["text"] == "Хорошо ли вы спали?" and second.data["based_on"] == 1
    assert sum(e.type == "TurnCompleted" for e in events) == 1
    assert all(p.poll() is None for p in workers)
