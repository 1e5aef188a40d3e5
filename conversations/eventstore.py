"""The event store: append-only, per-session streams with gapless sequence numbers.

* ``append`` is atomic per batch, checks the expected sequence number (optimistic
  concurrency) and is idempotent by event id.
* ``read`` returns recorded events upcast to the current schema versions.
* After a batch commits, subscribers (the transcript projection runs inside the same
  transaction; publishers run after commit) are told about it.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from .domain.events import EVENT_TYPES, DomainEvent
from .domain.upcasting import upcast
from .models import Session, StoredEvent

log = logging.getLogger("avatar.eventstore")


class EventStoreError(Exception):
    pass


class SessionNotFound(EventStoreError):
    def __init__(self, session_id: uuid.UUID | str) -> None:
        super().__init__(f"session {session_id} does not exist")


class ConcurrencyError(EventStoreError):
    """Someone appended to the stream since the caller read it."""

    def __init__(self, session_id: uuid.UUID | str, expected: int, actual: int | None) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(
            f"session {session_id}: expected head at seq {expected}, but it is at {actual}"
        )


class DuplicateEventConflict(EventStoreError):
    """Part of a batch was stored before, part not: not a retry of one append."""


@dataclass(frozen=True)
class RecordedEvent:
    session_id: uuid.UUID
    seq: int
    event_id: uuid.UUID
    type: str
    version: int
    data: dict[str, Any]
    ts: datetime

    def to_domain(self) -> DomainEvent:
        return EVENT_TYPES[self.type].from_data(self.event_id, self.data)

    def to_json(self) -> dict[str, Any]:
        """The wire/CLI form: {session_id, seq, type, version, data, ts}."""
        return {
            "session_id": str(self.session_id),
            "seq": self.seq,
            "type": self.type,
            "version": self.version,
            "data": self.data,
            "ts": self.ts.isoformat(),
        }


# Called inside the append transaction with the new events (projections).
_in_transaction: list[Callable[[Sequence[RecordedEvent]], None]] = []
# Called after the transaction commits (publishing to the channel layer, dispatch).
_after_commit: list[Callable[[Sequence[RecordedEvent]], None]] = []


def subscribe(handler: Callable[[Sequence[RecordedEvent]], None], *, after_commit: bool) -> None:
    target = _after_commit if after_commit else _in_transaction
    if handler not in target:
        target.append(handler)


def _to_recorded(row: StoredEvent) -> RecordedEvent:
    version, data = upcast(row.type, row.version, row.data)
    return RecordedEvent(row.session_id, row.seq, row.event_id, row.type, version, data, row.ts)


def create_session(session_id: uuid.UUID | None = None, title: str = "") -> uuid.UUID:
    session = Session.objects.create(id=session_id or uuid.uuid4(), title=title[:200])
    return session.id


def head(session_id: uuid.UUID | str) -> int:
    try:
        return Session.objects.values_list("head_seq", flat=True).get(id=session_id)
    except Session.DoesNotExist:
        raise SessionNotFound(session_id) from None


def _existing(session_id: uuid.UUID | str, events: Sequence[DomainEvent]) -> list[StoredEvent]:
    ids = [e.event_id for e in events]
    return list(StoredEvent.objects.filter(event_id__in=ids).order_by("seq"))


def append(
    session_id: uuid.UUID | str,
    events: Sequence[DomainEvent],
    expected_seq: int | None,
) -> list[RecordedEvent]:
    """Append ``events`` atomically after position ``expected_seq``.

    ``expected_seq=None`` appends at the current head without a check (use only for
    events whose order relative to others does not matter to their producer).
    Returns the recorded events; an exact retry of an earlier append returns the
    events it stored then, and stores nothing.
    """
    if not events:
        return []
    for event in events:
        if event.TYPE not in EVENT_TYPES:
            raise EventStoreError(f"unregistered event type {type(event).__name__}")
    with transaction.atomic():
        existing = _existing(session_id, events)
        if existing:
            return _idempotent_result(session_id, events, existing)
        recorded = _insert(session_id, events, expected_seq)
        for handler in _in_transaction:
            handler(recorded)
        if _after_commit:
            transaction.on_commit(lambda: _notify(recorded))
    return recorded


def _idempotent_result(
    session_id: uuid.UUID | str, events: Sequence[DomainEvent], existing: list[StoredEvent]
) -> list[RecordedEvent]:
    if len(existing) != len(events) or any(str(r.session_id) != str(session_id) for r in existing):
        raise DuplicateEventConflict(
            f"{len(existing)} of {len(events)} events were already stored"
            f" (session {session_id}); a retry must repeat the same batch"
        )
    return [_to_recorded(r) for r in existing]


def _insert(
    session_id: uuid.UUID | str, events: Sequence[DomainEvent], expected_seq: int | None
) -> list[RecordedEvent]:
    current = head(session_id) if expected_seq is None else expected_seq
    new_head = current + len(events)
    # The conditional UPDATE is the concurrency guard: of two writers expecting the
    # same head, the database lets exactly one change it.
    updated = Session.objects.filter(id=session_id, head_seq=current).update(head_seq=new_head)
    if updated != 1:
        actual = Session.objects.filter(id=session_id).values_list("head_seq", flat=True).first()
        if actual is None:
            raise SessionNotFound(session_id)
        raise ConcurrencyError(session_id, current, actual)
    rows = [
        StoredEvent(
            session_id=session_id,
            seq=current + i,
            event_id=e.event_id,
            type=e.TYPE,
            version=e.VERSION,
            data=e.to_data(),
        )
        for i, e in enumerate(events, start=1)
    ]
    try:
        with transaction.atomic():
            StoredEvent.objects.bulk_create(rows)
    except IntegrityError as exc:  # a racing duplicate event id, or a seq taken
        raise ConcurrencyError(session_id, current, None) from exc
    # bulk_create does not return auto_now values on every backend: read them back.
    stored = StoredEvent.objects.filter(session_id=session_id, seq__gt=current).order_by("seq")
    return [_to_recorded(r) for r in stored]


def _notify(recorded: Sequence[RecordedEvent]) -> None:
    for handler in _after_commit:
        try:
            handler(recorded)
        except Exception:  # a subscriber must never undo or break a committed append
            log.exception("after-commit handler %r failed", handler)


def append_retrying(
    session_id: uuid.UUID | str, events: Sequence[DomainEvent], attempts: int = 20
) -> list[RecordedEvent]:
    """Append at whatever the head is, retrying on conflict.

    For producers that run concurrently on one session (the stages of different
    sentences): their events do not depend on each other's positions, and
    deterministic event ids make the retries safe.
    """
    for attempt in range(attempts):
        try:
            return append(session_id, events, expected_seq=head(session_id))
        except ConcurrencyError:
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
    raise ConcurrencyError(session_id, -1, None)


def read(
    session_id: uuid.UUID | str,
    after_seq: int = 0,
    types: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[RecordedEvent]:
    qs = StoredEvent.objects.filter(session_id=session_id, seq__gt=after_seq).order_by("seq")
    if types is not None:
        qs = qs.filter(type__in=list(types))
    if limit is not None:
        qs = qs[:limit]
    return [_to_recorded(r) for r in qs]


def session_exists(session_id: uuid.UUID | str) -> bool:
    return Session.objects.filter(id=session_id).exists()


def read_event(event_id: uuid.UUID) -> RecordedEvent | None:
    row = StoredEvent.objects.filter(event_id=event_id).first()
    return None if row is None else _to_recorded(row)
