"""Answers and bot replies as Telegram HTML, in the reader's language: every source or user text
escaped, long messages split on paragraph or sentence boundaries with the open tags closed and
reopened in each part.

Pure functions only (no network, no PTB objects), so every reply can be checked offline. Texts come
from the message catalogue (`bot.i18n`): each renderer takes the reader's `Translations`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.i18n import DEFAULT_LANGUAGE, N_, Translations, language_name, translations
from retrieval.models import Answer, Citation, Report, SmalltalkKind

MESSAGE_LIMIT = 4096  # Telegram's limit, in UTF-16 code units of the parsed text
TITLE_CHARS = 90  # titles are often a whole first sentence; a phone line holds about this much
CITED_TITLE_CHARS = 40  # under a quote, the title only says which article it is
MORE_QUOTE_CHARS = 120  # a further quote shows its start; the whole passage is one tap away (Expand)
ENGLISH = translations(DEFAULT_LANGUAGE)

HELP = N_(
    "Ask me a question about the news articles I have read and I answer with the passages I "
    "found, quoted and numbered.\n\n"
    "• In a private chat, just send the question.\n"
    "• In a group, mention me (<code>@{username} question</code>), reply to one of my messages, "
    "or use <code>/ask question</code>.\n"
    "• Ask a follow-up (<i>and who did he meet there?</i>) and I read it with your previous question; "
    "/new starts over.\n"
    "• Tap <b>Expand [n]</b> under an answer to read the passage around quote [n].\n\n"
    "/sources lists the articles, /start says what I know."
)
ASK_USAGE = N_("Usage: <code>/ask your question</code>, e.g. <code>/ask {example}</code>")
NOT_TEXT = N_("I can only read text. Send me a question as a text message.")
NOT_A_QUESTION = N_("That doesn't look like a question. Ask in words, e.g. <i>{example}</i>")
EMPTY = N_("The question is empty. Ask something, e.g. <i>{example}</i>")
TOO_LONG = N_("That message is {length} characters long; please keep questions under {limit} characters.")
UNKNOWN_COMMAND = N_("I don't know that command. Try /help.")
REFUSED = N_("Sorry, this bot is private and can't answer you here.")
UNAVAILABLE = N_("The article index is temporarily unavailable. Please try again in a minute.")
FAILED = N_("Sorry, something went wrong while answering. Please try again.")
PASSAGE_GONE = N_("That passage is no longer in the index; ask again for fresh citations.")
ALREADY_SHOWN = N_("That passage is already shown above.")
UNKNOWN_BUTTON = N_("This button no longer does anything; ask the question again.")
NEW_CONVERSATION = N_("Started over: your next question is read on its own, not against the earlier ones.")
NO_ANSWER = N_("The sources don't say: none of the indexed articles answers this question.")
UNSURE = N_("These passages may not answer the question; check them before relying on them.")
READ_AS = N_("Read as: {question}")
TRANSLATED = N_("translated from {language}")
ABOUT = N_("About: {topic}")
PUBLISHED = N_("(article published {date})")
WEEKDAY_DATE = N_("(that weekday: {date})")
ALSO_REPORTED = N_("also reported by {outlets}")
LATEST = N_("Newest articles")
VOTED = N_("Thanks, your vote is noted.")
EXPAND = N_("Expand [{n}]")
PREVIOUS_PAGE = N_("‹ Previous")
NEXT_PAGE = N_("Next ›")
NO_SOURCES = N_("No articles are indexed yet.")
UNDATED = N_("undated")
DEFAULT_EXAMPLE = N_("Who met Kim?")
SMALLTALK: dict[str, str] = {
    "thanks": N_("You're welcome! Ask me anything else about the news I have read."),
    "farewell": N_("Goodbye! Come back with a question about the news any time."),
    "ack": N_("Ask me another question about the news whenever you like, for example: <i>{example}</i>"),
    "chitchat": N_("I'm a bot that answers questions about the news articles I have read, quoting them. "
                   "Try: <i>{example}</i>"),
    "praise": N_("Glad it helped! Ask me anything else about the news I have read."),
    "complaint": N_("Sorry about that. Check the quoted passages to see what the articles say, or ask again in "
                    "other words, naming the person, place or date you mean."),
}


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


def render_citation(citation: Citation, title: bool = True, limit: int | None = None,
                    tr: Translations = ENGLISH) -> str:
    """One numbered citation: the quoted passage (its answering span bold; cut at a word after `limit`
    characters, marked "…"), then its number, a short title (left out when the quote before is from the
    same article; a link to the article when it has an address), outlet and date, and the outlets that
    report the same story. A quote the model translated shows the translation, labelled, with the quote
    itself one tap away (an expandable blockquote)."""
    label = f"[{citation.n}]"
    if title and citation.title:
        # The outlet takes its room from the title: the line stays as long as it was.
        room = max(CITED_TITLE_CHARS - (len(citation.outlet) + 3 if citation.outlet else 0), 16)
        heading = escape(shorten(citation.title, room))
        label += f" <a href=\"{escape(citation.url)}\">{heading}</a>" if citation.url else f" {heading}"
        if citation.outlet:
            label += f" · {escape(citation.outlet)}"
    if citation.published:
        label += f" · {escape(citation.published)}"
    if citation.translation:
        reader = str(tr.info().get("language") or DEFAULT_LANGUAGE)
        source = language_name(citation.language or "", reader)
        label += " · " + escape(tr.gettext(TRANSLATED).format(language=source))
        rendered = (f"<blockquote>{escape(citation.translation)}</blockquote>\n"
                    f"<blockquote expandable>{escape(citation.quote)}</blockquote>\n<i>{label}</i>")
    else:
        quote = citation.quote if limit is None else shorten(citation.quote, limit)
        rendered = f"<blockquote>{emphasise(quote, citation.highlight)}</blockquote>\n<i>{label}</i>"
    if citation.also:
        names = ", ".join(_report(report) for report in citation.also)
        rendered += f"\n<i>{escape(tr.gettext(ALSO_REPORTED)).format(outlets=names)}</i>"
    return rendered


def _report(report: Report) -> str:
    """Another article of the story, by its outlet (else a short title), linked when it has an address."""
    name = escape(report.outlet or shorten(report.title, 20))
    return f"<a href=\"{escape(report.url)}\">{name}</a>" if report.url else name


def render_citations(answer: Answer, tr: Translations = ENGLISH) -> list[str]:
    """The quotes under an answer: the first whole, with the rendering of its answering span when it is in
    another language; the others by their start (Expand shows them whole). An article's title is said
    once in a row."""
    rendered, previous = [], None
    for citation in answer.citations:
        first = citation.n == 1
        limit = None if first else MORE_QUOTE_CHARS
        rendered.append(render_citation(citation, citation.source != previous, limit, tr))
        if first and answer.glossed and answer.gloss:
            rendered.append(f"<i>{escape(answer.glossed)} → {escape(answer.gloss)}</i>")
        previous = citation.source
    return rendered


@dataclass(frozen=True)
class Holdings:
    """What the index holds, for texts that say so: article count, language codes, an example question."""

    articles: int
    languages: tuple[str, ...]
    example: str


def holdings(sources: list[Mapping[str, Any]], examples: list[str]) -> Holdings:
    """The holdings of an index from its article records and the configured example questions."""
    codes = dict.fromkeys(str(row.get("language") or "") for row in sources)
    codes.pop("", None)
    return Holdings(len(sources), tuple(codes), examples[0] if examples else "")


def _languages(codes: Iterable[str], tr: Translations) -> str:
    """Language names in the reader's language, joined."""
    reader = str(tr.info().get("language") or DEFAULT_LANGUAGE)  # the catalogue's Language header
    return ", ".join(language_name(code, reader) for code in codes)


def _lead(answer: Answer, tr: Translations) -> str | None:
    """The answer's first line: the span that answers in bold, its rendering in the reader's language,
    and (for "when") the article's date, which anchors "on Wednesday"."""
    line = f"<b>{escape(answer.lead)}</b>" if answer.lead else ""
    if (dated := dating(answer, tr)) is not None:
        line += (" " if line else "") + escape(dated)
    return line or None


def dating(answer: Answer, tr: Translations = ENGLISH) -> str | None:
    """For a "when" question, the first quote's publication date (and the date of a weekday it names), which
    anchors "on Wednesday"; None when the answer already says it or there is none."""
    best = answer.citations[0]
    if not best.published or answer.asks != "when" or best.published in (answer.lead or ""):
        return None
    said = tr.gettext(PUBLISHED).format(date=best.published)
    return said + (" " + tr.gettext(WEEKDAY_DATE).format(date=best.dated) if best.dated else "")


def answer_head(answer: Answer, tr: Translations = ENGLISH) -> str:
    """The answer itself: "the sources don't say", the answering span (extractive), or the generated text."""
    if answer.abstained:
        return f"<i>{escape(tr.gettext(NO_ANSWER))}</i>"
    if answer.mode == "extractive" and answer.citations:
        return _lead(answer, tr) or ""
    return escape(answer.answer)


def render_smalltalk(kind: SmalltalkKind | None, about: Holdings | None, tr: Translations = ENGLISH) -> str:
    """The reply to small talk, by its kind: a greeting (or "help") says what the bot can answer, thanks
    and goodbyes get their own words, a verdict on an answer is acknowledged."""
    example = escape((about.example if about else "") or tr.gettext(DEFAULT_EXAMPLE))
    if kind in SMALLTALK:
        return tr.gettext(SMALLTALK[kind]).format(example=example)
    count = about.articles if about else 0
    text = tr.ngettext(
        "Hello! Ask me a question about the {count} news article I have read ({languages}), for example: "
        "<i>{example}</i>",
        "Hello! Ask me a question about the {count} news articles I have read ({languages}), for example: "
        "<i>{example}</i>",
        count,
    )
    languages = escape(_languages(about.languages, tr)) if about else ""
    return text.format(count=count, languages=languages, example=example)


def render_answer(answer: Answer, tr: Translations = ENGLISH, about: Holdings | None = None) -> str:
    """The whole reply for an Answer, short enough for one phone screen: how a follow-up was read, the
    answering span (with its gloss) or the generated text or "the sources don't say", a note, an unsure
    warning, and the quotes, each with its number and article."""
    if answer.kind == "smalltalk":
        return render_smalltalk(answer.smalltalk, about, tr)
    parts = []
    if answer.read_as and answer.read_as != answer.question:
        parts.append(f"<i>{escape(tr.gettext(READ_AS).format(question=answer.read_as))}</i>")
    elif answer.topic:
        parts.append(f"<i>{escape(tr.gettext(ABOUT).format(topic=', '.join(answer.topic)))}</i>")
    head = answer_head(answer, tr)
    if answer.note:
        head += ("\n" if head else "") + f"<i>{escape(answer.note)}</i>"
    if head:
        parts.append(head)
    if answer.confidence == "unsure" and not answer.abstained:
        parts.append(f"⚠️ <i>{escape(tr.gettext(UNSURE))}</i>")
    parts.extend(render_citations(answer, tr))
    return "\n".join(parts)


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


def render_welcome(about: Holdings, examples: list[str], username: str, tr: Translations = ENGLISH) -> str:
    """What /start says: how many articles in which languages, two example questions, the commands."""
    intro = tr.ngettext(
        "Hello! I answer questions about <b>{count} news article</b> in {languages}, "
        "quoting and numbering the passages I use.",
        "Hello! I answer questions about <b>{count} news articles</b> in {languages}, "
        "quoting and numbering the passages I use.",
        about.articles,
    )
    lines = [intro.format(count=about.articles, languages=escape(_languages(about.languages, tr)))]
    if examples:
        lines.append("\n" + tr.gettext("Try asking:"))
        lines.extend(f"• <i>{escape(example)}</i>" for example in examples[:2])
    lines.append("\n" + tr.gettext(
        "In groups, mention me (@{username}) or use /ask. /sources lists the articles, /new starts a new "
        "conversation, /help explains the rest."
    ).format(username=escape(username)))
    return "\n".join(lines)


@dataclass(frozen=True)
class Page:
    """One page of a listing: its number (from 0), how many pages there are, the rows on it."""

    number: int
    pages: int
    rows: list[tuple[int, Mapping[str, Any]]]  # (position in the whole list from 1, row)


def page_of(sources: list[Mapping[str, Any]], number: int, size: int) -> Page:
    """Page `number` of the listing (clamped to the pages there are), `size` rows a page."""
    size = max(size, 1)
    pages = max(1, -(-len(sources) // size))
    number = min(max(number, 0), pages - 1)
    first = number * size
    return Page(number, pages, list(enumerate(sources[first : first + size], start=first + 1)))


def render_sources(sources: list[Mapping[str, Any]], page: Page | None = None, tr: Translations = ENGLISH) -> str:
    """What /sources says: one page of the indexed articles, numbered, with title, language and date."""
    if not sources:
        return escape(tr.gettext(NO_SOURCES))
    page = page or Page(0, 1, list(enumerate(sources, start=1)))
    header = tr.gettext("Indexed articles ({count})").format(count=len(sources))
    lines = [f"<b>{escape(header)}</b>"]
    if page.pages > 1:
        lines.append(escape(tr.gettext("Page {page} of {pages}").format(page=page.number + 1, pages=page.pages)))
    lines.append("")
    for n, row in page.rows:
        lines.append(f"{n}. {_source_line(row, tr)}")
    return "\n".join(lines)


def _source_line(row: Mapping[str, Any], tr: Translations) -> str:
    """An article as /sources and /latest list it: its title (a link when it was fetched), then outlet,
    language and date, and its file name when it has no address."""
    language = str(row.get("language") or "?")
    published = str(row.get("published") or tr.gettext(UNDATED))
    title = f"<b>{escape(shorten(str(row.get('title') or row.get('id', ''))))}</b>"
    url = str(row.get("url") or "")
    if url:
        title = f'<a href="{escape(url)}">{title}</a>'
    facts = [escape(str(row["outlet"]))] if row.get("outlet") else []
    facts += [escape(language), escape(published)]
    if not url:
        facts.append(f"<code>{escape(str(row.get('id', '')))}</code>")
    return f"{title}\n    " + " · ".join(facts)


def render_latest(rows: list[Mapping[str, Any]], tr: Translations = ENGLISH) -> str:
    """What /latest says: the newest articles, one per story, newest first."""
    if not rows:
        return escape(tr.gettext(NO_SOURCES))
    lines = [f"<b>{escape(tr.gettext(LATEST))}</b>", ""]
    lines += [f"{n}. {_source_line(row, tr)}" for n, row in enumerate(rows, start=1)]
    return "\n".join(lines)


def render_help(username: str, tr: Translations = ENGLISH) -> str:
    """What /help says."""
    return tr.gettext(HELP).format(username=escape(username))


def render_text(message: str, tr: Translations = ENGLISH, **values: Any) -> str:
    """A catalogue message in the reader's language with its placeholders filled (values escaped)."""
    return tr.gettext(message).format(**{key: escape(str(value)) for key, value in values.items()})


def render_slow_down(limit: int, wait: int, tr: Translations = ENGLISH) -> str:
    """The rate-limit reply: the limit as it is applied, and when the next question is allowed."""
    rule = tr.ngettext("Slow down, please: at most {limit} question in any 60 seconds.",
                       "Slow down, please: at most {limit} questions in any 60 seconds.", limit)
    when = tr.ngettext("You can ask again in {wait} second.", "You can ask again in {wait} seconds.", wait)
    return f"{rule.format(limit=limit)} {when.format(wait=wait)}"


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


def plain(source: str) -> str:
    """What Telegram HTML shows, as plain text (for the terminal)."""
    return html.unescape(re.sub(r"<[^<>]*>", "", source))


_visible = plain
