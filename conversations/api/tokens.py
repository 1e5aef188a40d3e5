"""Session tokens: bearer secrets that grant access to exactly one session.

The secret is shown once, to whoever created the session; only its SHA-256 is stored,
so the database alone never grants access. A SHA-256 (not a slow password hash) is
enough because the secret is 256 random bits, not something a person chose.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.db import transaction

from conversations import services
from conversations.models import SessionToken

# Longer presented values are refused before hashing: nothing we issue is that long.
MAX_TOKEN_CHARS = 128


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue(session_id: uuid.UUID | str) -> str:
    """Create a new token for the session and return the secret (never stored)."""
    raw = secrets.token_urlsafe(32)
    SessionToken.objects.create(session_id=session_id, token_hash=hash_token(raw))
    return raw


def grants(session_id: uuid.UUID | str, raw: str | None) -> bool:
    """Whether ``raw`` is a token of this session (an unknown session has no tokens)."""
    if not raw or len(raw) > MAX_TOKEN_CHARS:
        return False
    return SessionToken.objects.filter(session_id=session_id, token_hash=hash_token(raw)).exists()


def start_session_with_token(title: str = "", client: str = "api") -> tuple[uuid.UUID, str]:
    """A new session and the token that grants it, in one transaction."""
    with transaction.atomic():
        session_id = services.start_session(title=title, client=client)
        return session_id, issue(session_id)
