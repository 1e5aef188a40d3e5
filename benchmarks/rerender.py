"""Benchmark: re-rendering a stored session vs producing it live (not a test; prints numbers).

    .venv/bin/python benchmarks/rerender.py [--turns 3] [--runs 3]

On a throw-away installation (its own AVATAR_HOME; SQLite, in-process queues, the
offline engines), speaks ``--turns`` scripted 3-sentence turns, then re-renders the
whole session ``--runs`` times. Prints the live chain's wall time (sum over turns),
each re-render's wall time and sentences per second, and the ratio re-render/live:
a re-render skips the LLM and runs the sentences' stages back to back, so the ratio
shows what the orchestration of revisions costs next to the live path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.turn_latency import SCRIPTED, _setup  # importable once the project root is on the path


def _speak_turns(turns: int) -> tuple[str, float]:
    from conversations import eventstore, services

    session_id = services.start_session(client="benchmark")
    total = 0.0
    for _ in range(turns):
        t0 = time.perf_counter()
        user = services.receive_user_message(session_id, SCRIPTED, mode="speak")
        turn_id = user.data["turn_id"]
        while not any(e.data["turn_id"] == turn_id for e in eventstore.read(session_id, types=["TurnCompleted"])):
            time.sleep(0.01)
        total += time.perf_counter() - t0
    return str(session_id), total


def _rerender(session_id: str) -> tuple[int, float]:
    from conversations import selectors, services

    t0 = time.perf_counter()
    requested = services.rerender_session(session_id, requested_by="benchmark")
    render_id = requested.data["render_id"]
    while not (status := selectors.render_status(session_id, render_id)) or not status.completed:
        time.sleep(0.01)
    return status.total, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    _setup()
    from synthesis import dispatch

    _speak_turns(1)  # warm-up: engines loaded, caches filled
    session_id, live_s = _speak_turns(args.turns)
    print(f"live: {args.turns} turns in {live_s * 1000:.0f} ms")
    ratios = []
    for run in range(args.runs):
        count, wall = _rerender(session_id)
        dispatch.wait_idle(60)
        ratios.append(wall / live_s)
        print(f"re-render {run + 1}: {count} sentences in {wall * 1000:.0f} ms"
              f" ({count / wall:.1f} sentences/s), re-render/live = {wall / live_s:.2f}")
    print(f"median re-render/live = {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
