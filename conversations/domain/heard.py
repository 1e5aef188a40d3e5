"""What the user heard of an interrupted reply (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence


def cut_text(text: str, fraction: float) -> str:
    """The words of ``text`` spoken in the first ``fraction`` of its audio.

    Speech rate is about even over a sentence, so the share of characters is a fair
    estimate; a word counts as heard once its middle has been reached.
    """
    if fraction <= 0:
        return ""
    if fraction >= 1:
        return text
    limit = len(text) * fraction
    heard: list[str] = []
    pos = 0
    for word in text.split():
        start = text.index(word, pos)
        pos = start + len(word)
        if start + len(word) / 2 > limit:
            break
        heard.append(word)
    return " ".join(heard)


def heard_text(
    sentences: Sequence[str], durations_ms: Sequence[int | None], played_index: int | None, played_ms: int | None
) -> tuple[int, str]:
    """(sentences heard in full, the heard text) for a playback position.

    ``played_index`` is the sentence that was playing (or about to) when the user
    stopped it, ``played_ms`` how far into it; without a position nothing was heard.
    """
    if played_index is None:
        return 0, ""
    full = min(played_index, len(sentences))
    parts = list(sentences[:full])
    if played_index < len(sentences) and played_ms:
        duration = durations_ms[played_index] if played_index < len(durations_ms) else None
        if duration:
            partial = cut_text(sentences[played_index], played_ms / duration)
            if partial:
                parts.append(partial)
    return full, " ".join(parts)
