"""Russian sentence emotions: the E5 nearest-centroid engine and the rule fallback.

HELD_OUT was written apart from ``examples_ru.EXAMPLES_RU`` (a test below checks
that none of it leaked in), so the accuracy measures generalization.
"""

from __future__ import annotations

import math

import pytest

from synthesis.engines.sentiment.e5 import E5CentroidSentiment
from synthesis.engines.sentiment.examples_ru import EXAMPLES_RU
from synthesis.engines.sentiment.rules import RuleSentiment, has_thinking_cue
from synthesis.interfaces import EMOTIONS, SentimentAnalyzer, SentimentResult

HELD_OUT: list[tuple[str, str]] = [
    ("Ты просто молодец, я горжусь тобой!", "happy"),
    ("Какая радость, наконец-то каникулы!", "happy"),
    ("Мне очень весело с тобой.", "happy"),
    ("Урожай в этом году получился отличный, все довольны.", "happy"),
    ("Сегодня ушёл из жизни мой дедушка.", "sad"),
    ("Мне не с кем поговорить, и от этого тоскливо.", "sad"),
    ("Дождь испортил нам весь праздник, обидно.", "sad"),
    ("Я провалила экзамен, и мне очень стыдно.", "sad"),
    ("Библиотека находится на второй улице слева.", "neutral"),
    ("Совещание перенесли на понедельник.", "neutral"),
    ("В этом городе живёт около миллиона человек.", "neutral"),
    ("Чтобы включить прибор, нажмите зелёную кнопку.", "neutral"),
    ("Хм, не знаю, что тебе ответить.", "thinking"),
    ("Может быть, лучше выбрать синий цвет?", "thinking"),
    ("Надо бы всё взвесить перед решением.", "thinking"),
    ("Интересно, сколько это будет стоить...", "thinking"),
]


@pytest.fixture(scope="module")
def e5() -> E5CentroidSentiment:
    assert E5CentroidSentiment.availability().ok, E5CentroidSentiment.availability().reason
    return E5CentroidSentiment()


def assert_well_formed(result: SentimentResult) -> None:
    assert result.label in EMOTIONS
    assert set(result.scores) == set(EMOTIONS)
    assert all(0.0 <= s <= 1.0 for s in result.scores.values())
    assert math.isclose(sum(result.scores.values()), 1.0, abs_tol=1e-6)
    assert result.scores[result.label] == max(result.scores.values())


def test_held_out_set_is_not_in_the_examples() -> None:
    examples = {s for group in EXAMPLES_RU.values() for s in group}
    assert not examples & {text for text, _ in HELD_OUT}
    assert set(EXAMPLES_RU) == set(EMOTIONS)


def test_e5_held_out_accuracy(e5: E5CentroidSentiment) -> None:
    results = e5.analyze([text for text, _ in HELD_OUT])
    wrong = [(t, want, r.label) for (t, want), r in zip(HELD_OUT, results, strict=True) if r.label != want]
    assert len(HELD_OUT) - len(wrong) >= 12, wrong


def test_e5_results_are_well_formed_and_in_order(e5: E5CentroidSentiment) -> None:
    texts = ["Ура, мы победили!", "Мне так грустно.", "Сейчас восемь часов вечера."]
    batch = e5.analyze(texts)
    assert [r.label for r in batch] == ["happy", "sad", "neutral"]
    for result in batch:
        assert_well_formed(result)
    # Batching must not change or reorder anything.
    singles = [e5.analyze([t])[0] for t in reversed(texts)][::-1]
    assert [r.label for r in singles] == [r.label for r in batch]
    for one, many in zip(singles, batch, strict=True):
        assert all(math.isclose(one.scores[e], many.scores[e], abs_tol=1e-3) for e in EMOTIONS)


def test_e5_empty_inputs(e5: E5CentroidSentiment) -> None:
    assert e5.analyze([]) == []
    blank, real = e5.analyze(["   ", "Спасибо большое, это прекрасно!"])
    assert blank.label == "neutral" and real.label == "happy"
    assert_well_formed(blank)


def test_e5_thinking_rule_overrides_only_neutral(e5: E5CentroidSentiment) -> None:
    question, happy_question = e5.analyze(["Который сейчас час?", "Ура, мы победили?!"])
    assert question.label == "thinking"
    assert happy_question.label == "happy"  # a polar sentence keeps its emotion
    assert_well_formed(question)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Я так рада тебя видеть!", "happy"),
        ("Спасибо, это отлично.", "happy"),
        ("Мне очень грустно и одиноко.", "sad"),
        ("Я не рада этому.", "sad"),
        ("Это совсем не плохо.", "happy"),
        ("Поезд прибывает в шесть.", "neutral"),
        ("Это больше, чем я думала.", "neutral"),  # "больше" is not "боль"
        ("Хм, дайте подумать.", "thinking"),
        ("Где находится вокзал?", "thinking"),
        ("Ну, не знаю...", "thinking"),
        ("", "neutral"),
    ],
)
def test_rules(text: str, label: str) -> None:
    (result,) = RuleSentiment().analyze([text])
    assert result.label == label
    assert_well_formed(result)


def test_both_engines_satisfy_the_protocol(e5: E5CentroidSentiment) -> None:
    engines: list[SentimentAnalyzer] = [e5, RuleSentiment()]  # mypy checks the protocol
    assert [e.name for e in engines] == ["e5-centroids", "rules"]


def test_rules_batch_and_availability() -> None:
    assert RuleSentiment.availability().ok
    assert RuleSentiment().analyze([]) == []
    labels = [r.label for r in RuleSentiment().analyze(["Ура!", "Увы.", "Дом."])]
    assert labels == ["happy", "sad", "neutral"]


def test_rules_on_the_held_out_set() -> None:
    # The fallback is weaker; this records its floor so regressions show.
    results = RuleSentiment().analyze([text for text, _ in HELD_OUT])
    right = sum(r.label == want for (_, want), r in zip(HELD_OUT, results, strict=True))
    assert right >= 9, right


def test_thinking_cues() -> None:
    assert has_thinking_cue("Может быть, завтра.")
    assert has_thinking_cue("Хм.")
    assert not has_thinking_cue("Хмурое утро.")  # whole words only
    assert not has_thinking_cue("Я знаю ответ.")
