"""Make an LLM's Russian sentence speakable by Festival (festvox-ru) and espeak-ng.

LLM replies contain digits, dates, units, abbreviations, markdown, emoji, URLs and
Latin words. Festival reads digits and Latin crudely and fails outright on some
Unicode punctuation, so everything is turned into plain Cyrillic words separated by
the few punctuation marks the engines use for prosody (. , ! ? : ;).

The work is a fixed pipeline of pure ``str -> str`` steps; the order matters because
numbers must be read while their context ("2024 г.", "5 руб.", "до 5") is still
intact, and abbreviations only after the numbers have used them.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from num2words import num2words as _num2words

from synthesis.text.segment import is_pictograph

__all__ = [
    "FESTIVAL_UNSAFE_CHARS",
    "cardinal",
    "decimal",
    "normalize_for_speech",
    "ordinal",
    "roman_to_int",
    "sanitize_for_festival",
]

Match = re.Match[str]

# --------------------------------------------------------------------------------------
# Number words
# --------------------------------------------------------------------------------------

# Beyond this num2words' words stop being useful to a listener: read digit by digit.
_MAX_SPOKEN = 10**15
_DIGIT_WORDS = ("ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь",
                "девять")


def _n2w(number: int, **kwargs: object) -> str:
    return str(_num2words(number, lang="ru", **kwargs))


def _digits(digits: str) -> str:
    return " ".join(_DIGIT_WORDS[int(d)] for d in digits if d.isdigit())


def cardinal(number: int, case: str = "n", gender: str = "m") -> str:
    """Cardinal in a case ("n", "g", "d", "a", "i", "p") and gender ("m", "f", "n")."""
    if number < 0:
        return "минус " + cardinal(-number, case, gender)
    if number >= _MAX_SPOKEN:
        return _digits(str(number))
    # num2words applies the gender to every group ("одна миллион"), so only the last
    # group gets it; the thousands get their own (feminine) gender inside num2words.
    high, low = number - number % 1000, number % 1000
    # Counted things are inanimate: accusative "две", not "двух".
    parts = [_n2w(high, case=case, animate=False)] if high else []
    if low or not high:
        parts.append(_n2w(low, case=case, gender=gender, animate=False))
    words = " ".join(parts)
    if 1000 <= number < 2000:  # "тысяча", not "одна тысяча"
        words = re.sub(r"^(?:одна|одной|одну|одною) ", "", words)
    return words


def ordinal(number: int, case: str = "n", gender: str = "m", plural: bool = False) -> str:
    """Ordinal ("первый", "двадцать первого", "девяностых") for an inanimate noun."""
    if number >= _MAX_SPOKEN:
        return _digits(str(number))
    return _n2w(number, to="ordinal", case=case, gender=gender, plural=plural, animate=False)


def _ends_in_one(number: int) -> bool:
    return number % 10 == 1 and number % 100 != 11


def decimal(integer: int, fraction: str, case: str = "n") -> str:
    """decimal(3, "5") -> "три целых пять десятых"; past millionths: digit by digit."""
    if len(fraction) > 6:
        return f"{cardinal(integer, case)} точка {_digits(fraction)}"
    whole_one = {"n": "целая", "a": "целую"}.get(case, "целой")
    whole = whole_one if _ends_in_one(integer) else "целых"
    part = int(fraction)
    denominator = 10 ** len(fraction)
    frac_words = f"{cardinal(part, case, 'f')} {_denominator(denominator, part, case)}"
    return f"{cardinal(integer, case, 'f')} {whole} {frac_words}"


def _denominator(denominator: int, numerator: int, case: str) -> str:
    """ "одна десятая" agrees in case; after other numerators it is a genitive plural
    in any case ("пять десятых", "пяти десятых")."""
    if _ends_in_one(numerator):
        return ordinal(denominator, case, "f")
    return ordinal(denominator, "g", plural=True)


@dataclass(frozen=True)
class _Noun:
    """A counted noun: forms after 1, after 2-4, after 5+ (nominative counting)."""

    one: str
    few: str
    many: str
    gender: str = "m"
    sub: _Noun | None = None  # kopecks for roubles, cents for dollars
    one_accusative: str = ""  # feminine nouns only: "на одну минуту"

    def form(self, number: int, case: str) -> str:
        if case not in ("n", "a"):  # oblique counting: singular after ...1, plural otherwise
            return self.few if _ends_in_one(number) else self.many
        if 11 <= number % 100 <= 14:
            return self.many
        one = self.one_accusative if case == "a" and self.one_accusative else self.one
        return {1: one, 2: self.few, 3: self.few, 4: self.few}.get(number % 10, self.many)


@dataclass(frozen=True)
class _Number:
    negative: bool
    integer: str  # digits only
    fraction: str  # digits after the decimal separator, "" for integers

    @classmethod
    def parse(cls, text: str, negative: bool = False) -> _Number:
        digits = re.sub(r"\s", "", text)
        if digits.count(",") >= 2:
            digits = digits.replace(",", "")
        integer, _, fraction = digits.replace(",", ".").partition(".")
        return cls(negative, integer, fraction)

    def words(self, case: str = "n", gender: str = "m") -> str:
        if self.fraction:
            spoken = decimal(int(self.integer), self.fraction, case)
        elif len(self.integer) > 1 and self.integer.startswith("0"):
            spoken = _digits(self.integer)  # "007", codes
        else:
            spoken = cardinal(int(self.integer), case, gender)
        return f"минус {spoken}" if self.negative else spoken

    def noun(self, noun: _Noun, case: str) -> str:
        # A fraction takes the genitive singular: "три целых пять десятых процента".
        return noun.few if self.fraction else noun.form(int(self.integer), case)


# --------------------------------------------------------------------------------------
# Context: which case a preceding preposition asks for
# --------------------------------------------------------------------------------------

_GENITIVE_WORDS = frozenset(
    {
        "до", "от", "с", "со", "около", "более", "менее", "больше", "меньше", "свыше",
        "из", "без", "для", "после", "кроме", "порядка", "вокруг", "среди", "у", "против",
        "вместо", "возле", "ради", "вне", "внутри", "выше", "ниже", "сверх", "начала",
        "середины", "конца", "минимум", "максимум",
    }
)
_DATIVE_WORDS = frozenset({"к", "ко"})
_PREPOSITIONAL_WORDS = frozenset({"в", "во", "о", "об", "при"})
_ACCUSATIVE_WORDS = frozenset({"на", "за", "про", "через", "по"})
_PREPOSITIONS = _GENITIVE_WORDS | _DATIVE_WORDS | _PREPOSITIONAL_WORDS | _ACCUSATIVE_WORDS
_PREV_WORD = re.compile(r"([^\W\d_]+)[ \t]*$")


def _prev_word(text: str, pos: int) -> str:
    found = _PREV_WORD.search(text[max(0, pos - 30) : pos])
    return found.group(1).lower() if found else ""


def _count_case(text: str, pos: int) -> str:
    """Case for a cardinal: genitive after "до", "около"..., accusative after "на",
    "за"... (it differs only for feminine "одну"); nominative otherwise."""
    word = _prev_word(text, pos)
    if word in _GENITIVE_WORDS:
        return "g"
    return "a" if word in _ACCUSATIVE_WORDS - {"по"} else "n"


def _case_after(word: str, default: str) -> str:
    """Case a preposition gives a year, century or day ("в 2024", "до 5 мая")."""
    if word in _GENITIVE_WORDS:
        return "g"
    if word in _DATIVE_WORDS:
        return "d"
    if word in _PREPOSITIONAL_WORDS:
        return "p"
    if word in _ACCUSATIVE_WORDS:
        return "n"  # inanimate masculine/neuter accusative == nominative
    return default


def _ordinal_case(text: str, pos: int, default: str = "g") -> str:
    """Case for an ordinal at ``pos``; a sentence-initial one is a nominative subject."""
    return _case_after(_prev_word(text, pos), default if text[:pos].strip() else "n")


def _agreement_with_next_word(match: Match, number: int, case: str) -> tuple[str, str]:
    """Guess (case, gender) from the counted noun's ending: "1 книга", "купи 1 книгу",
    "2 минуты", "1 окно". Only 1 and 2 change with gender, and only a few endings are
    unambiguous enough to trust."""
    found = re.match(r"[ \t]*([а-яё]+)", match.string[match.end() :])
    if found is None:
        return case, "m"
    word = found.group(1)
    if _ends_in_one(number) and case in ("n", "a"):
        # Feminine accusative "одну книгу", unless a preposition wants a dative or
        # prepositional masculine ("к 1 дому", "в 1 лесу").
        before = _prev_word(match.string, match.start())
        if word.endswith(("у", "ю")) and before not in _DATIVE_WORDS | _PREPOSITIONAL_WORDS:
            return "a", "f"
        if word.endswith(("а", "я")) and case == "n":
            return case, "f"
        return case, "n" if word.endswith(("о", "е")) and word != "евро" else "m"
    fem_oblique = word.endswith(("и", "ы"))
    if fem_oblique and (_ends_in_one(number) or (number % 10 == 2 and number % 100 != 12)):
        return case, "f"
    return case, "m"
    word = found.group(1)
    if _ends_in_one(number) and case in ("n", "a"):
        if word.endswith(("а", "я") if case == "n" else ("у", "ю")):
            return "f"
        return "n" if word.endswith(("о", "е")) and word != "евро" else "m"
    fem_oblique = word.endswith(("и", "ы"))
    if fem_oblique and (_ends_in_one(number) or (number % 10 == 2 and number % 100 != 12)):
        return "f"
    return "m"


def _kept_period(match: Match) -> str:
    """An abbreviation's period that also ended the sentence must survive expansion."""
    if not match.group().endswith("."):
        return ""
    rest = match.string[match.end() :].lstrip(" \t")
    return "." if not rest or rest[0] == "\n" or rest[0].isupper() else ""


# --------------------------------------------------------------------------------------
# Units, currencies, multipliers
# --------------------------------------------------------------------------------------

_KOPECK = _Noun("копейка", "копейки", "копеек", "f", one_accusative="копейку")
_CENT = _Noun("цент", "цента", "центов")
_PENNY = _Noun("пенс", "пенса", "пенсов")
_ROUBLE = _Noun("рубль", "рубля", "рублей", sub=_KOPECK)
_DOLLAR = _Noun("доллар", "доллара", "долларов", sub=_CENT)
_EURO = _Noun("евро", "евро", "евро", sub=_CENT)
_POUND = _Noun("фунт", "фунта", "фунтов", sub=_PENNY)
_PERCENT = _Noun("процент", "процента", "процентов")
_DEGREE = _Noun("градус", "градуса", "градусов")
_CELSIUS = _Noun("градус Цельсия", "градуса Цельсия", "градусов Цельсия")
_GIGABYTE = _Noun("гигабайт", "гигабайта", "гигабайт")
_MEGABYTE = _Noun("мегабайт", "мегабайта", "мегабайт")
_KILOBYTE = _Noun("килобайт", "килобайта", "килобайт")
_TERABYTE = _Noun("терабайт", "терабайта", "терабайт")
_PERSON = _Noun("человек", "человека", "человек")
_MINUTE = _Noun("минута", "минуты", "минут", "f", one_accusative="минуту")
_SECOND = _Noun("секунда", "секунды", "секунд", "f", one_accusative="секунду")

_UNITS: dict[str, _Noun] = {
    "%": _PERCENT,
    "₽": _ROUBLE, "руб.": _ROUBLE, "руб": _ROUBLE, "р.": _ROUBLE, "RUB": _ROUBLE,
    "коп.": _KOPECK, "коп": _KOPECK,
    "$": _DOLLAR, "долл.": _DOLLAR, "USD": _DOLLAR,
    "€": _EURO, "EUR": _EURO,
    "£": _POUND,
    "°C": _CELSIUS, "°С": _CELSIUS, "°": _DEGREE,
    "км/ч": _Noun("километр в час", "километра в час", "километров в час"),
    "м/с": _Noun("метр в секунду", "метра в секунду", "метров в секунду"),
    "км/с": _Noun("километр в секунду", "километра в секунду", "километров в секунду"),
    "км²": _Noun("квадратный километр", "квадратных километра", "квадратных километров"),
    "м²": _Noun("квадратный метр", "квадратных метра", "квадратных метров"),
    "км": _Noun("километр", "километра", "километров"),
    "м": _Noun("метр", "метра", "метров"),
    "см": _Noun("сантиметр", "сантиметра", "сантиметров"),
    "мм": _Noun("миллиметр", "миллиметра", "миллиметров"),
    "кг": _Noun("килограмм", "килограмма", "килограммов"),
    "г": _Noun("грамм", "грамма", "граммов"),
    "г.": _Noun("грамм", "грамма", "граммов"),  # years took their "г." already
    "мг": _Noun("миллиграмм", "миллиграмма", "миллиграммов"),
    "л": _Noun("литр", "литра", "литров"),
    "мл": _Noun("миллилитр", "миллилитра", "миллилитров"),
    "ч": _Noun("час", "часа", "часов"), "ч.": _Noun("час", "часа", "часов"),
    "мин": _MINUTE,
    "мин.": _MINUTE,
    "сек": _SECOND,
    "сек.": _SECOND,
    "мс": _Noun("миллисекунда", "миллисекунды", "миллисекунд", "f", one_accusative="миллисекунду"),
    "ГБ": _GIGABYTE, "Гб": _GIGABYTE, "GB": _GIGABYTE,
    "МБ": _MEGABYTE, "Мб": _MEGABYTE, "MB": _MEGABYTE,
    "КБ": _KILOBYTE, "Кб": _KILOBYTE, "KB": _KILOBYTE,
    "ТБ": _TERABYTE, "Тб": _TERABYTE, "TB": _TERABYTE,
    "ГГц": _Noun("гигагерц", "гигагерца", "гигагерц"),
    "МГц": _Noun("мегагерц", "мегагерца", "мегагерц"),
    "Гц": _Noun("герц", "герца", "герц"),
    "кВт": _Noun("киловатт", "киловатта", "киловатт"),
    "Вт": _Noun("ватт", "ватта", "ватт"),
    "шт.": _Noun("штука", "штуки", "штук", "f", one_accusative="штуку"),
    "чел.": _PERSON,
}
_CURRENCY_SIGNS = "$€£₽"
_MULTIPLIERS: dict[str, _Noun] = {
    "тыс": _Noun("тысяча", "тысячи", "тысяч", "f", one_accusative="тысячу"),
    "млн": _Noun("миллион", "миллиона", "миллионов"),
    "млрд": _Noun("миллиард", "миллиарда", "миллиардов"),
    "трлн": _Noun("триллион", "триллиона", "триллионов"),
}


def _alternation(keys: list[str]) -> str:
    """Regex alternation, longest first; keys ending in a letter must end a word."""
    parts = []
    for key in sorted(keys, key=len, reverse=True):
        guard = r"(?![^\W_])" if key[-1].isalnum() else ""
        parts.append(re.escape(key) + guard)
    return "(?:" + "|".join(parts) + ")"


_UNIT_RE = _alternation(list(_UNITS))
_MULT_RE = r"(?:тыс\.|(?:млн|млрд|трлн)\.?(?![^\W_]))"
# "1 000 000" (any space kind was normalised to " ") or a plain/decimal number.
_NUM = (
    r"(?:\d{1,3}(?:,\d{3}){2,}(?!\d)"  # "1,000,000": English grouping, 2+ groups only
    r"|\d{1,3}(?: \d{3})+(?:[.,]\d+)?"  # "1 000 000,5": Russian grouping
    r"|\d+(?:[.,]\d+)?)"
)
_SIMPLE_NUM = r"\d+(?:[.,]\d+)?"

# --------------------------------------------------------------------------------------
# Numbers in context: phones, dates, years, centuries, ordinals, times, ranges...
# --------------------------------------------------------------------------------------

_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
           "сентября", "октября", "ноября", "декабря")
_YEAR_WORDS = {
    ("n", False): "год", ("g", False): "года", ("d", False): "году", ("a", False): "год",
    ("i", False): "годом", ("p", False): "году", ("n", True): "годы", ("g", True): "годов",
    ("d", True): "годам", ("a", True): "годы", ("i", True): "годами", ("p", True): "годах",
}
_CENTURY_WORDS = {
    ("n", False): "век", ("g", False): "века", ("d", False): "веку", ("a", False): "век",
    ("i", False): "веком", ("p", False): "веке", ("n", True): "века", ("g", True): "веков",
    ("d", True): "векам", ("a", True): "века", ("i", True): "веками", ("p", True): "веках",
}
# A written year/century word fixes the case: "2024 году" -> prepositional, etc.
_YEAR_WORD_CASES = {
    "год": ("n", False), "года": ("g", False), "году": ("p", False), "годом": ("i", False),
    "годе": ("p", False), "годы": ("n", True), "годов": ("g", True), "годам": ("d", True),
    "годами": ("i", True), "годах": ("p", True),
}
_CENTURY_WORD_CASES = {
    "век": ("n", False), "века": ("g", False), "веке": ("p", False), "веку": ("d", False),
    "веком": ("i", False), "веков": ("g", True), "веках": ("p", True), "векам": ("d", True),
    "веками": ("i", True),
}


def _spell_phone(match: Match) -> str:
    phone = match.group()
    groups = re.findall(r"\d+", phone)
    words = [_digits(g) if g.startswith("0") and len(g) > 1 else cardinal(int(g))
             for g in groups]
    prefix = "плюс " if phone.startswith("+") else ""
    return f" {prefix}{', '.join(words)} "


_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d[\d ()-]{8,}\d|\(?\d{3,4}\)?[ -]?\d{2,3}-\d{2}-\d{2})(?!\d)"
)


def _date_words(day: int, month: int, year: str | None, case: str) -> str:
    words = f"{ordinal(day, case, 'n')} {_MONTHS[month - 1]}"
    if year is not None:
        words += f" {ordinal(int(year), 'g')} года"
    return words


def _numeric_date(match: Match) -> str:
    day, month = int(match["d"]), int(match["m"])
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return match.group()
    case = _ordinal_case(match.string, match.start(), default="n")
    return f" {_date_words(day, month, match['y'], case)}{_kept_period(match)} "


_NUMERIC_DATE = re.compile(
    r"(?<![\w.,])(?P<d>\d{1,2})(?P<sep>[./])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4})(?!\d)"
    r"(?:[ ]?(?:г\.|года(?![^\W_])))?"
)
_ISO_DATE = re.compile(
    r"(?<![\w.,-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\w-])(?:[ ]?(?:г\.|года(?![^\W_])))?"
)


def _day_month(match: Match) -> str:
    day = int(match["d"])
    if not 1 <= day <= 31:
        return match.group()
    case = _ordinal_case(match.string, match.start(), default="n")
    month = _MONTHS.index(match["month"]) + 1
    return f" {_date_words(day, month, match['y'], case)}{_kept_period(match)} "


_DAY_MONTH = re.compile(
    rf"(?<![\w.,])(?P<d>\d{{1,2}}) (?P<month>{'|'.join(_MONTHS)})(?![^\W_])"
    r"(?: (?P<y>\d{4})(?!\d)(?:[ ]?(?:г\.|года(?![^\W_])))?)?"
)


def _span_words(match: Match, nouns: dict[tuple[str, bool], str], convert: Callable[[str], int]
                ) -> str:
    """ "2020–2024 гг." / "XIX–XX вв." -> "с двадцатого по двадцать четвёртый ..." """
    start = ordinal(convert(match["a"]), "g")
    end = ordinal(convert(match["b"]), "n")
    prep = match["prep"]
    lead = f"{prep} " if prep and prep.lower() not in ("в", "во") else ""  # "в" is replaced
    return f" {lead}с {start} по {end} {nouns[('n', False)]}{_kept_period(match)} "


def _single_period_words(
    match: Match, number: int, nouns: dict[tuple[str, bool], str],
    word_cases: dict[str, tuple[str, bool]],
) -> str:
    word = match["word"]
    prep = match["prep"]
    before = prep.lower() if prep else _prev_word(match.string, match.start())
    if word in word_cases:
        case, plural = word_cases[word]
    else:  # an abbreviation: the preposition decides
        at_start = not match.string[: match.start()].strip()
        case, plural = _case_after(before, "n" if at_start else "g"), False
    if case == "p" and before in ("к", "ко", "по"):
        case = "d"
    lead = f"{prep} " if prep else ""
    words = f"{ordinal(number, case, 'm', plural)} {nouns[(case, plural)]}"
    return f" {lead}{words}{_kept_period(match)} "


def _year(match: Match) -> str:
    number = int(match["a"])
    if number < 1000 and match["word"] in ("год", "года", "годы", "годов"):
        return match.group()  # "21 год", "2-3 года": a duration, read as a cardinal later
    if match["b"] is not None:
        return _span_words(match, _YEAR_WORDS, int)
    before = match["prep"] or _prev_word(match.string, match.start())
    if match["word"] == "г." and number < 1000 and before.lower() not in _PREPOSITIONS:
        return match.group()  # "100 г. сахара": grams, not a year
    return _single_period_words(match, number, _YEAR_WORDS, _YEAR_WORD_CASES)


_YEAR = re.compile(
    r"(?<![\w.,])(?:(?P<prep>[Вв]о?|[Сс]|[Кк]|[Дд]о|[Пп]о|[Оо]т|[Нн]а|[Зз]а) )?"
    r"(?P<a>\d{1,4})(?:[ ]?[-–—][ ]?(?P<b>\d{1,4}))?[ ]?"
    r"(?P<word>гг\.|г\.|годами|годам|годах|годов|годы|годом|году|года|годе|год)(?![^\W_])"
)

_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def roman_to_int(roman: str) -> int | None:
    """Value of a well-formed Roman numeral (round-trip checked), else None."""
    if not roman or any(ch not in _ROMAN_VALUES for ch in roman):
        return None
    total = 0
    for ch, nxt in zip(roman, roman[1:] + " ", strict=True):
        value = _ROMAN_VALUES[ch]
        total += -value if nxt in _ROMAN_VALUES and _ROMAN_VALUES[nxt] > value else value
    return total if 0 < total < 4000 and _int_to_roman(total) == roman else None


def _int_to_roman(number: int) -> str:
    out = []
    for value, symbol in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"),
                          (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"),
                          (4, "IV"), (1, "I")):
        count, number = divmod(number, value)
        out.append(symbol * count)
    return "".join(out)


def _century_number(token: str) -> int:
    return int(token) if token.isdigit() else roman_to_int(token) or 0


def _century(match: Match) -> str:
    tokens = [t for t in (match["a"], match["b"]) if t is not None]
    if any(_century_number(t) == 0 for t in tokens):
        return match.group()
    if match["b"] is not None:
        return _span_words(match, _CENTURY_WORDS, _century_number)
    number = _century_number(match["a"])
    return _single_period_words(match, number, _CENTURY_WORDS, _CENTURY_WORD_CASES)


_CENTURY = re.compile(
    r"(?<![\w.,])(?:(?P<prep>[Вв]о?|[Сс]|[Кк]|[Дд]о|[Пп]о|[Оо]т) )?"
    r"(?P<a>[IVXLC]+|\d{1,2})(?:[ ]?[-–—][ ]?(?P<b>[IVXLC]+|\d{1,2}))?[ ]?"
    r"(?P<word>вв\.|в\.|веками|векам|веках|веков|века|веке|веку|веком|век)(?![^\W_])"
)

# Ordinal suffix -> (case, gender, plural) it shows: "1-й", "2-го", "3-я", "90-х".
_SUFFIXES: dict[str, tuple[str, str, bool]] = {
    "й": ("n", "m", False), "ый": ("n", "m", False), "ий": ("n", "m", False),
    # "-ой" is "второй" (masc. nominative) or "первой" (fem. oblique); the feminine
    # genitive reading yields the right word for both.
    "ой": ("g", "f", False),
    "я": ("n", "f", False), "ая": ("n", "f", False), "яя": ("n", "f", False),
    "е": ("n", "n", False), "ое": ("n", "n", False), "ее": ("n", "n", False),
    "ые": ("n", "m", True), "ие": ("n", "m", True),
    "го": ("g", "m", False), "ого": ("g", "m", False), "его": ("g", "m", False),
    "му": ("d", "m", False), "ому": ("d", "m", False), "ему": ("d", "m", False),
    "м": ("p", "m", False), "ом": ("p", "m", False), "ем": ("p", "m", False),
    "ым": ("i", "m", False), "им": ("i", "m", False),
    "х": ("g", "m", True), "ых": ("g", "m", True), "их": ("g", "m", True),
    "ми": ("i", "m", True), "ыми": ("i", "m", True), "ими": ("i", "m", True),
    "ю": ("a", "f", False), "ую": ("a", "f", False), "юю": ("a", "f", False),
}


def _is_decade(match: Match, number: int) -> bool:
    """ "1990-е", "в 90-е", "90-е годы" are plural decades, "21-е" is neuter singular."""
    follows_year = match.string[match.end() :].lstrip().startswith(("год", "гг"))
    if follows_year or (number >= 1000 and number % 10 == 0):
        return True
    in_prep = _prev_word(match.string, match.start()) in ("в", "во")
    return in_prep and number % 10 == 0 and 20 <= number <= 90


def _ordinal_suffix(match: Match) -> str:
    number = int(match["n"])
    case, gender, plural = _SUFFIXES[match["suf"]]
    if match["suf"] == "е" and _is_decade(match, number):
        plural = True
    if match["suf"] == "й" and _FEMININE_OBLIQUE_NEXT.match(match.string, match.end()):
        case, gender = "g", "f"  # "в 1-й главе": feminine oblique forms all read "первой"
    if plural and case == "g" and _prev_word(match.string, match.start()) in \
            _PREPOSITIONAL_WORDS | {"на"}:
        case = "p"  # "в 90-х годах": same ordinal form, but the year word differs
    words = ordinal(number, case, gender, plural)
    if match["word"]:
        words += " " + _YEAR_WORDS[(case, plural or match["word"] == "гг.")]
    return f" {words}{_kept_period(match)} "


_FEMININE_OBLIQUE_NEXT = re.compile(r"[ \t]*[а-яё]+(?:е|и|ы|ой|ей)(?![а-яё])")
_ORDINAL = re.compile(
    r"(?<![\w.,])(?P<n>\d+)[ ]?[-–](?P<suf>"
    + "|".join(sorted(_SUFFIXES, key=len, reverse=True))
    + r")(?![а-яё])(?:[ ]?(?P<word>гг\.|г\.))?"
)


def _name_with_roman(match: Match) -> str:
    """ "Пётр I" -> "Пётр первый", "Екатерина II" -> "Екатерина вторая"."""
    number = roman_to_int(match["r"])
    if number is None:
        return match.group()
    name = match["name"]
    gender = "f" if name.endswith(("а", "я")) else "m"
    return f"{name} {ordinal(number, 'n', gender)}"


# A lone "X" or "V" after a capitalised word is more often a letter ("Буква X") than
# a regnal number; "I" after a name is almost always "первый".
_NAME_ROMAN = re.compile(r"(?<![\w])(?P<name>[А-ЯЁ][а-яё]{2,}) (?P<r>I|[IVX]{2,4})(?![\w])")
_BARE_ROMAN = re.compile(r"(?<![\w])[IVX]{2,6}(?![\w])")


def _bare_roman(match: Match) -> str:
    number = roman_to_int(match.group())
    return match.group() if number is None else cardinal(number)


def _time(match: Match) -> str:
    case = _count_case(match.string, match.start())
    parts = [cardinal(int(match["h"]), case)]
    for group in ("m", "s"):
        value = match[group]
        if value is None:
            continue
        if value == "00":
            parts.append("ноль ноль")
        else:
            zero = "ноль " if value.startswith("0") else ""
            parts.append(zero + cardinal(int(value), case, "f"))
    return f" {' '.join(parts)} "


_TIME = re.compile(
    r"(?<![\d:.,])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?(?![\d:])"
)


def _fraction(match: Match) -> str:
    top, bottom = int(match["a"]), int(match["b"])
    if bottom == 0:
        return match.group()
    if (top, bottom) == (24, 7):
        return " двадцать четыре на семь "  # the idiom, not a fraction
    case = _count_case(match.string, match.start())
    return f" {cardinal(top, case, 'f')} {_denominator(bottom, top, case)} "


_FRACTION = re.compile(r"(?<![\w/.,])(?P<a>\d{1,3})/(?P<b>\d{1,3})(?![\w/]|[.,]\d)")


def _dotted(match: Match) -> str:
    """Versions and addresses: "3.11.2" -> "три точка одиннадцать точка два"."""
    return " " + " точка ".join(_Number.parse(part).words() for part in match.group().split(".")) \
        + " "


_DOTTED = re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w]|\.\d)")
_VERSION = re.compile(r"(?<=[A-Za-z])[ ]?(\d+)\.(\d+)(?![\d.,]\d)")


def _range(match: Match) -> str:
    """ "5-7" -> "пять-семь", the way a range is said aloud; the unit agrees with 7."""
    case = _count_case(match.string, match.start())
    low, high = _Number.parse(match["a"]), _Number.parse(match["b"])
    unit = _UNITS.get(match["unit"] or "")
    if unit is not None:
        gender = unit.gender
    else:
        case, gender = _agreement_with_next_word(match, int(high.integer), case)
    first, second = low.words(case, gender), high.words(case, gender)
    joiner = "-" if " " not in first + second else ", "
    words = f"{first}{joiner}{second}"
    if unit is not None:
        words += " " + high.noun(unit, case)
    return f" {words}{_kept_period(match)} "


_RANGE = re.compile(
    rf"(?<![\w.,\-–—])(?P<a>{_SIMPLE_NUM})[ ]?[-–—][ ]?(?P<b>{_SIMPLE_NUM})"
    rf"(?![\d]|[.,]\d|[ ]?[-–—][ ]?\d)(?:[ ]?(?P<unit>{_UNIT_RE}))?"
)


# "150 ₽/кг" is a price per unit: "сто пятьдесят рублей за килограмм".
_PER_UNIT_WORDS = {"кг": "килограмм", "г": "грамм", "л": "литр", "м": "метр", "шт": "штуку",
                   "ч": "час", "час": "час", "мес": "месяц", "день": "день", "сутки": "сутки",
                   "год": "год", "чел": "человека", "мин": "минуту"}
_PER_UNIT = re.compile(
    r"(?:(?<=[₽$€£])|(?<=руб\.)|(?<=руб)|(?<=р\.))[ ]?/[ ]?(?P<u>"
    + "|".join(sorted(_PER_UNIT_WORDS, key=len, reverse=True)) + r")\.?(?![^\W_])"
)


def _money_with_subunit(number: _Number, unit: _Noun, case: str) -> str | None:
    """ "100,50 руб." -> "сто рублей пятьдесят копеек" (only for exactly two decimals)."""
    if unit.sub is None or len(number.fraction) != 2:
        return None
    main = _Number(number.negative, number.integer, "")
    cents = int(number.fraction)
    sub = unit.sub
    return (f"{main.words(case, unit.gender)} {main.noun(unit, case)} "
            f"{cardinal(cents, case, sub.gender)} {sub.form(cents, case)}")


def _quantity(match: Match) -> str:
    number = _Number.parse(match["num"], match["sign"] == "-")
    case = _count_case(match.string, match.start())
    unit = _UNITS.get(match["pre"] or match["unit"] or "")
    multiplier = _MULTIPLIERS.get((match["mult"] or "").rstrip("."))
    prefix = "плюс " if match["sign"] == "+" else ""
    money = None if multiplier or unit is None else _money_with_subunit(number, unit, case)
    if money is not None:
        words = money
    elif multiplier is not None:
        words = f"{number.words(case, multiplier.gender)} {number.noun(multiplier, case)}"
        words += f" {unit.many}" if unit is not None else ""
    elif unit is not None:
        words = f"{number.words(case, unit.gender)} {number.noun(unit, case)}"
    else:
        value = int(number.integer) if number.integer else 0
        case, gender = _agreement_with_next_word(match, value, case)
        words = number.words(case, gender)
    return f" {prefix}{words}{_kept_period(match)} "


_QUANTITY = re.compile(
    rf"(?:(?P<pre>[{re.escape(_CURRENCY_SIGNS)}])[ ]?)?"
    r"(?:(?<![\w])(?P<sign>[-+]))?"
    rf"(?P<num>{_NUM})(?!\d)"
    rf"(?:[ ]?(?P<mult>{_MULT_RE}))?"
    rf"(?:[ ]?(?P<unit>{_UNIT_RE}))?"
)

# Abbreviations that only make sense before a number ("д. 5", "стр. 12") are read
# before the numbers are: afterwards "д." would be indistinguishable from an initial.
_BEFORE_NUMBER = {
    "д": "дом", "с": "страница", "стр": "страница", "п": "пункт", "т": "том",
    "ч": "часть", "ст": "статья", "гл": "глава", "рис": "рисунок", "табл": "таблица", "кв": "квартира",
    "корп": "корпус",
}
_BEFORE_NUMBER_RE = re.compile(
    r"(?<![\w.])(?<!\d )(?P<a>" + "|".join(sorted(_BEFORE_NUMBER, key=len, reverse=True))
    + r")\.[ ]?(?=\d)"
)

_NUMBER_STEPS: list[tuple[re.Pattern[str], str | Callable[[Match], str]]] = [
    (_BEFORE_NUMBER_RE, lambda m: f"{_BEFORE_NUMBER[m['a']]} "),
    (re.compile(r"№№[ ]?"), " номера "),
    (re.compile(r"[№#][ ]?(?=\d)"), " номер "),
    (re.compile(r"№"), " номер "),
    (re.compile(r"(?<=\d)[ ]?[×xхX*][ ]?(?=\d)"), " на "),
    (re.compile(r"[~≈][ ]?(?=\d)"), " около "),
    (re.compile(r"(?:≤|<=)[ ]?(?=\d)"), " не больше "),
    (re.compile(r"(?:≥|>=)[ ]?(?=\d)"), " не меньше "),
    (re.compile(r"<[ ]?(?=\d)"), " меньше "),
    (re.compile(r">[ ]?(?=\d)"), " больше "),
    (re.compile(r"±[ ]?(?=\d)"), " плюс минус "),
    (_PER_UNIT, lambda m: f" за {_PER_UNIT_WORDS[m['u']]}{_kept_period(m)} "),
    (_PHONE, _spell_phone),
    (_NUMERIC_DATE, _numeric_date),
    (_ISO_DATE, _numeric_date),
    (_DAY_MONTH, _day_month),
    (_YEAR, _year),
    (_CENTURY, _century),
    (_NAME_ROMAN, _name_with_roman),
    (_BARE_ROMAN, _bare_roman),
    (_ORDINAL, _ordinal_suffix),
    (_TIME, _time),
    (_FRACTION, _fraction),
    (_DOTTED, _dotted),
    (_VERSION, lambda m: f" {cardinal(int(m[1]))} точка {_Number.parse(m[2]).words()} "),
    (_RANGE, _range),
    (_QUANTITY, _quantity),
]


def _expand_numbers(text: str) -> str:
    for pattern, replacement in _NUMBER_STEPS:
        text = pattern.sub(replacement, text)
    return text


# --------------------------------------------------------------------------------------
# Abbreviations
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Abbreviation:
    pattern: re.Pattern[str]
    words: str
    may_end_sentence: bool  # keep its period when the sentence ends with it


def _abbr(pattern: str, words: str, *, ends: bool = False, fold: bool = True) -> _Abbreviation:
    guard = r"(?![^\W_])" if pattern[-1].isalpha() else ""
    flags = re.IGNORECASE if fold else 0
    return _Abbreviation(re.compile(rf"(?<![\w\-.]){pattern}{guard}", flags), words, ends)


_ABBREVIATIONS: list[_Abbreviation] = [
    _abbr(r"т\.[ ]?е\.", "то есть"),
    _abbr(r"т\.[ ]?к\.", "так как"),
    _abbr(r"т\.[ ]?д\.", "так далее", ends=True),
    _abbr(r"т\.[ ]?п\.", "тому подобное", ends=True),
    _abbr(r"т\.[ ]?н\.", "так называемый"),
    _abbr(r"т\.[ ]?ч\.", "том числе"),
    _abbr(r"и[ ]др\.", "и другие", ends=True),
    _abbr(r"и[ ]пр\.", "и прочее", ends=True),
    _abbr(r"др\.", "другие", ends=True),
    _abbr(r"напр\.", "например"),
    _abbr(r"см\.", "смотри"),
    _abbr(r"ср\.", "сравни"),
    _abbr(r"ул\.", "улица"),
    _abbr(r"просп\.", "проспект"),
    _abbr(r"пр-т", "проспект"),
    _abbr(r"пер\.", "переулок"),
    _abbr(r"пл\.", "площадь"),
    _abbr(r"обл\.", "область", ends=True),
    _abbr(r"р-н", "район"),
    _abbr(r"проф\.", "профессор"),
    _abbr(r"акад\.", "академик"),
    _abbr(r"доц\.", "доцент"),
    _abbr(r"им\.(?=[ ]?[А-ЯЁ])", "имени", fold=False),
    _abbr(r"св\.(?=[ ]?[А-ЯЁ])", "святой", fold=False),
    _abbr(r"стр\.", "страница"),
    _abbr(r"гл\.", "глава"),
    _abbr(r"рис\.", "рисунок"),
    _abbr(r"табл\.", "таблица"),
    _abbr(r"тел\.", "телефон"),
    _abbr(r"англ\.", "английский"),
    _abbr(r"тыс\.", "тысяч", ends=True),
    _abbr(r"млн\.?", "миллионов", ends=True),
    _abbr(r"млрд\.?", "миллиардов", ends=True),
    _abbr(r"трлн\.?", "триллионов", ends=True),
    _abbr(r"руб\.", "рублей", ends=True),
    _abbr(r"коп\.", "копеек", ends=True),
    _abbr(r"долл\.", "долларов", ends=True),
    _abbr(r"гг\.", "годы", ends=True),
    _abbr(r"вв\.", "века", ends=True),
    _abbr(r"г-н", "господин"),
    _abbr(r"г-жа", "госпожа"),
    _abbr(r"кг", "килограммов"),
    _abbr(r"км", "километров"),
    _abbr(r"мин\.", "минут", ends=True),
    _abbr(r"сек\.", "секунд", ends=True),
    _abbr(r"г\.(?=[ ]?[А-ЯЁ][а-яё])", "город", fold=False),
    _abbr(r"г\.", "год", ends=True, fold=False),
    _abbr(r"etc\.?", "и так далее", ends=True),
    _abbr(r"e\.g\.", "например"),
    _abbr(r"i\.e\.", "то есть"),
    _abbr(r"vs\.?", "против"),
]


def _expand_abbreviations(text: str) -> str:
    for abbreviation in _ABBREVIATIONS:
        def replace(match: Match, abbr: _Abbreviation = abbreviation) -> str:
            period = _kept_period(match) if abbr.may_end_sentence else ""
            return f" {abbr.words}{period} "

        text = abbreviation.pattern.sub(replace, text)
    return text


# --------------------------------------------------------------------------------------
# Acronyms and Latin script
# --------------------------------------------------------------------------------------

_CYRILLIC_LETTER_NAMES = {
    "А": "а", "Б": "бэ", "В": "вэ", "Г": "гэ", "Д": "дэ", "Е": "е", "Ё": "ё", "Ж": "жэ",
    "З": "зэ", "И": "и", "Й": "и краткое", "К": "ка", "Л": "эл", "М": "эм", "Н": "эн",
    "О": "о", "П": "пэ", "Р": "эр", "С": "эс", "Т": "тэ", "У": "у", "Ф": "эф", "Х": "ха",
    "Ц": "цэ", "Ч": "чэ", "Ш": "ша", "Щ": "ща", "Ъ": "твёрдый знак", "Ы": "ы",
    "Ь": "мягкий знак", "Э": "э", "Ю": "ю", "Я": "я",
}
_CYRILLIC_VOWELS = frozenset("АЕЁИОУЫЭЮЯ")
_CYRILLIC_ACRONYMS = {"США": "сэ шэ а", "ООН": "о о эн", "ОАЭ": "о а э"}
# Short words an LLM shouts in capitals; spelling them out would be absurd.
_SHOUTED_WORDS = frozenset(
    {
        "ДА", "НЕ", "НО", "ОН", "МЫ", "ВЫ", "ТЫ", "НА", "ЗА", "ПО", "ДО", "ИЗ", "ОТ", "ЖЕ",
        "ЛИ", "БЫ", "ТО", "ВО", "КО", "СО", "ОБ", "ИХ", "ЕЁ", "ЕЕ", "АХ", "ОХ", "ЭХ", "УЖ",
        "ОЙ", "УХ", "ЭЙ", "НУ", "ВОТ", "ВСЁ", "ВСЕ", "КТО", "ГДЕ", "ЧТО", "ДВА", "ТРИ",
        "СТО", "ВСЕГДА", "ТАК", "ОЧЕНЬ",
    }
)


def _cyrillic_acronym(match: Match) -> str:
    word = match.group()
    if word in _CYRILLIC_ACRONYMS:
        return _CYRILLIC_ACRONYMS[word]
    if word in _SHOUTED_WORDS:
        return word.lower()
    consonant_start = len(word) == 3 and not (_CYRILLIC_VOWELS & set(word[:2]))
    if len(word) <= 2 or not (_CYRILLIC_VOWELS & set(word)) or consonant_start:
        return " ".join(_CYRILLIC_LETTER_NAMES[ch] for ch in word)
    return word.lower()  # pronounceable: "НАТО", "ГОСТ", "МИД"


_CYRILLIC_CAPS = re.compile(r"(?<![\w])[А-ЯЁ]{2,6}(?![\w])")
_INITIAL = re.compile(r"(?<![\w.])([А-ЯЁ])\.(?=[ ]?[А-ЯЁ])|(?<=[А-ЯЁ]\.)[ ]?([А-ЯЁ])\.")


def _initial(match: Match) -> str:
    """ "А. С. Пушкин" -> "а эс Пушкин": a lone capital is read by its letter name."""
    letter = match[1] or match[2]
    period = "." if not match.string[match.end() :].strip() else ""
    return f" {_CYRILLIC_LETTER_NAMES[letter]}{period} "


def _expand_acronyms(text: str) -> str:
    text = _INITIAL.sub(_initial, text)
    return _CYRILLIC_CAPS.sub(_cyrillic_acronym, text)


_LATIN_LETTER_NAMES = {
    "a": "эй", "b": "би", "c": "си", "d": "ди", "e": "и", "f": "эф", "g": "джи", "h": "эйч",
    "i": "ай", "j": "джей", "k": "кей", "l": "эл", "m": "эм", "n": "эн", "o": "оу", "p": "пи",
    "q": "кью", "r": "ар", "s": "эс", "t": "ти", "u": "ю", "v": "ви", "w": "дабл ю",
    "x": "икс", "y": "уай", "z": "зед",
}
# Common words and names whose letter-by-letter transliteration would be unrecognisable.
_LATIN_WORDS = {
    "ok": "окей", "okay": "окей", "python": "пайтон", "django": "джанго",
    "google": "гугл", "apple": "эппл", "iphone": "айфон", "ipad": "айпад", "ios": "ай о эс",
    "android": "андроид", "microsoft": "майкрософт", "windows": "виндоус", "linux": "линукс",
    "github": "гитхаб", "git": "гит", "javascript": "джаваскрипт", "java": "джава",
    "typescript": "тайпскрипт", "chatgpt": "чат джи пи ти", "openai": "опен эй ай",
    "email": "имейл", "e-mail": "имейл", "wi-fi": "вай фай", "wifi": "вай фай",
    "online": "онлайн", "offline": "офлайн", "youtube": "ютуб", "telegram": "телеграм",
    "docker": "докер", "redis": "редис", "postgresql": "постгрес", "postgres": "постгрес",
    "celery": "сельдерей", "react": "риакт", "node.js": "нод джей эс", "c++": "си плюс плюс",
    "c#": "си шарп", "rust": "раст", "golang": "голанг", "excel": "эксель", "word": "ворд",
    "zoom": "зум", "facebook": "фейсбук", "twitter": "твиттер", "yandex": "яндекс",
    "hello": "хэллоу", "hi": "хай", "bye": "бай", "wow": "вау", "yes": "ес", "no": "ноу",
    "the": "зе", "and": "энд", "of": "оф", "to": "ту", "in": "ин", "is": "из", "it": "ит",
    "app": "апп", "web": "веб", "chat": "чат", "bot": "бот", "server": "сервер",
    "cloud": "клауд", "machine": "машин", "learning": "лёрнинг", "deep": "дип",
    "data": "дата", "science": "сайенс", "smart": "смарт", "computer": "компьютер",
    "software": "софтвер", "hardware": "хардвер", "like": "лайк", "game": "гейм",
    "festival": "фестиваль", "unity": "юнити", "nvidia": "энвидиа", "intel": "интел",
    "amd": "эй эм ди", "mac": "мак", "macos": "мак о эс", "ubuntu": "убунту",
    "debian": "дебиан", "coffee": "кофе", "team": "тим", "meeting": "митинг",
    "deadline": "дедлайн", "feedback": "фидбэк", "startup": "стартап", "blockchain": "блокчейн",
    "bitcoin": "биткоин", "covid": "ковид", "sorry": "сорри", "thanks": "сэнкс",
    "please": "плиз", "cool": "кул", "nice": "найс", "good": "гуд", "bad": "бэд",
    "news": "ньюс", "mail": "мейл", "gmail": "джимейл",
}
# Latin acronyms read as English letter names (ID -> "ай ди"); lowercase "it" is a word.
_ACRONYM_OVERRIDES = {"IT": "ай ти", "OK": "окей", "NASA": "наса", "IKEA": "икеа"}
_SPECIAL_LATIN = re.compile(
    r"(?<![A-Za-z0-9])(?:c\+\+|c#|node\.js|wi-fi|e-mail)(?![A-Za-z0-9+#])", re.IGNORECASE
)

_DIGRAPHS = (
    ("tion", "шн"), ("sch", "ш"), ("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("kh", "х"),
    ("ph", "ф"), ("th", "т"), ("ck", "к"), ("qu", "кв"), ("oo", "у"), ("ee", "и"),
    ("ea", "и"), ("ou", "ау"), ("ay", "ей"), ("ai", "ей"), ("ey", "ей"), ("oy", "ой"),
    ("ts", "ц"), ("ya", "я"), ("yu", "ю"), ("yo", "йо"), ("ye", "е"), ("x", "кс"),
    ("j", "дж"), ("w", "в"), ("ce", "се"), ("ci", "си"), ("cy", "си"),
)
_LATIN_LETTERS = str.maketrans("abcdefghiklmnopqrstuvyz", "абкдефгхиклмнопкрстувиз")


def _transliterate(word: str) -> str:
    """Rough English-ish reading of a Latin word in Cyrillic letters."""
    lower = word.lower()
    if len(lower) > 3 and lower.endswith("e") and lower[-2] not in "aeiouy":
        lower = lower[:-1]  # silent final e: "code" -> "код"
    out = "э" + lower[1:] if lower.startswith("e") else lower
    for latin, cyrillic in _DIGRAPHS:
        out = out.replace(latin, cyrillic)
    return out.translate(_LATIN_LETTERS)


def _spell_latin(letters: str) -> str:
    return " ".join(_LATIN_LETTER_NAMES[ch] for ch in letters.lower())


def _latin_part(part: str) -> str:
    """One word or acronym: short capitals are spelled ("IT", "SQL", "HTML"), known
    words looked up ("PYTHON" too), the rest transliterated."""
    lower = part.lower()
    if part in _ACRONYM_OVERRIDES:
        return _ACRONYM_OVERRIDES[part]
    if len(part) == 1 or (part.isupper() and len(part) <= 3):
        return _spell_latin(part)
    if lower in _LATIN_WORDS:
        return _LATIN_WORDS[lower]
    if part.isupper() and len(part) <= 6:
        return _spell_latin(part)
    return _transliterate(part)


def _latin_word(match: Match) -> str:
    word = match.group()
    if word.lower() in _LATIN_WORDS and not word.isupper():
        return f" {_LATIN_WORDS[word.lower()]} "  # "GitHub", "iPhone": before CamelCase
    # CamelCase and acronym+word ("OpenCV", "iPhone15") are read part by part.
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[A-Z]", word)
    return " " + " ".join(_latin_part(part) for part in parts) + " "


_LATIN_WORD = re.compile(r"[A-Za-z]+")


def _expand_latin(text: str) -> str:
    text = _SPECIAL_LATIN.sub(lambda m: f" {_LATIN_WORDS[m.group().lower()]} ", text)
    return _LATIN_WORD.sub(_latin_word, text)


# --------------------------------------------------------------------------------------
# Markup, links, emoji
# --------------------------------------------------------------------------------------

_MARKDOWN_STEPS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?m)^[ \t]*(?:```|~~~).*$"), ""),  # code fences and their language tag
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images: keep the text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"(?m)^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$"), ""),  # horizontal rules
    (re.compile(r"(?m)^[ \t]*#{1,6}[ \t]+"), ""),
    (re.compile(r"(?m)^[ \t]*(?:>[ \t]?)+"), ""),
    (re.compile(r"(?m)^[ \t]*(?:[-*+•·‣▪●]|\d{1,3}[.)])[ \t]+"), ""),
    (re.compile(r"(\*\*|__|~~)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?![\s*])(.+?)(?<![\s*])\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w])_(?![\s_])(.+?)(?<![\s_])_(?![\w])"), r"\1"),
]


def _strip_markdown(text: str) -> str:
    for pattern, replacement in _MARKDOWN_STEPS:
        text = pattern.sub(replacement, text)
    return text


_TLD_WORDS = {"ru": "ру", "com": "ком", "org": "орг", "net": "нет", "io": "ай о",
              "рф": "эр эф", "ai": "эй ай", "dev": "дев", "me": "ми", "info": "инфо",
              "su": "эс ю", "app": "апп"}
_URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>«»\"]*[^\s<>«»\".,!?;:)\]]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DOMAIN = re.compile(r"(?<![\w@.])([A-Za-z0-9-]+)\.(" + "|".join(_TLD_WORDS) + r")(?![\w.])")


def _replace_links(text: str) -> str:
    text = _URL.sub(" ссылка ", text)
    text = _EMAIL.sub(" адрес почты ", text)
    return _DOMAIN.sub(lambda m: f" {m[1]} точка {_TLD_WORDS[m[2]]} ", text)


_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")


def _strip_html(text: str) -> str:
    return html.unescape(_HTML_TAG.sub(" ", text))


def _remove_pictographs(text: str) -> str:
    return "".join(" " if is_pictograph(ch) else ch for ch in text)


_SPACES = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000\t]")
_INVISIBLE = re.compile(r"[\u00ad\u200b\u200c\u200e\u200f\u2060\ufeff]")


def _prepare(text: str) -> str:
    """Unicode clean-up: compose, drop stress marks and controls, unify spaces/minus."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn" or ord(ch) >= 0xFE00)
    text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    text = text.replace("\r", "\n").replace("−", "-")
    text = re.sub(r"(?<=\s)-(?=\s)", "—", text)  # a spaced hyphen is a dash: a pause
    return "".join(ch if ch == "\n" or unicodedata.category(ch) != "Cc" else " " for ch in text)


# --------------------------------------------------------------------------------------
# Symbols, punctuation and the Festival-safe character set
# --------------------------------------------------------------------------------------

_SYMBOL_WORDS = {
    "&": " и ", "+": " плюс ", "=": " равно ", "^": " в степени ", "§": " параграф ",
    "°": " градусов ", "%": " процентов ", "‰": " промилле ", "@": " ", "#": " ",
}
_SYMBOLS = str.maketrans(_SYMBOL_WORDS)

# Characters Festival (festvox-ru) chokes on or that would break a Scheme string
# literal, each with its safe reading: quotes vanish, dashes and brackets become the
# pause they mark, the rest become words or spaces.
_FESTIVAL_MAP: dict[str, str] = {
    "«": "", "»": "", "„": "", "“": "", "”": "", '"': "", "'": "", "’": "", "‘": "", "`": "",
    "—": ",", "–": ",", "‒": ",", "―": ",", "…": ".", "(": ",", ")": ",", "[": ",",
    "]": ",", "{": ",", "}": ",", "|": ",", "\\": " ", "/": " ", "<": " ", ">": " ",
    "*": " ", "_": " ", "~": " ", **_SYMBOL_WORDS,
}
FESTIVAL_UNSAFE_CHARS: frozenset[str] = frozenset(_FESTIVAL_MAP)
_FESTIVAL_TABLE = str.maketrans(_FESTIVAL_MAP)
_NOT_ALLOWED = re.compile(r"[^а-яёА-ЯЁa-zA-Z0-9 .,!?:;\-]")
_STRAY_HYPHEN = re.compile(r"(?<![^\W_])-|-(?![^\W_])")
_PUNCT_RUN = re.compile(r"[.,!?:;](?:[ ]?[.,!?:;])+")
_PUNCT_STRENGTH = "?!.;:,"


def _strongest(match: Match) -> str:
    marks = match.group().replace(" ", "")
    return min(marks, key=_PUNCT_STRENGTH.index)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" (?=[.,!?:;])", "", text)
    text = _PUNCT_RUN.sub(_strongest, text)
    text = re.sub(r"([.,!?:;])(?=[^\W\d_])", r"\1 ", text)
    text = re.sub(r"^[ .,!?:;-]+", "", text)
    return re.sub(r"[ ,-]+$", "", text).strip()


def sanitize_for_festival(text: str) -> str:
    """Defensive last pass: only Cyrillic/Latin letters, digits, spaces and . , ! ? : ; -.

    Safe to run on already-normalized text (it changes nothing there) and on raw text
    (it will not make it readable, but Festival will not fail on it).
    """
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    text = text.translate(_FESTIVAL_TABLE)
    text = _STRAY_HYPHEN.sub(" ", text)
    text = _NOT_ALLOWED.sub(" ", text)
    return _tidy(text)


def _speak_symbols(text: str) -> str:
    return text.translate(_SYMBOLS)


def _ellipses(text: str) -> str:
    """ "Ну... я подумаю" pauses (comma); an ellipsis at a sentence end ends it."""
    text = re.sub(r"(?:\.{2,}|…)+(?=[ \"'»”)]*[а-яёa-z])", ", ", text)
    return re.sub(r"\.{2,}|…", ".", text)


_SPEAKABLE = re.compile(r"[A-Za-zА-Яа-яЁё0-9]")


def _fallback(original: str) -> str:
    """Never return silence for text that had letters or digits in it."""
    tokens = re.findall(r"[A-Za-zА-Яа-яЁё]+|\d", original)
    words = [_DIGIT_WORDS[int(t)] if t.isdigit() else t for t in tokens]
    return sanitize_for_festival(_expand_latin(" ".join(words)))


# Markup removal first: what survives it is the content that must not become silence.
_CLEANUP: tuple[Callable[[str], str], ...] = (
    _prepare,
    _replace_links,
    _strip_html,
    _strip_markdown,
    _remove_pictographs,
)
_VERBALIZE: tuple[Callable[[str], str], ...] = (
    _expand_numbers,
    _expand_abbreviations,
    _expand_acronyms,
    _expand_latin,
    _speak_symbols,
    _ellipses,
    sanitize_for_festival,
)


def normalize_for_speech(text: str) -> str:
    """Turn one reply sentence into plain speakable Russian for Festival / espeak-ng.

    Pure and deterministic. Returns "" only when the input had nothing speakable
    (no letters or digits: whitespace, punctuation, emoji).
    """
    content = text
    for step in _CLEANUP:
        content = step(content)
    result = content
    for step in _VERBALIZE:
        result = step(result)
    if not re.search(r"[^\W\d_]", result) and _SPEAKABLE.search(content):
        result = _fallback(content)
    return result
