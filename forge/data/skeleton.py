"""A text's skeleton: the words it shows a reader, whatever characters spell them (for the gold guard).

NFKC first; then every non-ASCII character that Unicode's confusables table (UTS #39, as the
confusable-homoglyphs package ships it) pairs with an ASCII letter or digit becomes that character
(Cyrillic о and Greek ο both read o), and any other non-ASCII character is transliterated (anyascii:
é -> e, ß -> ss); casefolded and split into words on anything that is not a letter or a digit.
Inside a word that mixes letters and digits, leetspeak digits read as letters (l0ck -> lock,
th3 -> the); numbers (12, 3.5) and a number with a short suffix (10am, 2nd, 5km) stay numbers,
since they are arguments. Finally l and i, which the confusables table pairs with 1 and each
other, read as one letter. Zero-width and other invisible characters vanish in the split.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})
# @ and $ spell letters only next to a letter: "p@ss", "$ave"; "$5" and "me @ home" keep their sense
LEET_SIGNS = re.compile(r"(?<=[a-z])[@$]|[@$](?=[a-z])")
WORD = re.compile(r"[a-z0-9]+")
NUMBER = re.compile(r"\d+(?:st|nd|rd|th|am|pm|s|h|m|k|km|kg|g|x|min)?")
NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "half quarter first second third fourth fifth".split()
)
NUMBER_SKELETONS = frozenset(w.replace("l", "i") for w in NUMBER_WORDS)


@lru_cache(maxsize=1)
def _ascii_confusables() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter or digit the confusables table says it looks like."""
    from confusable_homoglyphs.confusables import confusables_data

    out = {}
    for char, glyphs in confusables_data.items():
        if len(char) == 1 and ord(char) > 127:
            ascii_like = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalnum()]
            if ascii_like:
                out[char] = ascii_like[0]
    return out


@lru_cache(maxsize=65536)
def _char(c: str) -> str:
    from anyascii import anyascii

    return _ascii_confusables().get(c) or anyascii(c)


def _word(word: str) -> str:
    if word.isdigit() or word.isalpha() or NUMBER.fullmatch(word):
        return word.replace("l", "i")
    return word.translate(LEET).replace("l", "i")


def skeleton(text: str) -> tuple[str, ...]:
    """The words `text` shows, folded as the module says."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = "".join(c if c.isascii() else _char(c) for c in text)
    text = LEET_SIGNS.sub(lambda m: "a" if m.group() == "@" else "s", text.casefold())
    return tuple(_word(w) for w in WORD.findall(text))


def is_number(word: str) -> bool:
    """A skeleton word that is an argument's value: digits (with a short suffix) or an English number word."""
    return bool(NUMBER.fullmatch(word)) or word in NUMBER_SKELETONS
