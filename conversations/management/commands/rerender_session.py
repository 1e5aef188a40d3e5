"""``manage.py rerender_session SESSION [--wait]``: render every sentence again with the current engines."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations import selectors, services
from synthesis import dispatch
from synthesis.factory import engines_in_use

from ._output import require_session


class Command(BaseCommand):
    help = (
        "Re-render a stored session with the engines configured now (e.g. after changing the voice):"
        " a new revision of each sentence; nothing stored is changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("session")
        parser.add_argument("--wait", action="store_true", help="print progress until it is done")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most (with --wait)")

    def handle(self, *args: Any, **opts: Any) -> None:
        require_session(opts["session"])
        try:
            requested = services.rerender_session(
                opts["session"], requested_by="manage.py", engines=engines_in_use()
            )
        except services.RerenderInProgress as exc:
            raise CommandError(str(exc)) from exc
        render_id = requested.data["render_id"]
        self.stdout.write(f"перерендер {render_id}: {len(requested.data['sentences'])} предл.")
        if opts["wait"]:
            self._wait(opts["session"], render_id, opts["timeout"])

    def _wait(self, session_id: str, render_id: str, timeout: float) -> None:
        deadline, shown = time.monotonic() + timeout, -1
        while time.monotonic() < deadline:
            status = selectors.render_status(session_id, render_id)
            assert status is not None
            if status.rendered != shown:
                shown = status.rendered
                self.stdout.write(f"  {status.rendered}/{status.total} ({status.percent} %), сбоев: {status.failures}")
            if status.completed:
                dispatch.wait_idle(30)  # in-process mode: let the last steps finish before exiting
                return
            time.sleep(0.2)
        raise CommandError(f"re-render {render_id} did not finish in {timeout:.0f} s (it goes on in the background)")
