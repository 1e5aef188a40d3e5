"""Artifacts (WAV audio, mouth cues, motion keyframes) stored through Django's storage API.

Content-addressed by SHA-256: events reference an artifact by a small dict, never
embed its bytes, and storing the same content twice stores it once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from .models import Artifact

ArtifactRef = dict[str, Any]


def store(content: bytes, kind: str, content_type: str, ext: str) -> ArtifactRef:
    sha = hashlib.sha256(content).hexdigest()
    name = f"artifacts/{kind}/{sha[:2]}/{sha}.{ext}"
    if not Artifact.objects.filter(sha256=sha).exists():
        if not default_storage.exists(name):
            saved = default_storage.save(name, ContentFile(content))
            if saved != name:  # a storage that renames would break content addressing
                raise RuntimeError(f"storage saved {name} as {saved}")
        try:
            with transaction.atomic():
                Artifact.objects.create(
                    sha256=sha, kind=kind, content_type=content_type, size=len(content), name=name
                )
        except IntegrityError:
            pass  # stored concurrently by a re-run of the same stage: same content
    return {"sha256": sha, "name": name, "content_type": content_type, "size": len(content)}


def store_json(payload: Any, kind: str) -> ArtifactRef:
    content = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return store(content.encode(), kind, "application/json", "json")


def read(ref: ArtifactRef) -> bytes:
    with default_storage.open(ref["name"], "rb") as fh:
        data: bytes = fh.read()
    if hashlib.sha256(data).hexdigest() != ref["sha256"]:
        raise ValueError(f"artifact {ref['name']} does not match its SHA-256")
    return data


def local_path(ref: ArtifactRef) -> str | None:
    """The artifact's path on this machine, when the storage is a local file system."""
    try:
        return str(default_storage.path(ref["name"]))
    except NotImplementedError:
        return None


def url(ref: ArtifactRef) -> str:
    return str(default_storage.url(ref["name"]))
