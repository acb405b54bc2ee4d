"""Sentence-aware chunking: a few consecutive sentences per chunk, every piece with its offsets."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from retrieval.models import Article, Chunk, Sentence

# A sentence ends at . ! ? … (plus closing quotes/brackets) followed by space and then a capital,
# a digit or an opening quote (checked on the next character, so any script works).
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"”»’)\]]*\s+")
# Abbreviations and initials that end with a dot but do not end a sentence.
_ABBREVIATION = re.compile(
    r"\b(?:St|Mr|Mrs|Ms|Dr|Prof|Gen|Col|Lt|Sgt|Jr|Sr|No|Vol|vs|etc|TP|ThS|TS|PGS|GS|Th|г|ул|проф|д-р"
    r"|[A-ZÀ-ỸА-Я])\.$"
)


def split_sentences(text: str, start: int, end: int) -> Iterator[Sentence]:
    """The sentences of `text[start:end]`, as spans of `text`."""
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        following = text[match.end() : match.end() + 1]
        before = text[cursor : match.start()]
        if not following or not (following.isupper() or following.isdigit() or following in '"“«‘('):
            continue
        if _ABBREVIATION.search(before.rstrip('"”»’)]')):
            continue
        piece_end = match.end() - len(match.group()) + len(match.group().rstrip())
        if text[cursor:piece_end].strip():
            yield Sentence(start=cursor, end=piece_end, text=text[cursor:piece_end])
        cursor = match.end()
    if text[cursor:end].strip():
        yield Sentence(start=cursor, end=end, text=text[cursor:end])


def article_sentences(article: Article) -> list[Sentence]:
    """Every sentence of the article body, in reading order."""
    return list(_sentences(article))


def _sentences(article: Article) -> Iterator[Sentence]:
    for span in article.body:
        yield from split_sentences(article.text, span.start, span.end)


def chunk_id(article_id: str, start: int, text: str) -> str:
    """Content-derived id: the same text at the same place always gets the same id."""
    return hashlib.sha1(f"{article_id}\x00{start}\x00{text}".encode()).hexdigest()[:24]


def chunk_article(
    article: Article, max_chars: int = 600, max_sentences: int = 5, max_chunks: int | None = None
) -> list[Chunk]:
    """Group consecutive sentences into chunks of at most `max_chars` (a longer sentence stands alone);
    with `max_chunks`, only the first that many (the rest of the text is not even split)."""
    groups: list[list[Sentence]] = []
    current: list[Sentence] = []
    for sentence in _sentences(article):
        size = sentence.end - current[0].start if current else 0
        if current and (size > max_chars or len(current) >= max_sentences):
            groups.append(current)
            current = []
            if max_chunks is not None and len(groups) >= max_chunks:
                break
        current.append(sentence)
    if current and (max_chunks is None or len(groups) < max_chunks):
        groups.append(current)

    chunks = []
    for position, group in enumerate(groups):
        start, end = group[0].start, group[-1].end
        # Join the sentences, not the raw range: the range may span dropped debris lines.
        text = "\n".join(_join_lines(article.text, group))
        cursor = 0
        for sentence in group:
            sentence.offset = text.index(sentence.text, cursor)
            cursor = sentence.offset + len(sentence.text)
        chunks.append(
            Chunk(
                id=chunk_id(article.id, start, text),
                article_id=article.id,
                position=position,
                start=start,
                end=end,
                text=text,
                sentences=group,
                title=article.title,
                language=article.language,
                published=article.published,
                source=article.id,
                url=article.url,
                outlet=article.outlet,
            )
        )
    return chunks


def _join_lines(text: str, sentences: list[Sentence]) -> list[str]:
    """Sentences of the same source line joined with their original spacing, one line per paragraph."""
    lines: list[str] = []
    previous: Sentence | None = None
    for sentence in sentences:
        if previous is not None and "\n" not in text[previous.end : sentence.start]:
            lines[-1] += text[previous.end : sentence.end]
        else:
            lines.append(sentence.text)
        previous = sentence
    return lines
