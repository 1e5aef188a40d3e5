"""``manage.py replay SESSION [--json]``: print a stored session's events."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from conversations import eventstore, selectors

from ._output import describe, event_json_line, require_session


class Command(BaseCommand):
    help = "Print every stored event of a session, in order."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("session")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")
        parser.add_argument("--after", type=int, default=0, help="start after this sequence number")
        parser.add_argument(
            "--original", action="store_true",
            help="only the session as it happened live: leave out later sentence revisions and re-renders",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        require_session(opts["session"])
        events = eventstore.read(opts["session"], after_seq=opts["after"])
        if opts["original"]:
            events = selectors.original(events)
        for event in events:
            self.stdout.write(event_json_line(event) if opts["json"] else describe(event))
