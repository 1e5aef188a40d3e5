"""Russian-aware sentence segmentation for LLM output that arrives token by token.

Each sentence goes on to sentiment, TTS and lip-sync as soon as it is complete, so
the segmenter must emit a sentence only when no later text can change the decision.
The rules therefore look at a bounded lookahead only: a terminator (``. ! ? …``) is
decided by the first character after it and the whitespace/emoji that follow it
(plus, after a dash, the first letter after the dash). A decision made on a prefix is
the same decision the whole text would produce, which is what lets ``split_sentences``
equal any chunked ``feed`` sequence followed by ``flush``.

razdel.sentenize was tried and not used: it has no streaming mode (re-running it on a
growing prefix may move earlier boundaries), it keeps markdown list items and lines
in one sentence, and it does not split "... 2024 г. Потом ...".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

DEFAULT_MAX_CHARS = 250
# Below this a cut at a comma would make fragments too short to pronounce naturally.
_MIN_MAX_CHARS = 20
# A "word" longer than this many limits (a pasted hash, a base64 blob) is cut hard:
# bounded latency matters more than keeping garbage intact.
_HARD_LIMIT_FACTOR = 4

_TERMINATORS = frozenset(".!?…")
# Glued right after a terminator these belong to the sentence that just ended:
# closing quotes/brackets and markdown emphasis ("**Важно!**").
_CLOSERS = frozenset("»\"”’')]}*_`~")
_DASHES = frozenset("-–—")
# Punctuation after a terminator and a space that continues the sentence ("т.е., ").
_CONTINUING_PUNCT = frozenset(",;:)]}»”’.!?…")
_SOFT_BREAKS = frozenset(",;:")

# Abbreviations that precede a name or a number ("ул. Ленина", "стр. 5", "проф. Иванов"):
# a capital letter or digit after them does not start a sentence. Units and years that
# may end a sentence ("5 см.", "2024 г.") are recognised by the number before them.
_NO_SPLIT_ABBREVIATIONS = frozenset(
    {
        "ул", "им", "св", "см", "напр", "проф", "акад", "стр", "ср", "рис", "гл", "ст",
        "доц", "канд", "просп", "пер", "пл", "обл", "оз", "пос", "дер", "тел", "ген",
        "тов", "кв", "корп", "каб", "англ", "лат", "нем", "франц", "рус", "букв", "прим",
        "табл", "изд", "ред", "вып", "гр", "зам", "нач", "зав", "сокр", "гор", "мкр",
        "наб", "ок", "бул", "ш", "д", "г", "с", "р", "о", "т", "п", "ч", "м", "в", "л",
        "mr", "mrs", "dr", "vs",
    }
)
# "т. д." and "т. п." close a list and may end a sentence; "т. е.", "т. к.", "т. н.",
# "в т. ч." never do.
_ENDING_COMPOUNDS = frozenset({("т", "д"), ("т", "п"), ("и", "др"), ("и", "пр")})
_NON_ENDING_COMPOUNDS = frozenset({("т", "е"), ("т", "к"), ("т", "н"), ("т", "ч")})

_WORD_BEFORE = re.compile(r"[^\W\d_]+$")
_ABBREV_BEFORE = re.compile(r"(?<![^\W\d_])([^\W\d_]+)\.[ \t]?$")
_NUMBER_BEFORE = re.compile(r"(?:\d|(?<![^\W\d_])[IVXLCDM]+)[ \t\u00a0]*$")
_LOOKBEHIND = 40


@dataclass(frozen=True)
class _Boundary:
    end: int  # the sentence is text[start:end]
    resume: int  # where scanning for the next sentence begins


@dataclass(frozen=True)
class _Pending:
    safe: int  # no boundary ends before this index; more text is needed to go on


def is_pictograph(ch: str) -> bool:
    """Emoji and similar symbols (not "№" or "°", which are read aloud).

    After a terminator they stay with the sentence that just ended.
    """
    code = ord(ch)
    if code in (0x200D, 0xFE0E, 0xFE0F, 0x20E3):  # joiner, variation selectors, keycap
        return True
    return code >= 0x2190 and unicodedata.category(ch) in ("So", "Sk", "Cn", "Co", "Cs")


def _is_filler(ch: str) -> bool:
    return (ch.isspace() and ch != "\n") or is_pictograph(ch)


def _quote_delta(text: str, i: int) -> int:
    """+1 for an opening quote, -1 for a closing one, 0 otherwise.

    Straight quotes are guessed from the left neighbour: after a space or at the
    start they open, after anything else they close.
    """
    ch = text[i]
    if ch in "«„“":
        return 1
    if ch in "»”":
        return -1
    if ch == '"':
        prev = text[i - 1] if i > 0 else " "
        return 1 if prev.isspace() or prev in "([«" else -1
    return 0


def _newline_verdict(text: str, i: int, final: bool) -> tuple[bool | None, int]:
    """Decide a line break at ``i``: (split?, index of the next non-space char).

    A blank line always splits (paragraphs); a single line break splits unless the
    next line starts lowercase (a wrapped sentence); markdown list items start with
    a marker or a capital, so each item becomes a sentence.
    """
    n = len(text)
    newlines = 0
    j = i
    while j < n and text[j].isspace():
        newlines += text[j] == "\n"
        j += 1
    if newlines >= 2:
        return True, j
    if j == n:
        return (True if final else None), j
    nxt = text[j]
    return not (nxt.isalpha() and nxt.islower()), j


def _is_list_number(text: str, i: int) -> bool:
    """True when text[i] == '.' ends a markdown list number ("2. Второй пункт")."""
    j = i - 1
    digits = 0
    while j >= 0 and text[j].isdigit():
        digits += 1
        j -= 1
    if not 1 <= digits <= 3:
        return False
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j < 0 or text[j] == "\n"


def _period_blocks_split(text: str, i: int) -> bool:
    """True when the single period at ``i`` belongs to an abbreviation or initial."""
    window_start = max(0, i - _LOOKBEHIND)
    before = text[window_start:i]
    word_match = _WORD_BEFORE.search(before)
    if word_match is None:
        return _is_list_number(text, i)
    word = word_match.group()
    if len(word) == 1 and word.isupper():
        return True  # an initial: "А. С. Пушкин"
    head = before[: word_match.start()]
    compound = _ABBREV_BEFORE.search(head)
    prev_word = re.search(r"([^\W\d_]+)[ \t]+$", head)
    for candidate in (compound, prev_word):
        if candidate is not None:
            pair = (candidate.group(1).lower(), word.lower())
            if pair in _ENDING_COMPOUNDS:
                return False
            if pair in _NON_ENDING_COMPOUNDS:
                return True
    lowered = word.lower()
    if lowered not in _NO_SPLIT_ABBREVIATIONS or word == "Я":
        return False
    # "2024 г.", "5 см.", "XX в." are a year, a unit, a century: they may end a sentence.
    return _NUMBER_BEFORE.search(head) is None


def _skip_dashes(text: str, k: int) -> int:
    while k < len(text) and (text[k] in _DASHES or (text[k].isspace() and text[k] != "\n")):
        k += 1
    return k


def _starts_new_sentence(text: str, i: int, run: str, k: int, final: bool) -> bool | None:
    """Whether the text at ``k`` (after a terminator run at ``i``) starts a sentence."""
    ch = text[k]
    if ch in _DASHES:
        # «Привет!» — сказал он.  vs  Он ушёл. — Куда?  The letter after the dash decides.
        m = _skip_dashes(text, k)
        if m == len(text):
            return True if final else None
        ch = text[m]
    if ch.isalpha() and ch.islower():
        return False
    if ch in _CONTINUING_PUNCT:
        return False
    return not (run == "." and _period_blocks_split(text, i))


def _scan_terminator(
    text: str, i: int, depth: int, final: bool
) -> tuple[_Boundary | _Pending | None, int, int]:
    """Handle a terminator run starting at ``i``.

    Returns (verdict, index to continue scanning from, quote depth). A ``None``
    verdict means "not a boundary, keep scanning".
    """
    n = len(text)
    j = i
    while j < n and (text[j] in _TERMINATORS or text[j] in _CLOSERS):
        depth = max(0, depth + _quote_delta(text, j))
        j += 1
    if j == n:
        return (_Boundary(n, n) if final else _Pending(i)), j, depth
    if depth > 0:
        return None, j, depth  # "!" inside «...» does not end the outer sentence
    end = j
    k = j
    while k < n and _is_filler(text[k]):
        if is_pictograph(text[k]):
            end = k + 1
        k += 1
    if k == n:
        return (_Boundary(end, n) if final else _Pending(i)), k, depth
    if text[k] == "\n" or k == j:
        return None, k, depth  # the newline rule takes over; or glued: "3.14", "т.е."
    run = text[i:j]
    verdict = _starts_new_sentence(text, i, run, k, final)
    if verdict is None:
        return _Pending(i), k, depth
    return (_Boundary(end, k) if verdict else None), k, depth


def _find_boundary(text: str, start: int, final: bool) -> _Boundary | _Pending:
    """The first sentence boundary at or after ``start`` (which is not whitespace)."""
    n = len(text)
    depth = 0
    i = start
    while i < n:
        ch = text[i]
        if ch == "\n":
            split, nxt = _newline_verdict(text, i, final)
            if split is None:
                return _Pending(i)
            if split:
                return _Boundary(i, nxt)
            i = nxt
        elif ch in _TERMINATORS:
            verdict, i, depth = _scan_terminator(text, i, depth, final)
            if verdict is not None:
                return verdict
        else:
            depth = max(0, depth + _quote_delta(text, i))
            i += 1
    return _Boundary(n, n) if final else _Pending(n)


def _is_soft_break(text: str, p: int) -> int | None:
    """Cut index if a clause boundary sits at ``p``, else None."""
    ch = text[p]
    if ch in _SOFT_BREAKS and p + 1 < len(text) and text[p + 1].isspace():
        return p + 1  # keep the comma with the first part: it marks the pause
    if ch in "—–-" and p > 0 and text[p - 1].isspace() and text[p + 1 : p + 2].isspace():
        return p  # "слово — слово": the dash opens the second part
    return None


def _cut_point(text: str, start: int, bound: int, max_chars: int) -> int | None:
    """Where to cut a sentence known to run past ``start + max_chars``.

    ``bound`` is how far the sentence is known (its end, or the safe point while
    streaming). Only text before ``bound`` is read, so the same cut is chosen
    whatever arrives later. None: no cut possible (yet).
    """
    limit = start + max_chars
    soft = [c for p in range(start + 1, limit) if (c := _is_soft_break(text, p)) is not None]
    soft = [c for c in soft if c <= limit and c - start >= max_chars // 2]
    if soft:
        return soft[-1]
    for p in range(limit - 1, start, -1):
        between_digits = text[p - 1].isdigit() and text[p + 1 : p + 2].isdigit()
        if text[p].isspace() and not between_digits:
            return p
    hard = start + _HARD_LIMIT_FACTOR * max_chars
    for p in range(limit, min(hard, bound)):
        if text[p].isspace():
            return p
    return hard if bound > hard else None


_MIN_FIRST_CLAUSE = 20


def _first_clause_cut(text: str, start: int, bound: int, limit: int, max_chars: int) -> int | None:
    """A clause boundary to end a long first sentence early: the last one within
    ``limit`` (at least a few words long), else the first one after it. Never a cut
    between words, which would break the intonation of the very first phrase."""
    cuts = [
        c for p in range(start + 1, min(bound, start + max_chars))
        if (c := _is_soft_break(text, p)) is not None and c - start >= _MIN_FIRST_CLAUSE and c < bound
    ]
    within = [c for c in cuts if c - start <= limit]
    if within:
        return within[-1]
    return cuts[0] if cuts else None


def _clean(piece: str) -> str:
    """Collapse whitespace; drop pieces with nothing to pronounce."""
    sentence = " ".join(piece.split())
    return sentence if any(ch.isalnum() for ch in sentence) else ""


class SentenceSegmenter:
    """Incremental sentence splitter: ``feed`` token deltas, ``flush`` at the end."""

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS, first_max_chars: int | None = None) -> None:
        """``first_max_chars``: a tighter limit for the first sentence only, so that the
        first audio of a reply starts sooner (a long first sentence is cut at a clause)."""
        if min(max_chars, first_max_chars or max_chars) < _MIN_MAX_CHARS:
            raise ValueError(f"max_chars must be at least {_MIN_MAX_CHARS}")
        self._max_chars = max_chars
        self._first_max_chars = first_max_chars or max_chars
        self._emitted = 0
        self._buffer = ""
        self._start = 0

    def feed(self, delta: str) -> list[str]:
        """Add streamed text; return the sentences that are now certainly complete."""
        self._buffer += delta
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """End of stream: return everything left, then reset for reuse."""
        sentences = self._drain(final=True)
        self._buffer = ""
        self._start = 0
        self._emitted = 0
        return sentences

    def _drain(self, final: bool) -> list[str]:
        sentences: list[str] = []
        while (piece := self._next_piece(final)) is not None:
            if sentence := _clean(piece):
                sentences.append(sentence)
                self._emitted += 1
        self._forget_consumed()
        return sentences

    def _next_piece(self, final: bool) -> str | None:
        text = self._buffer
        start = self._start
        while start < len(text) and text[start].isspace():
            start += 1
        self._start = start
        if start >= len(text):
            return None
        found = _find_boundary(text, start, final)
        bound = found.end if isinstance(found, _Boundary) else found.safe
        if self._emitted == 0 and bound - start > self._first_max_chars:
            cut = _first_clause_cut(text, start, bound, self._first_max_chars, self._max_chars)
            if cut is not None:
                self._start = cut
                return text[start:cut]
        if bound - start > self._max_chars:
            cut = _cut_point(text, start, bound, self._max_chars)
            if cut is not None:
                self._start = cut
                return text[start:cut]
        if isinstance(found, _Pending):
            return None
        self._start = found.resume
        return text[start : found.end]

    def _forget_consumed(self) -> None:
        """Drop emitted text, keeping the current line: look-behind never crosses a
        newline, so the kept newline preserves every decision."""
        newline = self._buffer.rfind("\n", 0, self._start)
        if newline > 0:
            self._buffer = self._buffer[newline:]
            self._start -= newline


def split_sentences(
    text: str, max_chars: int = DEFAULT_MAX_CHARS, first_max_chars: int | None = None
) -> list[str]:
    """Split a whole text; equal to feeding it in any chunks and flushing."""
    segmenter = SentenceSegmenter(max_chars, first_max_chars)
    return segmenter.feed(text) + segmenter.flush()
