"""Removing web debris from a scraped article while keeping offsets into the original file.

The rules live in `cleaning_rules.yaml`; this module only applies them. The article body is a
list of spans of the raw text, so every later quote can be traced back to its exact place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from retrieval.corpus.loading import RawDocument
from retrieval.models import Article, Span
from retrieval.question import detect_language
from retrieval.text import content_words

_TERMINAL = re.compile(r"([.!?…][\"”»)]*|[:;])\s*$")


@dataclass(frozen=True)
class Rules:
    """Compiled cleaning rules."""

    drop_lines: tuple[re.Pattern[str], ...]
    blurb_markers: tuple[str, ...]
    teaser_lines: tuple[re.Pattern[str], ...]
    line_prefixes: tuple[re.Pattern[str], ...]
    line_suffixes: tuple[re.Pattern[str], ...]
    published: tuple[re.Pattern[str], ...]
    caption_markers: tuple[str, ...]
    byline_max_words: int


@lru_cache(maxsize=1)
def load_rules() -> Rules:
    """Read and compile the bundled rule file."""
    raw = yaml.safe_load(resources.files("retrieval.corpus").joinpath("cleaning_rules.yaml").read_text("utf-8"))

    def compiled(key: str) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.IGNORECASE) for p in raw.get(key, []))

    return Rules(
        drop_lines=compiled("drop_lines"),
        blurb_markers=tuple(m.casefold() for m in raw.get("blurb_markers", [])),
        teaser_lines=compiled("teaser_lines"),
        line_prefixes=compiled("line_prefixes"),
        line_suffixes=compiled("line_suffixes"),
        published=compiled("published"),
        caption_markers=tuple(raw.get("caption_markers", [])),
        byline_max_words=int(raw.get("byline_max_words", 4)),
    )


def _lines(text: str) -> list[Span]:
    """Each line of the text as a span, without its line break."""
    spans, start = [], 0
    for line in text.splitlines(keepends=True):
        spans.append(Span(start=start, end=start + len(line.rstrip("\r\n"))))
        start += len(line)
    return spans


def _trim(text: str, span: Span, rules: Rules) -> Span:
    """Strip datelines, trailing bars and surrounding white space from a line's span."""
    start, end = span.start, span.end
    for pattern in rules.line_prefixes:
        match = pattern.match(text, start, end)
        if match:
            start = match.end()
    for pattern in rules.line_suffixes:
        match = pattern.search(text, start, end)
        if match:
            end = match.start()
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start=start, end=end)


def _is_debris(line: str, raw_line: str, rules: Rules) -> bool:
    folded = line.casefold()
    if any(p.search(line) for p in rules.drop_lines):
        return True
    if any(marker in folded for marker in rules.blurb_markers):
        return True
    # Teasers are recognised by the table bars that trimming removes, so look at the raw line.
    if any(p.search(raw_line.strip()) for p in rules.teaser_lines):
        return True
    # Bylines, labels, bullet names: a handful of words that do not make a sentence.
    return len(line.split()) <= rules.byline_max_words and not _TERMINAL.search(line)


def _repeated_captions(lines: list[str], rules: Rules) -> set[str]:
    """The photo captions whose words (before the credit) all stand in another body line. Each distinct
    line is read once: a file of many repeated lines costs what its distinct lines do, not their square."""
    distinct = list(dict.fromkeys(lines))
    words: dict[str, set[str]] = {}

    def repeats(caption: set[str], line: str) -> bool:
        for other in distinct:
            if other != line and other not in words:
                words[other] = set(content_words(other))
            if other != line and len(caption & words[other]) >= 0.8 * len(caption):
                return True
        return False

    return {line for line in distinct if (caption := _caption_words(line, rules)) and repeats(caption, line)}


def _caption_words(line: str, rules: Rules) -> set[str]:
    """The content words of a caption before its credit marker; empty for a line that is no caption."""
    for marker in rules.caption_markers:
        index = line.find(marker)
        if index > 0:
            return set(content_words(line[:index]))
    return set()


def _published(text: str, rules: Rules) -> str | None:
    head = text[:2000]
    for pattern in rules.published:
        match = pattern.search(head)
        if match:
            return match.group(1)
    return None


_SENTENCE_START = re.compile(r"(?<=[.!?…])\s+(?=[\"“«(]?[^\W\d_])")


def _opens(line: str) -> bool:
    """The line begins the way a headline or a sentence does (not mid-sentence, as a scrape cut off)."""
    first = line.lstrip("\"“«(‘'–—- ")[:1]
    return first.isupper() or first.isdigit()


def _title(text: str, body: list[Span]) -> str:
    """The headline line when the page has one, else the first whole sentence of the lead (a scraped page
    may start mid-sentence: "và nhà lãnh đạo… đã gặp nhau" is no title)."""
    for span in body[:3]:
        line = text[span.start : span.end]
        if 4 <= len(line.split()) <= 25 and not _TERMINAL.search(line) and _opens(line):
            return line
    for span in body[:3]:
        for sentence in _SENTENCE_START.split(text[span.start : span.end]):
            if _opens(sentence) and len(sentence.split()) >= 4:
                return sentence[:200]
    lead = text[body[0].start : body[0].end]
    return _SENTENCE_START.split(lead)[0][:200]


def clean(document: RawDocument) -> Article | None:
    """Turn a raw file into an Article; None when nothing of the body survives."""
    rules = load_rules()
    text = document.text
    kept: list[Span] = []
    for line_span in _lines(text):
        span = _trim(text, line_span, rules)
        line = text[span.start : span.end]
        if line and not _is_debris(line, text[line_span.start : line_span.end], rules):
            kept.append(span)
    lines = [text[s.start : s.end] for s in kept]
    repeated = _repeated_captions(lines, rules)
    body = [s for s, line in zip(kept, lines) if line not in repeated]
    if not body:
        return None
    body_text = "\n".join(text[s.start : s.end] for s in body)
    return Article(
        id=document.id,
        path=str(document.path),
        title=_title(text, body),
        language=detect_language(body_text),
        published=_published(text, rules),
        text=text,
        body=body,
        fingerprint=document.fingerprint,
    )
