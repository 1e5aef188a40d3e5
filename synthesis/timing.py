"""Per-stage timing: how long a task waited in its queue and how long it computed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageClock:
    enqueued_at: float  # wall clock (time.time()) when the task was sent
    started_at: float = field(default_factory=time.time)
    _t0: float = field(default_factory=time.perf_counter)

    def timing(self, compute_s: float, **extra: Any) -> dict[str, Any]:
        """``compute_ms`` is the engine's own work; the rest of the task is overhead."""
        return {
            "queued_ms": max(0, round((self.started_at - self.enqueued_at) * 1000)),
            "compute_ms": round(compute_s * 1000, 1),
            "task_ms": round((time.perf_counter() - self._t0) * 1000, 1),
            "started_at": round(self.started_at, 3),
            **extra,
        }
