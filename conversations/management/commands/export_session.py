"""``manage.py export_session SESSION [-o FILE]``: one archive with the log and artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from conversations import archive

from ._output import require_session


class Command(BaseCommand):
    help = "Export a session (events + artifacts) as a .tar.gz archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("session")
        parser.add_argument("-o", "--output", help="archive path (default: session-<id>.tar.gz)")

    def handle(self, *args: Any, **opts: Any) -> None:
        require_session(opts["session"])
        path = Path(opts["output"] or f"session-{opts['session']}.tar.gz")
        with path.open("wb") as out:
            count = archive.export_session(opts["session"], out)
        self.stdout.write(f"{count} events -> {path}")
