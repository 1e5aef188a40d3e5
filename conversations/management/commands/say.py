"""``manage.py say "Привет!"``: run one turn through the configured chain."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations import eventstore, services
from conversations.domain.validation import InvalidMessage

from ._output import describe, event_json_line, timings_table


class Command(BaseCommand):
    help = "Run one turn (user message -> spoken, animated reply) and print its events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("text", help="what the user says")
        parser.add_argument("--session", help="an existing session id (default: a new session)")
        parser.add_argument("--json", action="store_true", help="print every event as one JSON line")
        parser.add_argument(
            "--speak", action="store_true",
            help="skip the LLM: speak the text itself as the assistant's reply",
        )
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the turn")

    def handle(self, *args: Any, **opts: Any) -> None:
        session_id = self._session(opts["session"])
        try:
            user = services.receive_user_message(
                session_id, opts["text"], mode="speak" if opts["speak"] else "llm"
            )
        except InvalidMessage as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        turn_id = user.data["turn_id"]
        if not opts["json"]:
            self.stdout.write(f"сессия {session_id}, ход {turn_id}")
        completed = self._follow(session_id, turn_id, user.seq - 1, opts)
        if completed is None:
            raise CommandError(f"the turn did not complete within {opts['timeout']:.0f} s")
        if not opts["json"]:
            self.stdout.write("\n".join(timings_table(completed.data["timings"])))

    def _session(self, raw: str | None) -> uuid.UUID:
        if raw is None:
            return services.start_session(client="cli")
        try:
            session_id = uuid.UUID(raw)
        except ValueError:
            raise CommandError(f"not a session id: {raw!r}") from None
        if not eventstore.session_exists(session_id):
            raise CommandError(f"session {session_id} does not exist")
        return session_id

    def _follow(
        self, session_id: uuid.UUID, turn_id: str, after: int, opts: dict[str, Any]
    ) -> eventstore.RecordedEvent | None:
        deadline = time.monotonic() + opts["timeout"]
        while time.monotonic() < deadline:
            for event in eventstore.read(session_id, after_seq=after):
                after = event.seq
                if event.data.get("turn_id") != turn_id:
                    continue
                line = event_json_line(event) if opts["json"] else describe(event)
                self.stdout.write(line)
                if event.type == "TurnCompleted":
                    return event
            time.sleep(0.05)
        return None
