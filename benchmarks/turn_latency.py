"""Benchmark: one 3-sentence reply in the embedded mode (not a test; prints numbers).

    .venv/bin/python benchmarks/turn_latency.py [--runs 3] [--llm]

Runs on a throw-away installation (its own AVATAR_HOME), with the tasks on
in-process queues. Prints, per run and as medians: time to the first synthesized
sentence, total time, each stage's share of the summed compute, and the
orchestration overhead (wall time of the stages' tasks beyond the engines' compute).
Without --llm the reply is scripted (``say --speak``), which isolates the chain from
the language model's variable output; with --llm the model is asked for three sentences.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPTED = "Добрый день! Сегодня 28 ноября, и на улице идёт снег. Чем я могу вам помочь?"
PROMPT = "Опиши зиму ровно тремя короткими предложениями."


def _setup() -> None:
    os.environ.setdefault("AVATAR_HOME", tempfile.mkdtemp(prefix="avatar-bench-"))
    os.environ.setdefault("AVATAR_MODELS_DIR", str(ROOT / "var" / "models"))
    for var in ("DATABASE_URL", "REDIS_URL", "AVATAR_TASK_MODE"):
        os.environ.pop(var, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "avatar_project.settings"
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def run_once(llm: bool) -> dict[str, Any]:
    from conversations import eventstore, services

    session_id = services.start_session(client="benchmark")
    user = services.receive_user_message(session_id, PROMPT if llm else SCRIPTED, mode="llm" if llm else "speak")
    turn_id = user.data["turn_id"]
    while True:
        done = eventstore.read(session_id, types=["TurnCompleted"])
        if done:
            break
        time.sleep(0.02)
    t = done[0].data["timings"]
    stages = t["stages"]
    compute = sum(s["compute_ms"] for s in stages.values())
    task_wall = sum(s["task_ms"] for s in stages.values())
    return {
        "sentences": done[0].data["sentence_count"],
        "first_audio_ms": t["first_audio_ms"],
        "total_ms": t["total_ms"],
        "compute_ms": compute,
        "overhead_ms": task_wall - compute,
        "shares": {k: s["compute_ms"] / compute for k, s in stages.items()},
        "turn": turn_id,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--llm", action="store_true", help="let the language model write the reply")
    args = parser.parse_args()
    _setup()
    run_once(args.llm)  # warm-up: loads models, starts the Festival process
    results = [run_once(args.llm) for _ in range(args.runs)]
    for i, r in enumerate(results, 1):
        shares = ", ".join(f"{k} {v:.0%}" for k, v in r["shares"].items())
        print(f"run {i}: {r['sentences']} sentences, first audio {r['first_audio_ms']:.0f} ms, "
              f"total {r['total_ms']:.0f} ms, overhead {r['overhead_ms']:.0f} ms; compute shares: {shares}")
    keys = ("first_audio_ms", "total_ms", "compute_ms", "overhead_ms")
    med = {k: statistics.median(r[k] for r in results) for k in keys}
    print(f"median: first synthesized sentence {med['first_audio_ms']:.0f} ms, total {med['total_ms']:.0f} ms, "
          f"stage compute {med['compute_ms']:.0f} ms, orchestration overhead {med['overhead_ms']:.0f} ms "
          f"({med['overhead_ms'] / max(med['total_ms'], 1):.1%} of total)")
    os._exit(0)  # in-process queue threads and the model server need no orderly shutdown


if __name__ == "__main__":
    main()
