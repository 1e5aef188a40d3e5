"""Sending stage tasks: to Celery's broker, or to in-process queues in the embedded mode.

The in-process mode runs the very same Celery task objects (``task.apply``) on one
thread per queue (llm, gpu, cpu), mirroring one worker per queue: work on a queue is
done in order, and the LLM keeps streaming while the other queues synthesize.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction

log = logging.getLogger("avatar.dispatch")

_executors: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()
_sent = 0  # in-process tasks sent so far: wait_idle knows a pass saw no new work


def _queue_of(task_name: str) -> str:
    from avatar_project.celery import app

    route = app.conf.task_routes.get(task_name, {})
    return str(route.get("queue", app.conf.task_default_queue))


def _executor(queue: str) -> ThreadPoolExecutor:
    with _lock:
        if queue not in _executors:
            _executors[queue] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"queue-{queue}")
        return _executors[queue]


def _run_in_process(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    from avatar_project.celery import app

    close_old_connections()
    try:
        result = app.tasks[task_name].apply(args=args, kwargs=kwargs)
        if result.failed():
            log.error("task %s%r failed:\n%s", task_name, args, result.traceback)
    finally:
        close_old_connections()


def _log_crash(future: Future[None]) -> None:
    if (exc := future.exception()) is not None:
        log.error("in-process task crashed", exc_info=exc)


def send(task_name: str, *args: Any, **kwargs: Any) -> Future[None] | None:
    """Queue one task; the time of sending is appended so the task can measure its wait.

    Optional arguments travel as keywords, so a message sent without them (by an
    older producer) still binds the same way.
    """
    global _sent
    args = (*args, time.time())
    if settings.AVATAR_TASK_MODE == "in-process":
        with _lock:
            _sent += 1
        future = _executor(_queue_of(task_name)).submit(_run_in_process, task_name, args, kwargs)
        future.add_done_callback(_log_crash)
        return future
    from avatar_project.celery import app

    app.send_task(task_name, args=args, kwargs=kwargs)
    return None


def send_on_commit(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Queue the task once the current transaction commits (never for a rolled back write)."""
    transaction.on_commit(lambda: send(task_name, *args, **kwargs))


def wait_idle(timeout: float = 60.0) -> bool:
    """In-process mode: wait until every queue is empty (for tests and the CLI)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # A task on one queue may send the next stage to a queue already checked:
        # idle only after a whole pass in which nothing new was sent.
        sent_before = _sent
        busy = False
        for executor in list(_executors.values()):
            marker = executor.submit(lambda: None)
            try:
                marker.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return False
            busy = busy or executor._work_queue.qsize() > 0
        if not busy and _sent == sent_before:
            return True
    return False
