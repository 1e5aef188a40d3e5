"""From the LLM's streamed text to spoken sentences and the actions that go with them.

Action tags (``[жест: кивок]``, ``{"action": "wave"}``, ...) are removed before the text
is segmented, so a tag is never spoken or shown. Each action goes with the sentence
its tag stands before or inside (tags after the last sentence go with the last one);
the prompt asks the model to put a tag at the start of its sentence. The result does
not depend on how the stream was cut into deltas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .engines.llm.actions import Action, ActionFilter
from .text.segment import SentenceSegmenter


@dataclass(frozen=True)
class ReplySentence:
    text: str
    action: str | None = None  # a gesture: a motion preset name
    emotion: str | None = None  # happy, sad, neutral, thinking


class ReplyStream:
    def __init__(self, first_max_chars: int | None = None) -> None:
        self._filter = ActionFilter()
        self._segmenter = SentenceSegmenter(first_max_chars=first_max_chars)
        self._clean = ""  # the tag-free text so far, to locate sentences in it
        self._cursor = 0  # where the last emitted sentence ended in _clean
        self._pending: list[tuple[int, Action]] = []  # (offset in _clean, action)

    def feed(self, delta: str) -> list[ReplySentence]:
        # Character by character, so each action's position in the clean text is exact.
        new = []
        for ch in delta:
            clean, actions = self._filter.feed(ch)
            self._clean += clean
            self._pending += [(len(self._clean), a) for a in actions]
            new.append(clean)
        return self._attach(self._segmenter.feed("".join(new)))

    def flush(self) -> list[ReplySentence]:
        clean, actions = self._filter.flush()
        self._clean += clean
        self._pending += [(len(self._clean), a) for a in actions]
        sentences = self._segmenter.feed(clean) + self._segmenter.flush()
        out = self._attach(sentences)
        if out and self._pending:  # tags after the last sentence go with it
            last = out[-1]
            out[-1] = ReplySentence(last.text, *self._pick(last.action, last.emotion, len(self._clean) + 1))
        return out

    def _end_of(self, sentence: str) -> int:
        """Where ``sentence`` (whitespace-collapsed by the segmenter) ends in _clean."""
        for word in sentence.split():
            found = self._clean.find(word, self._cursor)
            if found < 0:  # cannot happen: the segmenter only collapses whitespace
                return self._cursor
            self._cursor = found + len(word)
        return self._cursor

    def _pick(self, action: str | None, emotion: str | None, upto: int) -> tuple[str | None, str | None]:
        mine = [a for pos, a in self._pending if pos < upto]
        self._pending = [(pos, a) for pos, a in self._pending if pos >= upto]
        action = action or next((a.name for a in mine if a.kind == "gesture"), None)
        emotion = emotion or next((a.name for a in mine if a.kind == "emotion"), None)
        return action, emotion

    def _attach(self, sentences: list[str]) -> list[ReplySentence]:
        return [ReplySentence(_tidy(text), *self._pick(None, None, self._end_of(text))) for text in sentences]


def _tidy(text: str) -> str:
    # A tag removed between a clause mark and the sentence end leaves "серая,." behind.
    return _DANGLING.sub("", text)


_DANGLING = re.compile(r"\s*[,;:]+\s*(?=[.!?…]+$)")


def split_reply(text: str) -> list[ReplySentence]:
    """A whole reply (e.g. a scripted line) as sentences with their actions."""
    stream = ReplyStream()
    return stream.feed(text) + stream.flush()
