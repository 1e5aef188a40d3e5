"""Generated artifacts (audio, mouth cues, motion keyframes), content-addressed."""

from __future__ import annotations

from django.db import models


class Artifact(models.Model):
    # The SHA-256 of the content is the identity: storing the same bytes twice
    # yields the same artifact, which keeps re-run stages idempotent.
    sha256 = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=32)  # "audio", "cues", "keyframes"
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    name = models.CharField(max_length=255, unique=True)  # the name in Django's storage
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.sha256[:12]}"
