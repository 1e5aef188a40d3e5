"""``manage.py import_session FILE``: store an exported session under its own id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations import archive


class Command(BaseCommand):
    help = "Import a session archive made by export_session."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["archive"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            with path.open("rb") as source:
                session_id = archive.import_session(source)
        except archive.ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"imported session {session_id}")
