"""Export and import of a whole session: its event log and the artifacts it references,
in one ``.tar.gz`` archive, to move a session between installations.

Layout: ``manifest.json``, ``events.jsonl`` (stored rows as they are: old schema versions
stay old, upcasting happens on read), ``artifacts/<sha256>`` (the bytes). An import checks
everything (names, sizes, hashes, gapless sequence, known event types) before it writes,
and writes the log in one transaction.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import projections
from .domain.events import EVENT_TYPES
from .models import Session, StoredEvent

FORMAT = "avatar-session"
FORMAT_VERSION = 1
MAX_MEMBER_BYTES = 200 * 1024 * 1024
_ARTIFACT_NAME = re.compile(r"^artifacts/([0-9a-f]{64})$")


class ArchiveError(Exception):
    """The archive cannot be imported; nothing was stored."""


def _artifact_refs(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        if isinstance(data.get("sha256"), str) and isinstance(data.get("name"), str):
            yield data
        for value in data.values():
            yield from _artifact_refs(value)
    elif isinstance(data, list):
        for value in data:
            yield from _artifact_refs(value)


def _add(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mtime = int(timezone.now().timestamp())
    tar.addfile(info, io.BytesIO(content))


def export_session(session_id: uuid.UUID | str, out: IO[bytes]) -> int:
    """Write the session's archive to ``out``; returns the number of events."""
    from synthesis import artifacts

    session = Session.objects.get(id=session_id)
    rows = list(StoredEvent.objects.filter(session=session).order_by("seq"))
    refs = {ref["sha256"]: ref for row in rows for ref in _artifact_refs(row.data)}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "exported_at": timezone.now().isoformat(),
        "session": {"id": str(session.id), "title": session.title, "created_at": session.created_at.isoformat()},
        "events": len(rows), "artifacts": {sha: {k: ref[k] for k in ("name", "content_type", "size")}
                                           for sha, ref in refs.items()},
    }
    events = "".join(
        json.dumps({"seq": r.seq, "event_id": str(r.event_id), "type": r.type, "version": r.version,
                    "data": r.data, "ts": r.ts.isoformat()}, ensure_ascii=False) + "\n"
        for r in rows
    )
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        _add(tar, "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())
        _add(tar, "events.jsonl", events.encode())
        for sha, ref in refs.items():
            _add(tar, f"artifacts/{sha}", artifacts.read(ref))
    return len(rows)


def _members(source: IO[bytes]) -> dict[str, bytes]:
    try:
        tar = tarfile.open(fileobj=source, mode="r:gz")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"not a session archive (.tar.gz): {exc}") from exc
    files: dict[str, bytes] = {}
    with tar:
        for member in tar:
            name = member.name
            if not member.isfile():
                raise ArchiveError(f"unexpected entry {name!r}: only plain files are allowed")
            if name not in ("manifest.json", "events.jsonl") and not _ARTIFACT_NAME.match(name):
                raise ArchiveError(f"unexpected file {name!r} in the archive")
            if member.size > MAX_MEMBER_BYTES or name in files:
                raise ArchiveError(f"{name!r} is too large or repeated")
            extracted = tar.extractfile(member)
            files[name] = extracted.read() if extracted else b""
    return files


def _parse_events(raw: bytes) -> list[dict[str, Any]]:
    try:
        events = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"events.jsonl is not JSON lines: {exc}") from exc
    for expected, event in enumerate(events, start=1):
        if not isinstance(event, dict) or event.get("seq") != expected:
            raise ArchiveError(f"events.jsonl: event {expected} is malformed or out of sequence")
        if event.get("type") not in EVENT_TYPES:
            raise ArchiveError(f"events.jsonl: unknown event type {event.get('type')!r} at seq {expected}")
        version = event.get("version")
        if not isinstance(version, int) or not 1 <= version <= EVENT_TYPES[event["type"]].VERSION:
            raise ArchiveError(f"events.jsonl: unsupported version {version!r} of {event['type']}")
        if not isinstance(event.get("data"), dict):
            raise ArchiveError(f"events.jsonl: event {expected} has no data object")
    return events


def import_session(source: IO[bytes]) -> uuid.UUID:
    """Store an exported session under its original id; returns the id."""
    import hashlib

    from synthesis import artifacts

    files = _members(source)
    try:
        manifest = json.loads(files["manifest.json"])
        session_id = uuid.UUID(manifest["session"]["id"])
        created_at = datetime.fromisoformat(manifest["session"]["created_at"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ArchiveError(f"manifest.json is missing or malformed: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError("not a session archive of a format this version can read")
    events = _parse_events(files.get("events.jsonl", b""))
    needed = {ref["sha256"]: ref for event in events for ref in _artifact_refs(event["data"])}
    for sha in needed:
        content = files.get(f"artifacts/{sha}")
        if content is None or hashlib.sha256(content).hexdigest() != sha:
            raise ArchiveError(f"artifact {sha[:12]}… is missing or does not match its SHA-256")
    if Session.objects.filter(id=session_id).exists():
        raise ArchiveError(f"session {session_id} already exists here")
    for sha, ref in needed.items():  # content-addressed: storing twice is harmless
        artifacts.store(files[f"artifacts/{sha}"], ref["name"].split("/")[1], ref["content_type"],
                        ref["name"].rsplit(".", 1)[-1])
    try:
        _write(session_id, manifest, created_at, events)
    except IntegrityError as exc:  # e.g. its events were already imported under another session
        raise ArchiveError(f"the archive's events clash with stored ones: {exc}") from exc
    return session_id


def _write(session_id: uuid.UUID, manifest: dict[str, Any], created_at: datetime, events: list[dict[str, Any]]) -> None:
    with transaction.atomic():
        session = Session.objects.create(id=session_id, title=manifest["session"].get("title", "")[:200],
                                         head_seq=len(events))
        Session.objects.filter(id=session_id).update(created_at=created_at)
        StoredEvent.objects.bulk_create(
            StoredEvent(session=session, seq=e["seq"], event_id=uuid.UUID(e["event_id"]), type=e["type"],
                        version=e["version"], data=e["data"])
            for e in events
        )
        for e in events:  # auto_now_add set "now": keep the original timestamps
            StoredEvent.objects.filter(session=session, seq=e["seq"]).update(ts=datetime.fromisoformat(e["ts"]))
        projections.rebuild(session_id)
