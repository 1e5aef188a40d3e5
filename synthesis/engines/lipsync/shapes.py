"""Russian sounds -> Rhubarb mouth shapes (A-H, X).

The shapes, as Rhubarb Lip Sync defines them, and what maps to them here:

* A  lips closed: п б м (and their soft forms). The closure is the most visible
     event in lip-sync, so every bilabial gets A even when short.
* B  slightly open, teeth nearly together: most consonants (т д н с з ц ч ш щ ж
     к г х р й) and the reduced, close vowels (unstressed и/ы, Rhubarb also uses B
     for English "ee"). Russian ш/ж/щ/ч have some lip protrusion, but Rhubarb
     draws English sh/ch as B too and the difference is small at avatar scale.
* C  open: е/э, full и/ы, and the reduced central vowels (unstressed а/о [ɐ ə]),
     like Rhubarb's AH/EH. Full и/ы get C rather than Rhubarb's B because a
     Russian stressed и/ы is long and the jaw visibly drops under stress; the
     reduced forms stay B.
* D  wide open: stressed (and full) а/я.
* E  slightly rounded: о, ё [ɵ] (Russian о is a rounded mid monophthong, like
     Rhubarb's AO, not the "ow" diphthong that Rhubarb draws with F).
* F  puckered: у/ю and w.
* G  upper teeth on the lower lip: ф в.
* H  tongue raised behind the teeth, mouth open: л (Rhubarb's "L" shape).
* X  rest: pauses and silence.

Unknown symbols fall back by their first letter, then to B: a consonant-like
half-open mouth is the least wrong guess for a sound we cannot identify.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

REST = "X"
DEFAULT_SHAPE = "B"


def _expand(groups: Mapping[str, str]) -> dict[str, str]:
    """{"A": "p pp b"} -> {"p": "A", "pp": "A", "b": "A"} (tables read by shape)."""
    table: dict[str, str] = {}
    for shape, symbols in groups.items():
        for symbol in symbols.split():
            # A symbol listed under two shapes is a typo in a table, not a choice.
            if symbol in table:
                raise ValueError(f"{symbol!r} mapped to both {table[symbol]} and {shape}")
            table[symbol] = shape
    return table


# --- Festival, voice msu_ru_nsh (phone set msu_ru, 51 phones) ---------------
# Doubled vowel = stressed, doubled consonant = palatalized (soft). Softness does
# not change the lip shape, so hard and soft consonants share a shape. Reduced
# vowels: first level a e i y u, second level ae (after a hard consonant, [ə]),
# ay (after a soft one, [ɪ]-like), ur (reduced u, still rounded).
FESTIVAL_RU: dict[str, str] = _expand(
    {
        "X": "pau",
        "A": "p pp b bb m mm",
        "B": "t tt d dd k kk g gg c ch s ss z zz sh sch zh h hh n nn r rr j i y ay",
        "C": "ii yy ee e a ae",
        "D": "aa",
        "E": "oo",
        "F": "uu u ur",
        "G": "f ff v vv",
        "H": "l ll",
    }
)

# --- espeak-ng, Russian voice (phoneme mnemonics of its "ru" table + base1) --
# Phoneme events carry no stress marks, so a vowel's shape cannot depend on
# stress: plain a/A/ja (an [a] in any position) -> D, the reduced letters
# (a# V @ and their variants: [ɐ ə ʌ]) -> C. ";" is the palatalizing glide
# espeak inserts after some soft consonants (r; l; v; ...): tongue, not lips, so B.
# English phonemes appear when espeak switches to English for a Latin word.
ESPEAK_NG: dict[str, str] = _expand(
    {
        "X": "_ _: _! _| _:: _^_ _;_ || _X1",
        "A": "p b m m; m- p; b;",
        "B": (
            "t t; d d; d[ t[ k g x n n_ n# n^ n- N s s; z z; S S; Z Z; ts tS tS; dZ dZ; "
            "r r; R R2 R3 R4 r- j ; h c J C I I# I2 I3 I^ T D"
        ),
        "C": "e E E# E2 E3 E% i i: y Y V V# @ @- a# ja# aI eI",
        "D": "a A ja aa a: aU",
        "E": "o O 8 oU 0 3: OI",
        "F": 'u u# u" u: U ju w',
        "G": "f f; v v; v#",
        "H": "l l; l^ l- L l/ l#",
    }
)

# First-letter fallback for espeak mnemonics missing above (other languages).
_ESPEAK_BY_FIRST: dict[str, str] = _expand(
    {
        "A": "p b m",
        "C": "e E i y @ V 3 I",
        "D": "a A",
        "E": "o O 0 8",
        "F": "u U w W",
        "G": "f v",
        "H": "l L",
        "X": "_",
    }
)


def festival_shape(symbol: str) -> str:
    return FESTIVAL_RU.get(symbol, DEFAULT_SHAPE)


def espeak_shape(symbol: str) -> str:
    if symbol in ESPEAK_NG:
        return ESPEAK_NG[symbol]
    return _ESPEAK_BY_FIRST.get(symbol[:1], DEFAULT_SHAPE)


# Phone sets known to the phoneme lip-sync (SpeechAudio.phone_set values).
PHONE_SETS: dict[str, Callable[[str], str]] = {
    "festival-ru": festival_shape,
    "espeak-ng": espeak_shape,
}


def shape_for_phone(phone_set: str, symbol: str) -> str:
    """Mouth shape of ``symbol``; raises ``KeyError`` for an unknown phone set."""
    return PHONE_SETS[phone_set](symbol)


# --- letters, for the text-only aligner ------------------------------------


@dataclass(frozen=True)
class LetterSound:
    """Approximately what one written letter sounds like: shape and vowel-ness."""

    shape: str
    vowel: bool


def _letters(groups: Mapping[str, str], *, vowel: bool) -> dict[str, LetterSound]:
    return {letter: LetterSound(shape, vowel) for letter, shape in _expand(groups).items()}


# Russian spelling is close to phonemic, so one letter ~ one phone is a fair
# guess. Vowel letters are drawn as if stressed (the aligner cannot know the
# stress): а/я D, о/ё E (unstressed о is really [ɐ], but a rounded mouth reads
# as "o" to a viewer who knows the word), у/ю F, е/э/и/ы C. The j-glide of
# я/е/ё/ю is too short to show. ь/ъ are silent (see SILENT_LETTERS).
LETTERS: dict[str, LetterSound] = {
    **_letters(
        {"D": "а я a", "E": "о ё o", "F": "у ю u", "C": "е э и ы e i y"},
        vowel=True,
    ),
    **_letters(
        {
            "A": "п б м p b m",
            "G": "ф в f v",
            "H": "л l",
            "F": "w",
            "B": "т д н с з ц ч ш щ ж к г х р й c d g h j k n q r s t x z",
        },
        vowel=False,
    ),
}

SILENT_LETTERS = frozenset("ьъ")

# A digit is read as a whole number word ("пять", "семь", "восемь"): about two
# syllables. Digits should be spelled out before TTS; this is only a fallback.
DIGIT_SOUNDS: tuple[LetterSound, ...] = (
    LetterSound("B", vowel=False),
    LetterSound("C", vowel=True),
    LetterSound("B", vowel=False),
    LetterSound("C", vowel=True),
)

UNKNOWN_LETTER = LetterSound(DEFAULT_SHAPE, vowel=False)


def letter_sounds(char: str) -> tuple[LetterSound, ...]:
    """The sounds of one written character (empty for silent ones)."""
    lower = char.lower()
    if lower in SILENT_LETTERS:
        return ()
    if lower in LETTERS:
        return (LETTERS[lower],)
    if char.isdigit():
        return DIGIT_SOUNDS
    if char.isalpha():
        return (UNKNOWN_LETTER,)
    return ()
