"""``python manage.py engines [--json] [--stage STAGE]``: which engine each stage would use, and why.

For every stage: the configured order (engine, then fallbacks), each engine's
availability on this machine with the reason when unavailable, the engine that
would be chosen now (the first available in that order), and the registered
engines that are not in the order (with their availability, so you can see what
switching to them would need). Nothing is loaded: availability checks are cheap
(files, binaries, imports found, and a 1 s probe of LLM servers).
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from synthesis import factory
from synthesis.config import ENV_ENGINE, STAGES, ConfigError, stage_config
from synthesis.interfaces import Availability

# What the chain does when no engine of a stage is available (docs/architecture.md).
DEGRADED = {"llm": "apology", "sentiment": "neutral", "tts": "text-only", "lipsync": "no cues", "motion": "idle"}


def _check(stage: str, name: str, config: Any) -> Availability:
    try:
        return factory.availability(stage, name, config)
    except Exception as exc:  # an availability check must not break the listing
        return Availability(False, f"availability check failed: {type(exc).__name__}: {exc}")


def report(stages: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for stage in stages:
        config = stage_config(stage)
        order = list(config.engines)
        engines: list[dict[str, Any]] = []
        chosen: str | None = None
        for position, name in enumerate(order):
            avail = _check(stage, name, config)
            if avail.ok and chosen is None:
                chosen = name
            engines.append({"name": name, "position": position, "available": avail.ok, "reason": avail.reason})
        for name in sorted(set(factory.REGISTRY.get(stage, {})) - set(order)):
            avail = _check(stage, name, config)
            engines.append({"name": name, "position": None, "available": avail.ok, "reason": avail.reason})
        result[stage] = {
            "configured": config.engine,
            "env": ENV_ENGINE[stage],
            "order": order,
            "chosen": chosen,
            "degraded": None if chosen else DEGRADED.get(stage, "none"),
            "timeout_s": config.timeout_s,
            "engines": engines,
        }
    return result


class Command(BaseCommand):
    help = "List each stage's engines: available or not (and why), and which one would be chosen."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document")
        parser.add_argument("--stage", choices=STAGES, action="append", help="only this stage (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = report(list(options["stage"] or STAGES))
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps({"stages": data}, ensure_ascii=False, indent=2))
            return
        for stage, info in data.items():
            chosen = info["chosen"] or f"none -> {info['degraded']}"
            self.stdout.write(
                f"{stage}: uses {chosen}  (configured: {info['configured']}, order: {' -> '.join(info['order'])}; "
                f"override with {info['env']})"
            )
            for engine in info["engines"]:
                mark = "*" if engine["name"] == info["chosen"] else " "
                where = "" if engine["position"] is not None else "  [not in the order]"
                state = "available" if engine["available"] else f"unavailable: {engine['reason']}"
                self.stdout.write(f"  {mark} {engine['name']:<13} {state}{where}")
