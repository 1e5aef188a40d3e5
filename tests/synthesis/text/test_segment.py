"""Sentence segmentation: whole texts, streaming equivalence, long-sentence cuts."""

from __future__ import annotations

import random

import pytest

from synthesis.text.segment import DEFAULT_MAX_CHARS, SentenceSegmenter, split_sentences

# (text, expected sentences)
SPLIT_CASES: list[tuple[str, list[str]]] = [
    ("Привет! Как дела?", ["Привет!", "Как дела?"]),
    ("Одно предложение без точки", ["Одно предложение без точки"]),
    ("Это т.е. пример. Далее.", ["Это т.е. пример.", "Далее."]),
    ("Это т. е. пример.", ["Это т. е. пример."]),
    ("Яблоки, груши и т.д. Потом овощи.", ["Яблоки, груши и т.д.", "Потом овощи."]),
    ("Яблоки, груши и т. д. и т. п. вещи.", ["Яблоки, груши и т. д. и т. п. вещи."]),
    ("Фрукты и т.п. Овощи.", ["Фрукты и т.п.", "Овощи."]),
    ("Поэты, прозаики и др. Все пришли.", ["Поэты, прозаики и др.", "Все пришли."]),
    ("Он т.к. устал, ушёл.", ["Он т.к. устал, ушёл."]),
    ("Я живу в г. Москва. Там хорошо.", ["Я живу в г. Москва.", "Там хорошо."]),
    ("В 2024 г. было 15% роста, т.е. много!", ["В 2024 г. было 15% роста, т.е. много!"]),
    ("Это случилось в 2024 г. Потом всё изменилось.",
     ["Это случилось в 2024 г.", "Потом всё изменилось."]),
    ("Живёт на ул. Ленина, д. 5. Рядом парк.", ["Живёт на ул. Ленина, д. 5.", "Рядом парк."]),
    ("Музей им. Пушкина открыт.", ["Музей им. Пушкина открыт."]),
    ("Это (см. выше) верно.", ["Это (см. выше) верно."]),
    ("См. Главу 5. Там всё.", ["См. Главу 5.", "Там всё."]),
    ("Длина 5 см. Ширина тоже.", ["Длина 5 см.", "Ширина тоже."]),
    ("Есть фрукты, напр. Яблоки.", ["Есть фрукты, напр. Яблоки."]),
    ("Пришёл проф. Иванов. Он сел.", ["Пришёл проф. Иванов.", "Он сел."]),
    ("Храм св. Николая стоит.", ["Храм св. Николая стоит."]),
    ("Смотри стр. 15 внизу.", ["Смотри стр. 15 внизу."]),
    ("Цена 100 руб. за штуку.", ["Цена 100 руб. за штуку."]),
    ("Цена 100 руб. Это дёшево.", ["Цена 100 руб.", "Это дёшево."]),
    ("А. С. Пушкин родился в Москве.", ["А. С. Пушкин родился в Москве."]),
    ("Автор — Пушкин А.С. и другие.", ["Автор — Пушкин А.С. и другие."]),
    ("Л. Н. Толстой и А.П. Чехов — классики.", ["Л. Н. Толстой и А.П. Чехов — классики."]),
    ("Число пи равно 3.14 примерно.", ["Число пи равно 3.14 примерно."]),
    ("Встреча 12.05.2024 в полдень. Не опаздывай.",
     ["Встреча 12.05.2024 в полдень.", "Не опаздывай."]),
    ("Ну... я подумаю.", ["Ну... я подумаю."]),
    ("Ну… я подумаю.", ["Ну… я подумаю."]),
    ("Ну... Я подумаю.", ["Ну...", "Я подумаю."]),
    ("«Привет!» — сказал он.", ["«Привет!» — сказал он."]),
    ("«Привет! Как дела?» — спросил он.", ["«Привет! Как дела?» — спросил он."]),
    ("\"Привет!\" — сказал он. Она кивнула.", ["\"Привет!\" — сказал он.", "Она кивнула."]),
    ("Он сказал: «Иди домой.» Потом ушёл.", ["Он сказал: «Иди домой.»", "Потом ушёл."]),
    ("Это круто (правда). Да.", ["Это круто (правда).", "Да."]),
    ("Это важно (очень важно!) Запомни.", ["Это важно (очень важно!)", "Запомни."]),
    ("Он ушёл. — Куда? — спросила она.", ["Он ушёл.", "— Куда? — спросила она."]),
    ("Ура!!! Мы победили... Правда?!", ["Ура!!!", "Мы победили...", "Правда?!"]),
    ("Что?! Не может быть!!", ["Что?!", "Не может быть!!"]),
    ("Правда?.. Не знаю.", ["Правда?..", "Не знаю."]),
    ("Привет! 😊 Как дела? 👍🏽", ["Привет! 😊", "Как дела? 👍🏽"]),
    ("Отлично!🎉🎉 Идём дальше.", ["Отлично!🎉🎉", "Идём дальше."]),
    ("Вот ссылка https://ex.com/a.b?c=1. Дальше.", ["Вот ссылка https://ex.com/a.b?c=1.", "Дальше."]),
    ("Было 10. Стало 20.", ["Было 10.", "Стало 20."]),
    ("Роста было 15%. 20% пришлось на март.", ["Роста было 15%.", "20% пришлось на март."]),
    ("Это было в XX в. Потом нет.", ["Это было в XX в.", "Потом нет."]),
    ("Это было в 1990-х гг. Потом всё.", ["Это было в 1990-х гг.", "Потом всё."]),
    ("**Важно!** Не забудь.", ["**Важно!**", "Не забудь."]),
    ("Первый абзац без точки\n\nВторой абзац.", ["Первый абзац без точки", "Второй абзац."]),
    ("Строка обрывается\nпосередине фразы.", ["Строка обрывается посередине фразы."]),
    ("Список:\n- яблоки\n- груши\n\nВсё.", ["Список:", "- яблоки", "- груши", "Всё."]),
    ("План:\n1. Встать.\n2. Умыться\n3. Позавтракать",
     ["План:", "1. Встать.", "2. Умыться", "3. Позавтракать"]),
    ("## Заголовок\nТекст абзаца. Ещё.", ["## Заголовок", "Текст абзаца.", "Ещё."]),
    ("   \n\n  ", []),
    ("!!! ... — 🙂", []),
    ("Да.\n\n---\n\nНет.", ["Да.", "Нет."]),
]


@pytest.mark.parametrize(("text", "expected"), SPLIT_CASES)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def _chunk(text: str, rng: random.Random, max_len: int) -> list[str]:
    chunks: list[str] = []
    i = 0
    while i < len(text):
        size = rng.randint(1, max_len)
        chunks.append(text[i : i + size])
        i += size
    return chunks


def _stream(chunks: list[str], max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    segmenter = SentenceSegmenter(max_chars)
    out: list[str] = []
    for chunk in chunks:
        out.extend(segmenter.feed(chunk))
    return out + segmenter.flush()


ALL_TEXT = "\n\n".join(text for text, _ in SPLIT_CASES) + (
    "\nДлинное предложение, в котором много слов, запятых; и тире — чтобы проверить, "
    "как режется текст при потоковой подаче, причём разрез должен совпадать с тем, "
    "что даёт разбиение целого текста, даже если куски приходят по одному символу, "
    "а буфер обрезается по переводам строк. Конец."
)


@pytest.mark.parametrize(("text", "expected"), SPLIT_CASES)
def test_one_char_chunks_match_whole_text(text: str, expected: list[str]) -> None:
    assert _stream(list(text)) == expected


@pytest.mark.parametrize("seed", range(40))
def test_random_chunkings_match_whole_text(seed: int) -> None:
    rng = random.Random(seed)
    max_chars = rng.choice([40, 80, DEFAULT_MAX_CHARS])
    expected = split_sentences(ALL_TEXT, max_chars)
    assert _stream(_chunk(ALL_TEXT, rng, rng.choice([1, 3, 12])), max_chars) == expected


def test_sentence_is_emitted_only_after_lookahead() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.feed("Привет!") == []
    assert segmenter.feed(" ") == []  # the next sentence might start lowercase
    assert segmenter.feed("К") == ["Привет!"]
    assert segmenter.feed("ак дела?") == []
    assert segmenter.flush() == ["Как дела?"]


def test_abbreviation_waits_for_the_next_word() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.feed("Это было в 2024 г. ") == []
    assert segmenter.feed("было") == []
    assert segmenter.feed(" хорошо. Да") == ["Это было в 2024 г. было хорошо."]


def test_list_items_are_emitted_as_they_finish() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.feed("Шаги:\n- первый") == ["Шаги:"]
    assert segmenter.feed("\n- второй\n") == ["- первый"]
    assert segmenter.flush() == ["- второй"]


def test_segmenter_is_reusable_after_flush() -> None:
    segmenter = SentenceSegmenter()
    segmenter.feed("Первый ответ. Без конца")
    segmenter.flush()
    assert segmenter.feed("Второй ответ. Ещё") == ["Второй ответ."]
    assert segmenter.flush() == ["Ещё"]


LONG = (
    "Когда мы говорим о больших языковых моделях, важно помнить, что они генерируют "
    "текст по одному токену, и каждое следующее слово зависит от предыдущих; поэтому "
    "длинные фразы без точек встречаются часто — особенно в перечислениях, где модель "
    "увлекается и пишет длинный список через запятую, не останавливаясь ни на секунду, "
    "а синтезатору речи нужно начать говорить как можно раньше, чтобы аватар не молчал"
)


@pytest.mark.parametrize("max_chars", [60, 100, DEFAULT_MAX_CHARS])
def test_long_sentence_is_cut_at_clause_boundaries(max_chars: int) -> None:
    parts = split_sentences(LONG, max_chars)
    assert len(parts) > 1
    assert all(len(part) <= max_chars for part in parts)
    assert " ".join(parts) == LONG  # nothing lost, nothing cut inside a word
    assert all(part.endswith((",", ";")) or part == parts[-1] or part[-1].isalpha()
               for part in parts)
    # Clause punctuation is preferred over a bare space when one is available.
    assert sum(part.endswith((",", ";")) for part in parts[:-1]) >= len(parts[:-1]) // 2


def test_cut_never_splits_a_word_and_prefers_not_to_split_a_number() -> None:
    text = "слово " * 30 + "1 000 000 " + "слово " * 30
    parts = split_sentences(text, 40)
    assert " ".join(parts) == " ".join(text.split())
    assert all(len(part) <= 40 for part in parts)
    assert any("1 000 000" in part for part in parts)  # the digit groups stay together


def test_giant_token_is_cut_hard_only_past_the_hard_limit() -> None:
    blob = "x" * 300
    assert split_sentences(f"Хеш {blob} тут.", 100) == ["Хеш", blob, "тут."]
    huge = "y" * 1000
    parts = split_sentences(huge, 100)
    assert "".join(parts) == huge
    assert max(len(part) for part in parts) == 400


def test_every_sentence_is_stripped_and_speakable() -> None:
    text = "  Да .  \n\n ... \n — \n*  Нет!  \n\n🙂🙂\n"
    parts = split_sentences(text)
    assert parts == ["Да .", "* Нет!"]
    assert all(part == part.strip() and any(ch.isalnum() for ch in part) for part in parts)


def test_too_small_limit_is_rejected() -> None:
    with pytest.raises(ValueError):
        SentenceSegmenter(max_chars=5)


FIRST_LONG = (
    "Я виртуальная собеседница, которая работает прямо на этом компьютере, без интернета и без облака. "
    "Спросите меня о чём угодно."
)


def test_first_sentence_can_be_cut_at_a_clause_for_a_faster_start() -> None:
    pieces = split_sentences(FIRST_LONG, first_max_chars=60)
    assert pieces[0] == "Я виртуальная собеседница,"
    assert pieces[1:] == ["которая работает прямо на этом компьютере, без интернета и без облака.",
                          "Спросите меня о чём угодно."]
    # No clause boundary within the limit: the first one after it.
    assert split_sentences("Сегодня я расскажу вам очень длинную историю про кота, который жил у моря.",
                           first_max_chars=30)[0] == "Сегодня я расскажу вам очень длинную историю про кота,"
    assert split_sentences(FIRST_LONG)[0].endswith("без облака.")


@pytest.mark.parametrize("seed", range(10))
def test_first_sentence_limit_is_the_same_for_any_chunking(seed: int) -> None:
    rng = random.Random(seed)
    seg = SentenceSegmenter(first_max_chars=60)
    out: list[str] = []
    pos = 0
    while pos < len(FIRST_LONG):
        step = rng.randint(1, 7)
        out += seg.feed(FIRST_LONG[pos : pos + step])
        pos += step
    assert out + seg.flush() == split_sentences(FIRST_LONG, first_max_chars=60)
