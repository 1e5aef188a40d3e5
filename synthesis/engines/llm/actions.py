"""LLM actions: gestures and emotions the assistant asks for inside its reply.

The model may write, anywhere in its streamed text:

* a bracket tag: ``[жест: кивок]``, ``[gesture:nod]``, ``[эмоция: радость]``,
  ``[action=wave, emotion=happy]`` or just ``[кивает]``;
* an inline JSON object: ``{"action": "wave"}``, ``{"gesture": "nod", "emotion": "happy"}``
  (a reply wrapped whole in JSON, ``{"text": "...", "action": "wave"}``, is also
  understood: its text is spoken, its action taken);
* a stage direction in asterisks or parentheses that names a known gesture or
  emotion: ``*кивает*``, ``(улыбается)``.

``ActionFilter`` takes the raw deltas as they stream and returns the text with
every tag removed, plus the actions found, even when a tag is split across
deltas (it holds back a possible tag until it can decide). A tag is never
returned as text: square brackets are always removed (understood or not: an
avatar never needs to say a bracket), JSON objects with an action or text key
are removed; asterisk and parenthesis forms are removed only when they name a
known gesture or emotion (otherwise they are ordinary text: "(это важно)").

Names are mapped to the motion presets (``animation/presets``): gestures
``nod``, ``shake_head``, ``wave``, ``shrug``; emotions ``happy``, ``sad``,
``neutral``, ``thinking`` (``synthesis.interfaces.EMOTIONS``).

Usage (in the LLM stage)::

    actions = ActionFilter()
    for delta in engine.stream(messages, deadline=deadline):
        clean, found = actions.feed(delta)
        ...  # feed ``clean`` to the sentence segmenter, attach ``found`` to a sentence
    clean, found = actions.flush()
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

log = logging.getLogger("avatar.synthesis.actions")

ActionKind = Literal["gesture", "emotion"]
GESTURES: tuple[str, ...] = ("nod", "shake_head", "wave", "shrug")
EMOTION_NAMES: tuple[str, ...] = ("happy", "sad", "neutral", "thinking")

# Appended to the system prompt by whoever wants the model to use actions.
ACTIONS_PROMPT_RU = (
    "Если уместно, ты можешь сделать жест или показать эмоцию меткой в квадратных "
    "скобках, она не произносится: [жест: кивок], [жест: помахать], "
    "[жест: покачать головой], [жест: пожать плечами], [эмоция: радость], "
    "[эмоция: грусть], [эмоция: задумчивость]. Ставь метку в начале предложения, "
    "к которому она относится, и не больше одной метки на предложение."
)


@dataclass(frozen=True)
class Action:
    kind: ActionKind  # "gesture" (a motion preset) or "emotion"
    name: str  # a GESTURES or EMOTION_NAMES value
    raw: str  # the tag as the model wrote it (for logs and events)

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "raw": self.raw}


class Filtered(NamedTuple):
    text: str  # what may be spoken and shown
    actions: list[Action]  # found in this piece, in order


# --- names -> presets ---------------------------------------------------------

_KIND_KEYS: dict[str, ActionKind] = {
    "gesture": "gesture", "action": "gesture", "actions": "gesture", "animation": "gesture",
    "move": "gesture", "жест": "gesture", "действие": "gesture", "движение": "gesture",
    "emotion": "emotion", "emotions": "emotion", "mood": "emotion", "face": "emotion",
    "эмоция": "emotion", "настроение": "emotion", "выражение": "emotion", "лицо": "emotion",
}
_TEXT_KEYS = frozenset({"text", "reply", "say", "speech", "answer", "response", "content", "ответ", "текст"})

# Whole normalized names (lower case, ё -> е, _ and - as spaces).
_EXACT: dict[str, tuple[ActionKind, str]] = {
    **{n: ("gesture", "nod") for n in ("nod", "nods", "nodding", "head nod", "кивок", "кивнуть")},
    **{n: ("gesture", "shake_head") for n in (
        "shake head", "shake", "shakes head", "head shake", "headshake", "shaking head", "no",
        "покачать головой", "качать головой", "отрицание",
    )},
    **{n: ("gesture", "wave") for n in ("wave", "waves", "waving", "wave hand", "hello", "bye", "goodbye",
                                        "приветствие", "прощание")},
    **{n: ("gesture", "shrug") for n in ("shrug", "shrugs", "shrugging", "не знаю")},
    **{n: ("emotion", "happy") for n in ("happy", "joy", "smile", "smiles", "laugh", "laughs", "glad",
                                         "positive", "excited")},
    **{n: ("emotion", "sad") for n in ("sad", "sadness", "sorrow", "sigh", "sighs", "upset", "negative")},
    **{n: ("emotion", "neutral") for n in ("neutral", "calm", "none", "idle")},
    **{n: ("emotion", "thinking") for n in ("thinking", "think", "thinks", "thoughtful", "pondering", "hmm")},
}

# Word-prefix rules for Russian inflections: every stem must start some word.
# Gestures first: "покачать головой" must not become "thinking" via another word.
# The last field: whether the rule also applies to a stage direction in asterisks or
# parentheses, where it must not eat ordinary words ("(рада помочь)" stays text).
_STEMS: tuple[tuple[ActionKind, str, tuple[str, ...], bool], ...] = (
    ("gesture", "shake_head", ("кача", "голов"), True),
    ("gesture", "shake_head", ("покача",), True),
    ("gesture", "shake_head", ("мота", "голов"), True),
    ("gesture", "shrug", ("пожим", "плеч"), True),
    ("gesture", "shrug", ("пожа", "плеч"), True),
    ("gesture", "shrug", ("плеч",), False),
    ("gesture", "nod", ("кив",), True),
    ("gesture", "wave", ("помах",), True),
    ("gesture", "wave", ("помаш",), True),
    ("gesture", "wave", ("махн",), True),
    ("gesture", "wave", ("машет",), True),
    ("gesture", "wave", ("маша",), False),
    ("gesture", "wave", ("мах",), False),
    ("emotion", "happy", ("улыб",), True),
    ("emotion", "happy", ("смеет",), True),
    ("emotion", "happy", ("смеюсь",), True),
    ("emotion", "happy", ("смея",), True),
    ("emotion", "happy", ("смех",), True),
    ("emotion", "happy", ("хихика",), True),
    ("emotion", "happy", ("радост",), False),
    ("emotion", "happy", ("рад",), False),
    ("emotion", "happy", ("счаст",), False),
    ("emotion", "happy", ("весел",), False),
    ("emotion", "happy", ("восторг",), False),
    ("emotion", "sad", ("вздых",), True),
    ("emotion", "sad", ("вздох",), True),
    ("emotion", "sad", ("плачет",), True),
    ("emotion", "sad", ("груст",), False),
    ("emotion", "sad", ("печал",), False),
    ("emotion", "sad", ("плач",), False),
    ("emotion", "sad", ("расстр",), False),
    ("emotion", "sad", ("огорч",), False),
    ("emotion", "thinking", ("задумыва",), True),
    ("emotion", "thinking", ("задумчив",), True),
    ("emotion", "thinking", ("размышля",), True),
    ("emotion", "thinking", ("хм",), True),
    ("emotion", "thinking", ("задум",), False),
    ("emotion", "thinking", ("дума",), False),
    ("emotion", "thinking", ("размышл",), False),
    ("emotion", "neutral", ("нейтрал",), False),
    ("emotion", "neutral", ("спокой",), False),
)
# English names that are also ordinary words: only inside a tag or a JSON field.
_TAG_ONLY = frozenset({"no", "hello", "bye", "goodbye", "none", "idle", "positive", "negative", "glad",
                       "upset", "calm", "shake", "think", "не знаю"})
_MAX_EMOTE_WORDS = 3

_WORD = re.compile(r"[a-zа-я]+")
_SEPARATORS = re.compile(r"[_\-\s]+")


def _normalize(name: str) -> str:
    lowered = name.strip().lower().replace("ё", "е")
    lowered = re.sub(r"[^\w\s\-]", " ", lowered)
    return _SEPARATORS.sub(" ", lowered).strip()


def lookup(name: str, prefer: ActionKind | None = None, *, emote: bool = False) -> tuple[ActionKind, str] | None:
    """The (kind, preset name) a gesture or emotion name means, or None.

    ``prefer`` (from the tag's key) picks the kind when a name could be either.
    ``emote``: the name is a stage direction outside a tag (``*кивает*``), so only
    unambiguous names count.
    """
    norm = _normalize(name)
    if not norm:
        return None
    words = _WORD.findall(norm)
    if emote and (len(words) > _MAX_EMOTE_WORDS or norm in _TAG_ONLY):
        return None
    if norm.replace(" ", "_") in GESTURES:
        return "gesture", norm.replace(" ", "_")
    if norm in EMOTION_NAMES:
        return "emotion", norm
    if norm in _EXACT:
        return _EXACT[norm]
    matches = [
        (kind, preset)
        for kind, preset, stems, soft in _STEMS
        if (soft or not emote) and all(any(w.startswith(s) for w in words) for s in stems)
    ]
    if not matches:
        return None
    preferred = [m for m in matches if m[0] == prefer]
    return (preferred or matches)[0]


def _split_pairs(content: str) -> Iterable[tuple[ActionKind | None, str]]:
    """``"жест: кивок, эмоция=радость"`` -> (gesture, "кивок"), (emotion, "радость")."""
    for part in re.split(r"[;,|/]", content):
        key, sep, value = part.partition(":") if ":" in part else part.partition("=")
        if sep:
            yield _KIND_KEYS.get(_normalize(key).replace(" ", "")), value
        else:
            yield None, part


def _bracket_actions(content: str, raw: str) -> list[Action]:
    actions: list[Action] = []
    for kind, value in _split_pairs(content):
        found = lookup(value, kind)
        if found is not None:
            actions.append(Action(found[0], found[1], raw))
    return actions


def _json_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, Mapping):  # {"action": {"name": "wave"}}
        return _json_values(value.get("name") or value.get("type"))
    return []


def _json_parts(obj: Mapping[str, Any], raw: str) -> tuple[str, list[Action], bool]:
    """(text to speak, actions, whether the object was ours to remove)."""
    text_parts: list[str] = []
    actions: list[Action] = []
    ours = False
    for key, value in obj.items():
        norm = _normalize(str(key)).replace(" ", "")
        if norm in _TEXT_KEYS and isinstance(value, str):
            text_parts.append(value)
            ours = True
        elif norm in _KIND_KEYS:
            ours = True
            for name in _json_values(value):
                found = lookup(name, _KIND_KEYS[norm])
                if found is not None:
                    actions.append(Action(found[0], found[1], raw))
    return " ".join(text_parts), actions, ours


# --- the streaming filter ---------------------------------------------------------

_Mode = Literal["text", "bracket", "json", "star", "paren"]
_OPENERS: dict[str, _Mode] = {"[": "bracket", "{": "json", "*": "star", "(": "paren"}
_CLOSERS: dict[_Mode, str] = {"bracket": "]", "star": "*", "paren": ")"}
_BREAK_PUNCT = frozenset(".!?…,;:")
_CLOSING_PUNCT = frozenset(".!?…,;:)»")


class ActionFilter:
    """Removes action tags from streamed LLM text and returns the actions they name.

    ``feed(delta)`` returns ``Filtered(text, actions)``: the text that is safe to
    speak and show so far (a possible tag is held back until it closes or proves
    not to be one) and the actions completed in it. ``flush()`` at the end of the
    stream returns what was held back (an unfinished bracket tag or action JSON is
    dropped, an unfinished ordinary parenthesis comes back as text). One instance
    per reply; not thread-safe.

    ``ignored`` lists bracket tags that were removed but named nothing known.
    """

    def __init__(self, *, max_tag_chars: int = 80, max_emote_chars: int = 40, max_json_chars: int = 2000) -> None:
        self.max_tag_chars = max_tag_chars
        self.max_emote_chars = max_emote_chars
        self.max_json_chars = max_json_chars
        self.ignored: list[str] = []
        self._mode: _Mode = "text"
        self._buf: list[str] = []
        self._json_depth = 0
        self._json_in_string = False
        self._json_escape = False
        self._json_opened = False  # a non-space character followed the "{"
        self._last_out = ""  # the last visible character returned as text ("" before any)
        self._held = ""  # whitespace not returned yet
        self._after_tag = False  # a tag was just removed: tidy the whitespace around it

    def feed(self, delta: str) -> Filtered:
        out: list[str] = []
        actions: list[Action] = []
        self._run(deque(delta), out, actions)
        return Filtered("".join(out), actions)

    def flush(self) -> Filtered:
        out: list[str] = []
        actions: list[Action] = []
        while self._mode != "text":
            if self._unfinished_tag():
                self.ignored.append("".join(self._buf))
                self._take([], actions)
            else:  # not a tag after all: give it back as text
                pending: deque[str] = deque()
                self._abort(pending, out)
                self._run(pending, out, actions)
        if self._held and not self._after_tag:
            out.append(self._held)
        self._held = ""
        return Filtered("".join(out), actions)

    @property
    def pending(self) -> str:
        """Text held back as a possible tag."""
        return "".join(self._buf)

    # -- the state machine --

    def _run(self, pending: deque[str], out: list[str], actions: list[Action]) -> None:
        while pending:
            char = pending.popleft()
            if self._mode == "text":
                mode = _OPENERS.get(char)
                if mode is None:
                    self._emit(char, out)
                else:
                    self._mode, self._buf = mode, [char]
                    self._json_depth = 1
                continue
            self._buf.append(char)
            if self._mode == "json":
                self._step_json(char, pending, out, actions)
            else:
                self._step_delimited(char, pending, out, actions)

    def _emit(self, char: str, out: list[str]) -> None:
        # Whitespace is held back until the next visible character, so that a tag
        # removed between a space and a comma leaves "Да, конечно", not "Да , конечно".
        if char.isspace():
            if self._after_tag and (self._held or not self._last_out):
                return  # "Привет! [wave] Как" -> one space; "[wave] Привет" -> none
            self._held += char
            return
        if self._after_tag:
            if char in _CLOSING_PUNCT:
                self._held = ""
            elif not self._held and self._last_out in _BREAK_PUNCT:
                self._held = " "  # "Привет![wave]Как" -> "Привет! Как"
            self._after_tag = False
        out.append(self._held + char)
        self._held = ""
        self._last_out = char

    def _reset(self) -> None:
        self._mode = "text"
        self._buf = []
        self._json_depth = 0
        self._json_in_string = self._json_escape = self._json_opened = False

    def _abort(self, pending: deque[str], out: list[str]) -> None:
        """The buffer is not a tag: its opener is text, the rest is scanned again."""
        buffered = self._buf
        self._reset()
        self._emit(buffered[0], out)
        pending.extendleft(reversed(buffered[1:]))

    def _take(self, found: list[Action], actions: list[Action]) -> None:
        actions.extend(found)
        self._reset()
        self._after_tag = True

    def _step_delimited(self, char: str, pending: deque[str], out: list[str], actions: list[Action]) -> None:
        if char == _CLOSERS[self._mode]:
            raw = "".join(self._buf)
            content = raw[1:-1]
            if self._mode == "bracket":
                found = _bracket_actions(content, raw)
                if not found:
                    self.ignored.append(raw)
                self._take(found, actions)
                return
            result = lookup(content, emote=True)
            if result is None:
                self._abort(pending, out)
            else:
                self._take([Action(result[0], result[1], raw)], actions)
            return
        limit = self.max_tag_chars if self._mode == "bracket" else self.max_emote_chars
        bullet = self._mode == "star" and len(self._buf) == 2 and char.isspace()
        if char == "\n" or len(self._buf) > limit or bullet:
            # A newline or a long run is prose; "* " is a list bullet or a product.
            self._abort(pending, out)

    def _step_json(self, char: str, pending: deque[str], out: list[str], actions: list[Action]) -> None:
        if len(self._buf) > self.max_json_chars:
            self._abort(pending, out)
            return
        if not self._json_opened:
            if char.isspace():
                return
            if char not in ('"', "}"):  # only {"key": ...} can be an action object
                self._abort(pending, out)
                return
            self._json_opened = True
        if self._json_in_string:
            if self._json_escape:
                self._json_escape = False
            elif char == "\\":
                self._json_escape = True
            elif char == '"':
                self._json_in_string = False
            return
        if char == '"':
            self._json_in_string = True
        elif char in "{[":
            self._json_depth += 1
        elif char in "}]":
            self._json_depth -= 1
            if self._json_depth == 0:
                self._finish_json(pending, out, actions)

    def _finish_json(self, pending: deque[str], out: list[str], actions: list[Action]) -> None:
        raw = "".join(self._buf)
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        text, found, ours = _json_parts(obj, raw) if isinstance(obj, dict) else ("", [], False)
        if not ours:
            self._abort(pending, out)
            return
        self._take(found, actions)
        if text:
            # The reply's own text, wrapped in JSON: spoken, and scanned for tags too.
            pending.extendleft(reversed(text))

    def _unfinished_tag(self) -> bool:
        """At the end of the stream: is the held-back text a tag to drop?"""
        if self._mode == "bracket":
            return True  # square brackets are never spoken
        if self._mode == "json":
            lowered = "".join(self._buf).lower()
            return any(f'"{key}"' in lowered for key in (*_KIND_KEYS, *_TEXT_KEYS))
        return False


def strip_actions(text: str) -> Filtered:
    """Filter a whole text at once (e.g. a stored or non-streamed reply)."""
    f = ActionFilter()
    first = f.feed(text)
    last = f.flush()
    return Filtered(first.text + last.text, first.actions + last.actions)
