"""A session moves between installations as one archive, unchanged."""

from __future__ import annotations

import io
import tarfile
import time
import uuid

import pytest

from conversations import archive, eventstore, projections, selectors, services
from conversations.models import Session
from synthesis import artifacts, dispatch
from tests.helpers import wait_for_turn

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _recorded_session() -> uuid.UUID:
    session_id = services.start_session(title="Экспорт")
    user = services.receive_user_message(session_id, "Раз. Два!", mode="speak")
    wait_for_turn(session_id, user.data["turn_id"])
    return session_id


def _archive(session_id: uuid.UUID) -> bytes:
    buffer = io.BytesIO()
    archive.export_session(session_id, buffer)
    return buffer.getvalue()


def test_export_then_import_gives_back_the_same_session() -> None:
    session_id = _recorded_session()
    before = [e.to_json() for e in eventstore.read(session_id)]
    transcript = projections.snapshot(session_id)
    data = _archive(session_id)
    Session.objects.filter(id=session_id).delete()  # as on another installation
    assert archive.import_session(io.BytesIO(data)) == session_id
    assert [e.to_json() for e in eventstore.read(session_id)] == before
    assert eventstore.head(session_id) == len(before)
    assert projections.snapshot(session_id) == transcript
    speech = [e for e in eventstore.read(session_id) if e.type == "SpeechSynthesized"]
    assert speech and all(artifacts.read(e.data["audio"])[:4] == b"RIFF" for e in speech)
    with pytest.raises(archive.ArchiveError, match="already exists"):
        archive.import_session(io.BytesIO(data))


def test_revisions_travel_with_the_session() -> None:
    session_id = _recorded_session()
    turn_id = eventstore.read(session_id, types=["UserMessageReceived"])[0].data["turn_id"]
    services.revise_sentence(session_id, turn_id, 1, text="Два с половиной!", editor="anna")
    requested = services.rerender_session(session_id)
    while not (status := selectors.render_status(session_id, requested.data["render_id"])) or not status.completed:
        time.sleep(0.05)
    assert dispatch.wait_idle(60)
    before = [e.to_json() for e in eventstore.read(session_id)]
    transcript = projections.snapshot(session_id)
    revised_audio = [
        e.data["audio"] for e in eventstore.read(session_id, types=["SpeechSynthesized"]) if e.data["revision"]
    ]
    assert len(revised_audio) >= 3  # the edit, and one per sentence for the re-render
    data = _archive(session_id)
    Session.objects.filter(id=session_id).delete()
    assert archive.import_session(io.BytesIO(data)) == session_id
    assert [e.to_json() for e in eventstore.read(session_id)] == before
    assert projections.snapshot(session_id) == transcript
    assert any(s["revisions"] for t in transcript for s in t["sentences"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert {f"artifacts/{ref['sha256']}" for ref in revised_audio} <= set(tar.getnames())


def _rewrite(data: bytes, change: dict[str, bytes | None]) -> bytes:
    """The archive with some members replaced (bytes) or removed (None)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        names = [m.name for m in src] + [n for n in change if n not in src.getnames()]
        for name in names:
            content = change.get(name, src.extractfile(name).read() if name in src.getnames() else None)  # type: ignore[union-attr]
            if content is None:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(content)
            dst.addfile(info, io.BytesIO(content))
    return out.getvalue()


def test_damaged_archives_are_refused_and_store_nothing() -> None:
    session_id = _recorded_session()
    data = _archive(session_id)
    Session.objects.filter(id=session_id).delete()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        audio = next(n for n in tar.getnames() if n.startswith("artifacts/"))
        events = tar.extractfile("events.jsonl").read()  # type: ignore[union-attr]
    cases = {
        "does not match": _rewrite(data, {audio: b"RIFF tampered"}),
        "missing or does not match": _rewrite(data, {audio: None}),
        "unexpected file": _rewrite(data, {"../../etc/passwd": b"x"}),
        "out of sequence": _rewrite(data, {"events.jsonl": b"\n".join(events.splitlines()[1:])}),
        "not JSON lines": _rewrite(data, {"events.jsonl": b"{not json"}),
        "manifest.json is missing": _rewrite(data, {"manifest.json": None}),
        "not a session archive": b"plain bytes, not a tar",
    }
    for message, broken in cases.items():
        with pytest.raises(archive.ArchiveError, match=message):
            archive.import_session(io.BytesIO(broken))
        assert not Session.objects.filter(id=session_id).exists()
