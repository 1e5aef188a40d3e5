"""Validation of what a user sends, before anything is stored (pure functions)."""

from __future__ import annotations

import unicodedata

MAX_MESSAGE_CHARS = 2000
_ALLOWED_CONTROLS = frozenset("\n\t")


class InvalidMessage(ValueError):
    """A user message that is refused as a whole; ``code`` is stable for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def clean_user_text(text: object, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """Return the text to store, or raise InvalidMessage saying what is wrong."""
    if not isinstance(text, str):
        raise InvalidMessage("not_text", "Сообщение должно быть текстом.")
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    bad = sorted({f"U+{ord(ch):04X}" for ch in text if _is_forbidden(ch)})
    if bad:
        raise InvalidMessage(
            "control_characters",
            f"Сообщение содержит управляющие или недопустимые символы: {', '.join(bad[:5])}.",
        )
    text = text.strip()
    if not text:
        raise InvalidMessage("empty", "Сообщение пустое.")
    if len(text) > max_chars:
        raise InvalidMessage(
            "too_long", f"Сообщение слишком длинное: {len(text)} символов, можно не больше {max_chars}."
        )
    return text


def _is_forbidden(ch: str) -> bool:
    if ch in _ALLOWED_CONTROLS:
        return False
    # Cc: C0/C1 controls (NUL, ESC, ...); Cs: lone surrogates; Co/Cn: private or unassigned.
    return unicodedata.category(ch) in {"Cc", "Cs", "Co", "Cn"}


# --- Revisions of stored sentences (staff edits) ------------------------------------

MAX_SENTENCE_CHARS = 1000
EMOTIONS = ("happy", "sad", "neutral", "thinking")
_ACTION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")  # a SlugField


class InvalidRevision(ValueError):
    """An edit of a sentence that is refused as a whole; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def clean_revision(text: object, emotion: object, action: object) -> tuple[str, str | None, str | None]:
    """The (text, emotion, action) of a sentence revision, or ``InvalidRevision``."""
    try:
        cleaned = clean_user_text(text, MAX_SENTENCE_CHARS)
    except InvalidMessage as exc:
        raise InvalidRevision("text", exc.message.replace("Сообщение", "Текст фразы")) from exc
    if emotion in ("", None):
        emotion = None
    elif emotion not in EMOTIONS:
        raise InvalidRevision("emotion", f"Неизвестная эмоция {emotion!r}: можно {', '.join(EMOTIONS)}.")
    if action in ("", None):
        action = None
    elif not isinstance(action, str) or len(action) > 64 or not set(action) <= _ACTION_CHARS:
        raise InvalidRevision("action", "Имя пресета: латинские буквы, цифры, _ и -, до 64 символов.")
    return cleaned, emotion, action
