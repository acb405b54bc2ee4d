"""A question's terms: its content words, names and numbers, folded so that scripts and spellings meet
(Шойгу ~ Shoigu, 15.000 ~ 15000), and whether two names are one (Kim ~ Kim Jong Un, Пхенян ~ Bình Nhưỡng)."""

from __future__ import annotations

import re

from retrieval.question import bridges
from retrieval.text import STOPWORDS, fold_word

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# Honorifics and titles written before a name with a capital ("Ông Lukashenko", "President Putin"): not
# part of the name, and "ông" stands in every other Vietnamese sentence.
TITLES = frozenset(
    fold_word(w)
    for w in ["Ông", "Bà", "Anh", "Chị", "Cô", "Ngài", "Mr", "Mrs", "Ms", "Dr", "Sir", "President", "Minister",
              "Господин", "Госпожа", "Г-н", "Г-жа"]
)
_NAME_TOKEN = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_ALNUM = re.compile(r"[^a-z0-9]")


def folded(word: str) -> str:
    """A word folded for matching; numbers stay as written (fold_word would read 2022 as 202)."""
    if any(ch.isdigit() for ch in word):
        return "".join(ch for ch in word if ch.isdigit())
    return _ALNUM.sub("", fold_word(word))


def content(text: str) -> list[str]:
    """The folded content words of a text (numbers as digits), question scaffolding removed."""
    return [w for w in (folded(m) for m in _TOKEN.findall(text)) if w and w not in STOPWORDS]


def key_terms(text: str) -> list[str]:
    """A question's names and numbers, folded: capitalised words and words with digits."""
    tokens = _TOKEN.findall(text)
    terms = []
    for i, word in enumerate(tokens):
        named = word[0].isupper() and (i > 0 or (len(tokens) > 1 and tokens[1][0].isupper()))
        # A question's first word is capitalised whatever it is: a name only when the next one is too.
        if named or any(ch.isdigit() for ch in word):
            term = folded(word)
            if term and term not in STOPWORDS:
                terms.append(term)
    return list(dict.fromkeys(terms))


def names(text: str) -> list[str]:
    """The names a text mentions, as written: runs of capitalised words (not the sentence's first word
    unless the next is capitalised too), and places in any script."""
    tokens = [(m.group(), m.start(), m.end()) for m in _NAME_TOKEN.finditer(text)]
    found: list[str] = []
    run: list[tuple[str, int, int]] = []

    def close() -> None:
        if run:
            found.append(text[run[0][1] : run[-1][2]])
            run.clear()

    for i, (word, start, end) in enumerate(tokens):
        first = i == 0 and not (len(tokens) > 1 and tokens[1][0][:1].isupper())
        if word[:1].isupper() and not first and fold_word(word) not in STOPWORDS | TITLES:
            run.append((word, start, end))
        else:
            close()
    close()
    return list(dict.fromkeys(found))


def same_name(a: str, b: str) -> bool:
    """Two names for one thing: one's folded words hold the other's (Kim ~ Kim Jong Un), or one place."""
    fa, fb = set(content(a)), set(content(b))
    if fa and fb and (fa <= fb or fb <= fa):
        return True
    pa, pb = bridges.places(a), bridges.places(b)
    return bool(pa & pb)


def found_in(term: str, words: set[str]) -> bool:
    """The folded term is among the folded words, allowing an inflected ending (Пхеньяне ~ Пхенян)."""
    if term in words:
        return True
    if len(term) < 5 or term.isdigit():
        return False
    stem = term[: max(4, len(term) - 2)]
    return any(w.startswith(stem) or (len(w) >= 5 and term.startswith(w[: max(4, len(w) - 2)])) for w in words)
