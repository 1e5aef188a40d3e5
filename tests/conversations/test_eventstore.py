"""The event store contract: gapless sequences, concurrency, idempotency, atomic batches."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from conversations import eventstore
from conversations.domain.events import SentenceGenerated, SessionStarted, UserMessageReceived
from conversations.eventstore import ConcurrencyError, DuplicateEventConflict, SessionNotFound
from conversations.models import StoredEvent

pytestmark = pytest.mark.store


def _sentence(turn: str, index: int, **kw: object) -> SentenceGenerated:
    return SentenceGenerated(turn_id=turn, index=index, text=f"Предложение {index}.", **kw)  # type: ignore[arg-type]


@pytest.fixture
def session_id(db: None) -> uuid.UUID:
    return eventstore.create_session()


def test_sequence_numbers_are_gapless_from_one(session_id: uuid.UUID) -> None:
    eventstore.append(session_id, [SessionStarted()], expected_seq=0)
    eventstore.append(session_id, [_sentence("t", 0), _sentence("t", 1)], expected_seq=1)
    eventstore.append(session_id, [_sentence("t", 2)], expected_seq=3)
    seqs = [e.seq for e in eventstore.read(session_id)]
    assert seqs == [1, 2, 3, 4]
    assert eventstore.head(session_id) == 4


def test_streams_are_independent(db: None) -> None:
    a, b = eventstore.create_session(), eventstore.create_session()
    eventstore.append(a, [SessionStarted()], expected_seq=0)
    eventstore.append(b, [SessionStarted(), _sentence("t", 0)], expected_seq=0)
    assert [e.seq for e in eventstore.read(a)] == [1]
    assert [e.seq for e in eventstore.read(b)] == [1, 2]


def test_stale_expected_seq_is_a_conflict(session_id: uuid.UUID) -> None:
    eventstore.append(session_id, [SessionStarted()], expected_seq=0)
    with pytest.raises(ConcurrencyError) as info:
        eventstore.append(session_id, [_sentence("t", 0)], expected_seq=0)
    assert info.value.expected == 0 and info.value.actual == 1
    assert "expected head at seq 0" in str(info.value)
    assert eventstore.head(session_id) == 1


def test_unknown_session_is_refused(db: None) -> None:
    with pytest.raises(SessionNotFound):
        eventstore.append(uuid.uuid4(), [SessionStarted()], expected_seq=0)


def test_same_event_appended_twice_is_stored_once(session_id: uuid.UUID) -> None:
    event = _sentence("t", 0)
    first = eventstore.append(session_id, [event], expected_seq=0)
    again = eventstore.append(session_id, [event], expected_seq=0)  # a retry, stale seq and all
    assert first == again
    assert StoredEvent.objects.filter(session_id=session_id).count() == 1


def test_partial_retry_is_refused(session_id: uuid.UUID) -> None:
    stored = _sentence("t", 0)
    eventstore.append(session_id, [stored], expected_seq=0)
    with pytest.raises(DuplicateEventConflict):
        eventstore.append(session_id, [stored, _sentence("t", 1)], expected_seq=1)
    assert eventstore.head(session_id) == 1


def test_batch_is_atomic(session_id: uuid.UUID) -> None:
    eventstore.append(session_id, [SessionStarted()], expected_seq=0)
    taken = eventstore.read(session_id)[0].event_id
    clash = SessionStarted(event_id=taken)
    other = eventstore.create_session()
    # The second event's id belongs to another stream: the whole batch must fail.
    with pytest.raises(DuplicateEventConflict):
        eventstore.append(other, [_sentence("t", 0), clash], expected_seq=0)
    assert eventstore.read(other) == []
    assert eventstore.head(other) == 0


def test_events_round_trip_to_domain_objects(session_id: uuid.UUID) -> None:
    event = UserMessageReceived(turn_id="t1", text="Привет, «мир»!", client_msg_id="c1")
    (recorded,) = eventstore.append(session_id, [event], expected_seq=0)
    assert recorded.to_domain() == event
    assert recorded.type == "UserMessageReceived" and recorded.version == 1
    wire = recorded.to_json()
    assert set(wire) == {"session_id", "seq", "type", "version", "data", "ts"}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_appends_from_two_threads_conflict() -> None:
    session_id = eventstore.create_session()
    eventstore.append(session_id, [SessionStarted()], expected_seq=0)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def writer(index: int) -> None:
        try:
            barrier.wait()
            eventstore.append(session_id, [_sentence("t", index)], expected_seq=1)
            outcomes.append("ok")
        except ConcurrencyError:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict", "ok"]
    assert [e.seq for e in eventstore.read(session_id)] == [1, 2]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_retrying_appends_from_many_threads_stay_gapless() -> None:
    session_id = eventstore.create_session()
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for i in range(5):
                eventstore.append_retrying(session_id, [_sentence(f"w{worker}", i)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    events = eventstore.read(session_id)
    assert [e.seq for e in events] == list(range(1, 21))
    per_worker = {w: [e.data["index"] for e in events if e.data["turn_id"] == f"w{w}"] for w in range(4)}
    assert all(v == [0, 1, 2, 3, 4] for v in per_worker.values())
