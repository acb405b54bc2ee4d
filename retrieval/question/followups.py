"""Follow-up questions without a model: does a question lean on the previous one ("and who did he meet
there?", "what about Kim?", "when was that?"), and if so, which of that turn's names it is about.

A follow-up is searched as itself plus those names ("who did he meet there?" about Shoigu, Pyongyang),
and shown to the reader as what it was read as being about. The rules are deliberately plain:
connectives that open a follow-up, pronouns and place words that point back, and very short questions,
in the four languages newsqa is asked in.
"""

from __future__ import annotations

import re

from retrieval.models import Turn
from retrieval.question.terms import same_name

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


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _has_name(words: list[str]) -> bool:
    """A capitalised word after the first (the first is capitalised whatever it is), or a number."""
    return any(w[:1].isupper() for w in words[1:]) or any(ch.isdigit() for w in words for ch in w)


def _points_back(question: str, words: list[str]) -> bool:
    lowered = question.casefold()
    return any(w.casefold() in _ANAPHORS for w in words) or any(p in lowered for p in _ANAPHOR_PHRASES)


def leans_on_previous(question: str) -> bool:
    """True when a question cannot stand alone: it opens with a connective, points back with a
    pronoun without naming anything itself, or is a few words with no name."""
    words = _words(question)
    if not words:
        return False
    if _OPENERS.match(question):
        return True
    return (_points_back(question, words) or len(words) <= SHORT_WORDS) and not _has_name(words)


def topic(question: str, own: list[str], previous: Turn | None) -> list[str]:
    """The names a question takes from the previous turn: none when it stands alone, when there is no
    previous turn, or when that turn was small talk or found nothing (an unrelated turn is no context).

    A question naming nothing ("how long did the talks last?") continues the conversation's topic. Only
    the previous turn counts (its topic, never what it took from further back, so nothing accumulates);
    a question with names of its own keeps them and takes only what a pronoun needs; a pronoun may point
    at the previous question's names or at the person a "who" answer named, and so may a question of a
    word or two ("when?")."""
    if previous is None or previous.smalltalk or previous.abstained:
        return []
    words = _words(question)
    if not words:
        return []
    opens = bool(_OPENERS.match(question))
    points_back = _points_back(question, words)
    if own and not points_back and not (opens and len(words) <= SHORT_WORDS + 1):
        return []
    candidates = list(previous.topic)
    if previous.asks == "who" and previous.lead and (points_back or len(words) <= SHORT_WORDS):
        candidates.append(previous.lead)  # "who went with him?" … "and when?": the person the answer named
    return [name for name in dict.fromkeys(candidates) if not any(same_name(name, mine) for mine in own)]
