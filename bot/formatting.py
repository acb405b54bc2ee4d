"""Answers and bot replies as Telegram HTML: every source or user text escaped, long messages split
on paragraph or sentence boundaries with the open tags closed and reopened in each part.

Pure functions only (no network, no PTB objects), so every reply can be checked offline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from retrieval.models import Answer, Citation

MESSAGE_LIMIT = 4096  # Telegram's limit, in UTF-16 code units of the parsed text
TITLE_CHARS = 90  # titles are often a whole first sentence; a phone line holds about this much

LANGUAGES = {"vi": "Vietnamese", "bg": "Bulgarian", "en": "English", "ru": "Russian"}

HELP = (
    "Ask me a question about the news articles I have read and I answer with the passages I "
    "found, quoted and numbered.\n\n"
    "• In a private chat, just send the question.\n"
    "• In a group, mention me (<code>@{username} question</code>), reply to one of my messages, "
    "or use <code>/ask question</code>.\n"
    "• Tap <b>Expand [n]</b> under an answer to read the passage around quote [n].\n\n"
    "/sources lists the articles, /start says what I know."
)
ASK_USAGE = "Usage: <code>/ask your question</code>, e.g. <code>/ask {example}</code>"
NOT_TEXT = "I can only read text. Send me a question as a text message."
NOT_A_QUESTION = "That doesn't look like a question. Ask in words, e.g. <i>{example}</i>"
EMPTY = "The question is empty. Ask something, e.g. <i>{example}</i>"
TOO_LONG = "That message is {length} characters long; please keep questions under {limit} characters."
UNKNOWN_COMMAND = "I don't know that command. Try /help."
REFUSED = "Sorry, this bot is private and can't answer you here."
SLOW_DOWN = "Slow down, please: at most {limit} questions a minute. Try again in {wait} seconds."
UNAVAILABLE = "The article index is temporarily unavailable. Please try again in a minute."
FAILED = "Sorry, something went wrong while answering. Please try again."
PASSAGE_GONE = "That passage is no longer in the index; ask again for fresh citations."


def escape(text: str) -> str:
    """Text made safe for Telegram HTML (`&`, `<`, `>` only; quotes need no escaping outside tags)."""
    return html.escape(text, quote=False)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def emphasise(text: str, span: str | None) -> str:
    """Escaped text with the first occurrence of `span` in bold."""
    at = text.find(span) if span else -1
    if at < 0 or not span:
        return escape(text)
    end = at + len(span)
    return f"{escape(text[:at])}<b>{escape(text[at:end])}</b>{escape(text[end:])}"


def shorten(text: str, limit: int = TITLE_CHARS) -> str:
    """`text` cut on a word boundary to at most `limit` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:—-") + "…"


def render_citation(citation: Citation) -> str:
    """One numbered citation: title, source file (and date), the quoted passage as a blockquote."""
    where = escape(citation.source) + (f" · {escape(citation.published)}" if citation.published else "")
    return (
        f"<b>[{citation.n}]</b> <b>{escape(shorten(citation.title))}</b>\n"
        f"<i>{where}</i>\n"
        f"<blockquote>{emphasise(citation.quote, citation.highlight)}</blockquote>"
    )


def render_answer(answer: Answer) -> str:
    """The whole reply for an Answer: the answer (its answering span bold), a note, the citations."""
    if answer.abstained:
        head = f"<i>{escape(answer.answer)}</i>"
    else:
        lead = answer.citations[0] if answer.citations and answer.mode == "extractive" else None
        highlight = lead.highlight if lead else None
        head = emphasise(answer.answer, highlight)
    if answer.note:
        head += f"\n<i>{escape(answer.note)}</i>"
    return "\n\n".join([head, *(render_citation(c) for c in answer.citations)])


def render_partial(text: str) -> str:
    """Text of an answer still being generated, with a cursor so the reader sees it is not finished."""
    return f"{escape(text.strip())} ▌" if text.strip() else "…"


@dataclass(frozen=True)
class Passage:
    """The text around a cited quote: its chunk, with where the quote sits in it."""

    title: str
    source: str
    text: str
    quote_start: int | None = None  # offsets in `text`; None when the quote cannot be located
    quote_end: int | None = None


def render_passage(n: int | None, passage: Passage) -> str:
    """A cited quote expanded to its surrounding passage, the quoted sentences in bold."""
    text = passage.text
    if passage.quote_start is not None and passage.quote_end is not None:
        start, end = passage.quote_start, passage.quote_end
        body = f"{escape(text[:start])}<b>{escape(text[start:end])}</b>{escape(text[end:])}"
    else:
        body = escape(text)
    label = f"<b>[{n}]</b> " if n else ""
    return (
        f"{label}<b>{escape(shorten(passage.title))}</b>\n"
        f"<i>{escape(passage.source)}</i>\n"
        f"<blockquote>{body}</blockquote>"
    )


def _language_names(codes: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for code in codes:
        if code:
            seen.setdefault(LANGUAGES.get(code, code), None)
    return list(seen)


def render_welcome(sources: list[Mapping[str, Any]], examples: list[str], username: str) -> str:
    """What /start says: how many articles in which languages, two example questions, the commands."""
    languages = _language_names(str(row.get("language", "")) for row in sources)
    count = len(sources)
    noun = "article" if count == 1 else "articles"
    about = f" in {', '.join(languages)}" if languages else ""
    lines = [
        f"Hello! I answer questions about <b>{count} news {noun}</b>{about}, "
        "quoting and numbering the passages I use.",
    ]
    if examples:
        lines.append("\nTry asking:")
        lines.extend(f"• <i>{escape(example)}</i>" for example in examples[:2])
    lines.append(
        f"\nIn groups, mention me (@{escape(username)}) or use /ask. "
        "/sources lists the articles, /help explains the rest."
    )
    return "\n".join(lines)


def render_sources(sources: list[Mapping[str, Any]]) -> str:
    """What /sources says: the indexed articles, numbered, with title, language and date."""
    if not sources:
        return "No articles are indexed yet."
    lines = [f"<b>Indexed articles ({len(sources)})</b>", ""]
    for n, row in enumerate(sources, start=1):
        language = str(row.get("language") or "?")
        published = str(row.get("published") or "undated")
        title = shorten(str(row.get("title") or row.get("id", "")))
        lines.append(f"{n}. <b>{escape(title)}</b>\n    {escape(language)} · {escape(published)} · "
                     f"<code>{escape(str(row.get('id', '')))}</code>")
    return "\n".join(lines)


def render_help(username: str) -> str:
    """What /help says."""
    return HELP.format(username=escape(username))


# --- splitting ------------------------------------------------------------------------------

_ATOMS = re.compile(r"<[^<>]*>|&#?\w+;|\s+|[^<&\s]+|[<&]")
_SENTENCE_END = re.compile(r"[.!?…。][\"'”’»)\]]*$")


@dataclass(frozen=True)
class _Atom:
    text: str
    kind: str  # "tag", "text" or "space" (a place to cut; the whitespace is dropped there)
    priority: int = -1  # for spaces: 3 paragraph, 2 line, 1 sentence, 0 word; -1 forced cut


def _atoms(source: str, longest: int) -> list[_Atom]:
    """Tags, entities, words and whitespace runs; over-long words are cut into pieces."""
    atoms: list[_Atom] = []
    last_text = ""
    for match in _ATOMS.finditer(source):
        piece = match.group()
        if piece.startswith("<") and piece.endswith(">") and len(piece) > 1:
            atoms.append(_Atom(piece, "tag"))
        elif piece.isspace():
            if "\n\n" in piece:
                priority = 3
            elif "\n" in piece:
                priority = 2
            else:
                priority = 1 if _SENTENCE_END.search(last_text) else 0
            atoms.append(_Atom(piece, "space", priority))
        elif piece.startswith("&") or utf16_len(piece) <= longest:
            atoms.append(_Atom(piece, "text"))
            last_text = piece
        else:
            for start in range(0, len(piece), longest // 2):
                if start:
                    atoms.append(_Atom("", "space", -1))
                atoms.append(_Atom(piece[start : start + longest // 2], "text"))
            last_text = piece
    return atoms


def _tag_name(tag: str) -> str:
    return re.match(r"</?\s*([\w-]+)", tag).group(1).lower()  # type: ignore[union-attr]


def _after(stack: tuple[str, ...], atom: _Atom) -> tuple[str, ...]:
    """The open start tags after an atom."""
    if atom.kind != "tag":
        return stack
    if atom.text.startswith("</"):
        name = _tag_name(atom.text)
        for depth in range(len(stack) - 1, -1, -1):
            if _tag_name(stack[depth]) == name:
                return stack[:depth]
        return stack
    return (*stack, atom.text)


def _closers(stack: tuple[str, ...]) -> str:
    return "".join(f"</{_tag_name(tag)}>" for tag in reversed(stack))


def split_html(source: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Telegram HTML cut into messages of at most `limit` UTF-16 units, each with balanced tags.

    Cuts go at the best boundary in each message, in order: paragraph, line, sentence, word;
    a paragraph boundary in the last three quarters beats a later sentence boundary.
    """
    if utf16_len(source) <= limit:
        return [source]
    atoms = _atoms(source, max(limit // 4, 8))
    parts: list[str] = []
    stack: tuple[str, ...] = ()
    i = 0
    while i < len(atoms):
        prefix = "".join(stack)
        length, open_tags, has_text = utf16_len(prefix), stack, False
        best: tuple[tuple[bool, int, int], int, tuple[str, ...]] | None = None
        j = i
        while j < len(atoms):
            atom = atoms[j]
            grown, after = length + utf16_len(atom.text), _after(open_tags, atom)
            if has_text and grown + utf16_len(_closers(after)) > limit:
                break
            if atom.kind == "space" and has_text:
                key = (length >= limit // 4, atom.priority, length)
                if best is None or key >= best[0]:
                    best = (key, j, open_tags)
            length, open_tags = grown, after
            has_text = has_text or atom.kind == "text"
            j += 1
        if j == len(atoms):
            parts.append(prefix + "".join(a.text for a in atoms[i:]))
            break
        cut, cut_tags = (best[1], best[2]) if best else (j, open_tags)
        parts.append(prefix + "".join(a.text for a in atoms[i:cut]) + _closers(cut_tags))
        stack = cut_tags
        i = cut + 1 if best else cut
    return [part for part in parts if _visible(part).strip()]


def _visible(part: str) -> str:
    return html.unescape(re.sub(r"<[^<>]*>", "", part))
