"""Storage of sessions: the append-only event log, and the transcript projection.

The log (``Session`` + ``StoredEvent``) is the source of truth. ``TranscriptTurn`` and
``TranscriptSentence`` are a projection of it that can be dropped and rebuilt at any
time (``manage.py rebuild_transcripts``). Writes go through ``conversations.eventstore``
and ``conversations.services``, never through these models directly.
"""

from __future__ import annotations

import uuid

from django.db import models


class Session(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    title = models.CharField(max_length=200, blank=True)
    # The sequence number of the last stored event; the optimistic-concurrency
    # guard (an append updates it only if it still has the expected value).
    head_seq = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        # Editing sentences and re-rendering append to the log: a right of its own,
        # since the session itself is read-only in the admin.
        permissions = [("revise_session", "Can edit sentences and re-render sessions")]

    def __str__(self) -> str:
        return self.title or str(self.id)


class StoredEvent(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    event_id = models.UUIDField(unique=True)
    type = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField()
    data = models.JSONField()
    ts = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            # The database itself refuses a second event at the same position.
            models.UniqueConstraint(fields=["session", "seq"], name="unique_event_seq_per_session"),
        ]
        indexes = [models.Index(fields=["session", "type"])]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq} {self.type}"


class TranscriptTurn(models.Model):
    """One user message and the assistant's reply (projection)."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="turns")
    turn_id = models.CharField(max_length=64, unique=True)
    number = models.PositiveIntegerField()  # 1-based within the session
    user_text = models.TextField()
    mode = models.CharField(max_length=16, default="llm")
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    llm_engine = models.CharField(max_length=64, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    failures = models.JSONField(default=list, blank=True)
    last_seq = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["session", "number"]
        constraints = [
            models.UniqueConstraint(fields=["session", "number"], name="unique_turn_number"),
        ]


class _Rendering(models.Model):
    """What rendering a sentence produced: the original (revision 0) or a revision."""

    emotion = models.CharField(max_length=16, blank=True)  # the analysed emotion
    emotion_scores = models.JSONField(default=dict, blank=True)
    spoken_text = models.TextField(blank=True)
    audio_name = models.CharField(max_length=255, blank=True)
    audio_sha256 = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    tts_engine = models.CharField(max_length=64, blank=True)
    lipsync_generator = models.CharField(max_length=64, blank=True)
    cue_count = models.PositiveIntegerField(default=0)
    motion_preset = models.CharField(max_length=64, blank=True)
    motion_preset_version = models.PositiveIntegerField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    failures = models.JSONField(default=list, blank=True)

    class Meta:
        abstract = True


class TranscriptSentence(_Rendering):
    """One sentence of a reply with its artifacts as rendered live, revision 0 (projection)."""

    turn = models.ForeignKey(TranscriptTurn, on_delete=models.CASCADE, related_name="sentences")
    index = models.PositiveIntegerField()
    text = models.TextField()
    action = models.CharField(max_length=64, blank=True)
    latest_revision = models.PositiveIntegerField(default=0)  # 0: never revised

    class Meta:
        ordering = ["turn", "index"]
        constraints = [
            models.UniqueConstraint(fields=["turn", "index"], name="unique_sentence_index"),
        ]


class TranscriptRevision(_Rendering):
    """One revision of a sentence (a staff edit or a re-render) and its artifacts (projection)."""

    sentence = models.ForeignKey(TranscriptSentence, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    based_on = models.PositiveIntegerField(default=0)
    text = models.TextField()
    chosen_emotion = models.CharField(max_length=16, blank=True)  # set by the editor ("" = analysed)
    action = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=16)
    editor = models.CharField(max_length=150, blank=True)
    render_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    rendered_at = models.DateTimeField(null=True, blank=True)  # when its motion (last stage) was stored

    class Meta:
        ordering = ["sentence", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["sentence", "revision"], name="unique_sentence_revision"),
        ]


class SessionToken(models.Model):
    """A bearer secret that grants access to one session (the visitor who created it).

    Only the SHA-256 of the secret is stored: a leaked database does not leak access.
    Issued and checked by ``conversations.api.tokens``.
    """

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"token {self.token_hash[:8]}… for {self.session_id}"
