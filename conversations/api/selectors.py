"""Reads the API needs beyond the event store's own."""

from __future__ import annotations

import uuid

from django.db.models import Q

from conversations.models import StoredEvent
from synthesis.models import Artifact

from .schemas import ARTIFACT_FIELDS


def session_artifact(session_id: uuid.UUID, sha256: str) -> Artifact | None:
    """The artifact, if an event of this session references it (else None: not this session's)."""
    referenced = Q()
    for name in ARTIFACT_FIELDS:
        referenced |= Q(**{f"data__{name}__sha256": sha256})
    if not StoredEvent.objects.filter(referenced, session_id=session_id).exists():
        return None
    return Artifact.objects.filter(sha256=sha256).first()
