"""Shared by every test: no pipeline thread may outlive its test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def _drain_in_process_queues() -> Iterator[None]:
    """Let in-process stage tasks finish before the test's database is flushed: a task
    still running would write into (or fail on) the next test's data."""
    yield
    if settings.AVATAR_TASK_MODE == "in-process":
        from synthesis import dispatch

        assert dispatch.wait_idle(120), "in-process queues still busy after 120 s"
