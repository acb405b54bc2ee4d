"""Text normalisation shared by lexical search, sentence scoring and answer checking.

Folding to ASCII lets names written in different scripts meet (Шойгу → shoigu, Soigu → soigu),
and character n-grams let inflected or respelled forms overlap (Курска ~ Kursk).
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_DIGIT_GROUP = re.compile(r"(?<=\d)[.,\u00a0\u202f ](?=\d{3}\b)")

# Words too common to carry meaning in the languages users ask in. Kept short on purpose:
# BM25's idf already discounts frequent words; this only removes question scaffolding.
STOPWORDS = frozenset(
    """
    a an the of in on at to for from by with and or is are was were be been did do does what
    when where who whom which why how many much this that these those it its as into about
    has have had will would can could their his her they he she there than then
    va cua la cac nhung mot cho voi trong tai khi da duoc nay do ai gi nao bao nhieu dau
    ve den tu theo cung co khong nhu thi ma se
    i v na za s ot do po ot kak koga kakvo koi koya koe kade li se e sa bil bila bilo kolko
    chto kto gde kogda skolko ili eto ne ot kotoryi
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def strip_marks(text: str) -> str:
    """Remove diacritics, keeping base letters (Bình Nhưỡng → Binh Nhuong, đ → d)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def fold_word(word: str) -> str:
    """One word to lower-case ASCII, with spelling variants collapsed (y→i, doubled letters)."""
    ascii_word = anyascii(strip_marks(word)).lower()
    ascii_word = ascii_word.replace("y", "i")
    return re.sub(r"(.)\1+", r"\1", ascii_word)


def words(text: str) -> list[str]:
    """The folded words of a text, in order."""
    return [w for w in (fold_word(m) for m in _WORD.findall(text)) if w]


def content_words(text: str) -> list[str]:
    """Folded words minus question scaffolding."""
    return [w for w in words(text) if w not in STOPWORDS]


def lexical_tokens(text: str) -> list[str]:
    """Tokens for BM25: folded content words plus the 4-grams of longer words."""
    tokens: list[str] = []
    for word in content_words(text):
        tokens.append(word)
        if len(word) >= 5 and not word.isdigit():
            tokens.extend(f"#{word[i : i + 4]}" for i in range(len(word) - 3))
    return tokens


def normalize_for_match(text: str) -> str:
    """Case-, diacritic- and digit-grouping-insensitive form used to check expected answers."""
    text = _DIGIT_GROUP.sub("", strip_marks(text).casefold())
    return " ".join(_WORD.findall(text))


def contains_answer(haystack: str, needle: str) -> bool:
    """True when `needle` appears in `haystack`, compared by `normalize_for_match`."""
    wanted = normalize_for_match(needle)
    return bool(wanted) and f" {wanted} " in f" {normalize_for_match(haystack)} "


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate (3 characters a token): tiktoken's vocabularies would
    need a download, and Vietnamese or Cyrillic text takes more tokens per character than English."""
    return math.ceil(len(text) / 3)
