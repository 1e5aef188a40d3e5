"""``manage.py rebuild_transcripts [--session ID]``: re-derive transcripts from the log."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from conversations import projections


class Command(BaseCommand):
    help = "Drop the transcript projection and rebuild it from the event log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--session", help="only this session")

    def handle(self, *args: Any, **opts: Any) -> None:
        count = projections.rebuild(opts["session"])
        self.stdout.write(f"replayed {count} events")
