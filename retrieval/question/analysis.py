"""The question analysed once: `analyse(text, thread)` gives the `Question` every later stage reads (search,
ranking, the extractive answer, generation and the front ends), as llama-index passes a `QueryBundle`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from retrieval.models import Question, Turn
from retrieval.question import bridges, followups, smalltalk
from retrieval.question.language import question_language
from retrieval.question.qtypes import question_type
from retrieval.question.terms import content, key_terms, names

# "how long" asks for a span of time, not a count: its answer needs a unit of time.
_DURATION = re.compile(r"\bhow long\b|bao lâu|колко (?:време|дълго|продължи)|сколько (?:времени|длил)|как долго"
                       r"|\bпродължи\b|\bдлил", re.I)

# Asking for the news as it stands: newer articles first (the words readers use in the four languages).
_RECENT = re.compile(
    r"\b(?:latest|newest|most recent|recent(?:ly)?|today|tonight|this week|so far this)\b"
    r"|mới nhất|gần đây|hôm nay|tuần này|mới đây"
    r"|(?<!\w)(?:последни[еяйх]?|последните|сегодня|днес|свежи[ея]?|на этой неделе|тази седмица|новейши)",
    re.I,
)


def asks_recent(text: str) -> bool:
    """Whether a question asks for the latest news ("latest", "today", "mới nhất", "последние", "последни")."""
    return bool(_RECENT.search(text))


# What "what's the latest news?" says besides asking for it, folded: a question of these words alone names no
# subject, and is answered by the newest articles rather than by a search for the words.
_NEWS_WORDS = frozenset(
    content(
        "latest newest recent recently today tonight week news headlines happening happened going new update updates "
        "story stories anything there "
        "tin tức mới nhất gần đây hôm nay tuần này thời sự có gì xảy ra "
        "какви какво последни последните новини новините днес тази седмица ново става случва "
        "какие какая последние новости сегодня этой неделе нового свежие происходит случилось"
    )
)


def asks_headlines(text: str) -> bool:
    """Whether a question asks for the news as it stands and nothing else ("what's the latest news?")."""
    return asks_recent(text) and not key_terms(text) and set(content(text)) <= _NEWS_WORDS


def analyse(text: str, thread: Sequence[Turn] = ()) -> Question:
    """The question as every stage needs it, read against the conversation so far (oldest turn first)."""
    text = text.strip()
    chat = smalltalk.detect(text)
    language = question_language(text)
    if chat is not None:
        return Question(text=text, language=chat.language if chat.language != "und" else language,
                        smalltalk=chat.kind, search=text)
    own = names(text)
    previous = thread[-1] if thread else None
    headlines = asks_headlines(text)
    # "And what's the latest?" asks for the news, not for more of the previous turn's subject.
    topic = [] if headlines else followups.topic(text, own, previous)
    search = " ".join([text, *topic]) if topic else text
    # ...and as written, fused in: "how long did the meeting last?" is answered by a sentence that names
    # no one, which the topic's names would push down.
    queries = [text] if topic else []
    seen = list(dict.fromkeys(quote for turn in thread for quote in turn.shown))
    return Question(
        text=text,
        language=language,
        asks=question_type(text),
        duration=bool(_DURATION.search(text)),
        terms=key_terms(text),
        names=own,
        words=list(dict.fromkeys(content(text))),
        dates=sorted(bridges.dates(text)),
        places=sorted(bridges.places(text)),
        numbers=sorted(bridges.numbers(text)),
        topic=topic,
        search=search,
        queries=queries,
        seen=seen,
        recent=asks_recent(text),
        headlines=headlines,
    )
