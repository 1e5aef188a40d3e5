"""Rate limits: a token bucket per WebSocket connection, shared counters per session.

The per-connection bucket lives in the consumer (one connection, one process). The
per-session and per-client counters go through Django's cache, which is Redis in the
services mode, so every daphne process and every connection of a session share them.
Numbers come from settings (see the "Client API" section of settings.py).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache


@dataclass
class TokenBucket:
    """``burst`` frames at once, refilled at ``rate`` frames per second."""

    burst: float
    rate: float
    tokens: float = field(init=False)
    stamp: float = field(init=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self) -> float:
        """0 if a frame may pass now, else the seconds until one may."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def connection_bucket() -> TokenBucket:
    return TokenBucket(burst=float(settings.AVATAR_WS_FRAME_BURST), rate=float(settings.AVATAR_WS_FRAMES_PER_SECOND))


def _hit(scope: str, limit: int, period: int) -> float:
    """Count one hit; 0 if allowed, else seconds to wait.

    The window starts at the first hit and lasts ``period`` (the keys expire with it), so
    unlike clock-aligned windows it never allows two full bursts around a boundary.
    """
    now = time.time()
    count_key, start_key = f"avatar:ratelimit:{scope}:n", f"avatar:ratelimit:{scope}:t"
    for _ in range(3):
        if cache.add(count_key, 0, timeout=period):
            cache.set(start_key, now, timeout=period)
        try:
            count = cache.incr(count_key)
            break
        except ValueError:  # the window expired between add and incr: start a new one
            continue
    else:
        return 0.0  # a cache this unreliable must not lock users out
    if count <= limit:
        return 0.0
    started = cache.get(start_key, now)
    return max(0.001, float(started) + period - now)


def hit_say(session_id: uuid.UUID | str) -> float:
    """One user message to the session (WebSocket or HTTP, any connection)."""
    limit, period = settings.AVATAR_SAY_LIMIT
    return _hit(f"say:{session_id}", limit, period)


async def ahit_say(session_id: uuid.UUID | str) -> float:
    return await sync_to_async(hit_say)(session_id)


def hit_session_create(client: str) -> float:
    """One new session from this client address."""
    limit, period = settings.AVATAR_SESSION_CREATE_LIMIT
    return _hit(f"create:{client}", limit, period)
