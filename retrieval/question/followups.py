"""Follow-up questions without a model: does a question lean on the previous one ("and who did he meet
there?", "what about Kim?", "when was that?"), and if so, what to search for instead.

A follow-up is searched as itself plus the previous question's content words ("who did he meet there?
(Shoigu visit Pyongyang)"), with the previous question as an extra query so its passages stay in
reach. The rules are deliberately plain: connectives that open a follow-up, pronouns and place words
that point back, and very short questions, in the four languages newsqa is asked in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from retrieval.text import STOPWORDS, fold_word

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)

# Openings that continue the previous question.
_OPENERS = re.compile(
    r"^\s*(?:and|but|also|so|then|what about|how about|and what about|"
    r"và|còn|thế còn|vậy còn|vậy|rồi|"
    r"а|и|но|ещё|еще|а что|а как|и что|"
    r"ами|също|а какво|а как)\b",
    re.IGNORECASE,
)

# Words that point back at something named earlier (lower-case; Vietnamese ones may span two words).
_ANAPHORS = frozenset(
    """
    he she it they him her them his hers its their theirs that this those these there then
    họ nó ấy đó đấy kia này
    он она оно они его её ее их ему ей им нём нем ней них там тогда это этого этом этот эта эти тот та те того
    той тя то те него нея тях му ѝ им там тогава това този тази тези онзи онази онова
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_ANAPHOR_PHRASES = ("ông ấy", "bà ấy", "anh ấy", "chị ấy", "cô ấy", "ở đó", "khi đó", "lúc đó", "việc đó")

SHORT_WORDS = 3  # a question of at most this many words, none of them a name, needs context


@dataclass(frozen=True)
class Reading:
    """How a question is searched: the text the quotes are ranked for, extra queries whose passages
    are fused in, and `read_as` when a follow-up was read against the previous question."""

    text: str
    queries: tuple[str, ...] = ()
    read_as: str | None = None


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _has_name(words: list[str]) -> bool:
    """A capitalised word after the first (the first is capitalised whatever it is), or a number."""
    return any(w[:1].isupper() for w in words[1:]) or any(ch.isdigit() for w in words for ch in w)


def leans_on_previous(question: str) -> bool:
    """True when a question cannot stand alone: it opens with a connective, points back with a
    pronoun without naming anything itself, or is a few words with no name."""
    words = _words(question)
    if not words:
        return False
    if _OPENERS.match(question):
        return True
    lowered = question.casefold()
    points_back = any(w.casefold() in _ANAPHORS for w in words) or any(p in lowered for p in _ANAPHOR_PHRASES)
    return (points_back or len(words) <= SHORT_WORDS) and not _has_name(words)


def context_words(previous: str, question: str) -> list[str]:
    """The previous question's content words (as written) that the new question does not repeat."""
    have = {fold_word(w) for w in _words(question)}
    kept: dict[str, None] = {}
    for word in _words(previous):
        folded = fold_word(word)
        if folded in STOPWORDS or folded in have or word.casefold() in _ANAPHORS:
            continue
        kept.setdefault(word, None)
    return list(kept)


def read(question: str, previous: str | None) -> Reading:
    """How to search `question` given the previous question of the conversation (None: no history)."""
    if not previous or not leans_on_previous(question):
        return Reading(question)
    extra = context_words(previous, question)
    if not extra:
        return Reading(question)
    read_as = f"{question.strip()} ({' '.join(extra)})"
    return Reading(read_as, queries=(previous,), read_as=read_as)


class Turns(Protocol):
    """What `last_question` needs of a conversation history (retrieval.generate.generation.History has it)."""

    def recent(self) -> list[tuple[str, str]]:
        """The newest turns, oldest first, as (question, answer)."""
        ...


def last_question(history: Turns | None) -> str | None:
    """The newest question of a conversation history (as it was understood), or None."""
    turns = history.recent() if history is not None else []
    return turns[-1][0] if turns else None
