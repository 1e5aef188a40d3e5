"""ActionFilter: action tags in streamed LLM text are removed and turned into preset names."""

from __future__ import annotations

import itertools
import random

import pytest

from synthesis.engines.llm.actions import (
    EMOTION_NAMES,
    GESTURES,
    Action,
    ActionFilter,
    Filtered,
    lookup,
    strip_actions,
)
from synthesis.interfaces import EMOTIONS


def run(deltas: list[str]) -> tuple[str, list[Action], ActionFilter]:
    f = ActionFilter()
    parts = [f.feed(d) for d in deltas] + [f.flush()]
    return "".join(p.text for p in parts), [a for p in parts for a in p.actions], f


def names(actions: list[Action]) -> list[tuple[str, str]]:
    return [(a.kind, a.name) for a in actions]


@pytest.mark.parametrize(
    ("text", "clean", "found"),
    [
        ("Привет! [жест: помахать] Как дела?", "Привет! Как дела?", [("gesture", "wave")]),
        ("Да [gesture:nod], конечно.", "Да, конечно.", [("gesture", "nod")]),
        ("[жест: кивок] Хорошо.", "Хорошо.", [("gesture", "nod")]),
        ("Не знаю [жест: пожать плечами].", "Не знаю.", [("gesture", "shrug")]),
        ("Нет [жест: покачать головой].", "Нет.", [("gesture", "shake_head")]),
        ("Ура! [эмоция: радость]", "Ура!", [("emotion", "happy")]),
        ("Жаль. [emotion=sad]", "Жаль.", [("emotion", "sad")]),
        ("Хм [действие: пожать плечами, эмоция=задумчивость] не знаю.", "Хм не знаю.",
         [("gesture", "shrug"), ("emotion", "thinking")]),
        ("[кивает] Да.", "Да.", [("gesture", "nod")]),
        ("[action: shake_head] Нет.", "Нет.", [("gesture", "shake_head")]),
        ('{"action": "wave"} Привет!', "Привет!", [("gesture", "wave")]),
        ('Привет! {"gesture": "nod", "emotion": "happy"}', "Привет!", [("gesture", "nod"), ("emotion", "happy")]),
        ('{"text": "Привет, друг!", "action": "wave"}', "Привет, друг!", [("gesture", "wave")]),
        ('{"жест": "кивок"}Понятно.', "Понятно.", [("gesture", "nod")]),
        ("*кивает* Хорошо.", "Хорошо.", [("gesture", "nod")]),
        ("Смотри (улыбается) вот.", "Смотри вот.", [("emotion", "happy")]),
        ("*машет рукой* Пока!", "Пока!", [("gesture", "wave")]),
        ("Привет![wave]Как дела?", "Привет! Как дела?", [("gesture", "wave")]),
    ],
)
def test_tags_are_removed_and_mapped(text: str, clean: str, found: list[tuple[str, str]]) -> None:
    result = strip_actions(text)
    assert result.text == clean
    assert names(result.actions) == found
    assert all(a.raw and a.raw in text for a in result.actions)


@pytest.mark.parametrize(
    "text",
    [
        "(рада помочь) Обращайтесь.",  # a real parenthesis, not a stage direction
        "Это (как ни странно) правда.",
        "(да)",
        "2 * 3 = 6, а 2*3*4 = 24.",
        "Используйте {x} и {\"a\": 1}.",
        "Просто текст без меток.",
        "Пример: a*b.",
        "* пункт списка",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    result = strip_actions(text)
    assert result.text == text
    assert result.actions == []


def test_unknown_bracket_tags_are_removed_and_recorded() -> None:
    clean, actions, f = run(["Смотри [1] и [что-то непонятное] сюда."])
    assert clean == "Смотри и сюда."
    assert actions == []
    assert f.ignored == ["[1]", "[что-то непонятное]"]


def test_a_tag_split_across_deltas_is_never_returned_as_text() -> None:
    text = 'Привет! [жест: помахать] Рада тебя видеть. {"emotion": "happy"} Как дела?'
    for size in (1, 2, 3, 5, 7):
        deltas = [text[i : i + size] for i in range(0, len(text), size)]
        f = ActionFilter()
        outs: list[Filtered] = [f.feed(d) for d in deltas] + [f.flush()]
        for out in outs:
            assert "[" not in out.text and "]" not in out.text and "{" not in out.text, (size, out)
            assert "жест" not in out.text and "emotion" not in out.text
        assert "".join(o.text for o in outs) == "Привет! Рада тебя видеть. Как дела?"
        assert names([a for o in outs for a in o.actions]) == [("gesture", "wave"), ("emotion", "happy")]


def test_random_splits_give_the_same_result_as_one_piece() -> None:
    text = (
        "Да [gesture:nod], конечно! *улыбается* Это (правда) интересно. 2 * 2 = 4. "
        '{"action": "shrug"} Не знаю [эмоция: задумчивость]... (кивает) Ну ладно [x].'
    )
    whole = strip_actions(text)
    rng = random.Random(3)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 25)))
        deltas = [text[a:b] for a, b in itertools.pairwise([0, *cuts, len(text)])]
        clean, actions, _ = run(deltas)
        assert clean == whole.text
        assert actions == whole.actions


def test_text_before_a_tag_is_returned_at_once() -> None:
    f = ActionFilter()
    assert f.feed("Привет! ").text == "Привет!"  # the space waits for the next visible character
    out = f.feed("[жест: пом")
    assert out.text == "" and f.pending == "[жест: пом"
    out = f.feed("ахать] Как")
    assert out.text == " Как"
    assert names(out.actions) == [("gesture", "wave")]


def test_unfinished_tag_at_the_end_is_dropped_but_unfinished_parenthesis_is_text() -> None:
    assert run(["Пока [жест: пом"])[0] == "Пока"
    assert run(['Пока {"action": "wa'])[0] == "Пока"
    assert run(["Это (важно"])[0] == "Это (важно"
    assert run(["Цена {десять"])[0] == "Цена {десять"


def test_long_brackets_are_prose_not_tags() -> None:
    long = "[" + "слово " * 30 + "]"
    assert strip_actions(f"А {long} Б").text == f"А {long} Б"


def test_lookup_covers_every_preset_and_emotion() -> None:
    for gesture in GESTURES:
        assert lookup(gesture) == ("gesture", gesture)
    for emotion in EMOTION_NAMES:
        assert lookup(emotion) == ("emotion", emotion)
    assert set(EMOTION_NAMES) == set(EMOTIONS)
    assert lookup("Кивнула") == ("gesture", "nod")
    assert lookup("покачала головой") == ("gesture", "shake_head")
    assert lookup("пожимает плечами") == ("gesture", "shrug")
    assert lookup("помахать рукой") == ("gesture", "wave")
    assert lookup("грусть") == ("emotion", "sad")
    assert lookup("задумчиво") == ("emotion", "thinking")
    assert lookup("Smile") == ("emotion", "happy")
    assert lookup("танцует") is None
    assert lookup("рада помочь", emote=True) is None  # not a stage direction
    assert lookup("no", emote=True) is None and lookup("no") == ("gesture", "shake_head")


def test_gesture_names_are_real_presets() -> None:
    from pathlib import Path

    presets = {p.stem for p in (Path(__file__).resolve().parents[3] / "animation" / "presets").glob("*.json")}
    assert set(GESTURES) <= presets


def test_action_to_dict() -> None:
    action = strip_actions("[gesture: wave]").actions[0]
    assert action.to_dict() == {"kind": "gesture", "name": "wave", "raw": "[gesture: wave]"}
