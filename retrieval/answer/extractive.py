"""The extractive answer: the quote that answers first — in the reader's language when an article in it
reports the same, not one the conversation already showed when another answers — trimmed to the
sentences that answer, with its lead (the answering span) and that span's gloss in the reader's language;
then at most two more distinct quotes. Or an abstention when the sources do not cover the question.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from retrieval.answer.confidence import AbstainParams, confidence
from retrieval.answer.lead import find, grounds, lead, names_all, rendered, same_answer, sentences_of, support
from retrieval.models import Answer, Chunk, Citation, Hit, Question, Report, Sentence
from retrieval.question import analyse, bridges
from retrieval.text import normalize_for_match

NO_ANSWER = "The sources don't say: none of the indexed articles answers this question."
UNSURE_NOTE = "These passages may not answer the question; check them before relying on them."
QUOTES = 3  # the answering quote and at most two more
# How far below the first quote's ranker score another may stand and still answer an open question in its
# place, when the first was already shown in the conversation.
SEEN_MARGIN = 3.0
SAYS = 0.6  # share of the question's words (names counting double) a sentence in the reader's language holds


def extractive_answer(
    question: Question | str, hits: list[Hit], params: AbstainParams | None = None, top_k: int = QUOTES,
    articles: Mapping[str, Mapping[str, Any]] | None = None,
) -> Answer:
    """The answer to `question` from its ranked windows (`hits`, best first; more than `top_k` leave room
    to choose), at most `top_k` distinct quotes, or an abstention. `articles` (the registry's facts by id)
    tells which articles report one story: one of them is quoted, the others named under it."""
    question = question if isinstance(question, Question) else analyse(question)
    tier = confidence(question, hits[:top_k], params or AbstainParams())
    if tier == "none" and any(grounds(question, hit, own=True) for hit in hits[:top_k]):
        # A window holding the question's names and a span of the asked kind answers it, whatever the
        # other evidence says: abstaining there tells the reader the articles are silent when they are not.
        # (A follow-up's topic is context: "how long did the meeting last?" names no one itself.)
        tier = "unsure"
    if tier == "none":
        return _answer(question, NO_ANSWER, abstained=True)
    # The other reports of a quoted story take no quote's place: named under it, they leave the reply shorter.
    chosen, reports = one_story(arrange(question, hits)[:top_k], articles or {})
    citations = build_citations(question, chosen, reports)
    lead = citations[0].highlight
    answer = _answer(question, _quoted(question, citations, lead), citations=citations, confidence=tier)
    answer.lead = lead
    if (glossed := rendered(question, chosen[0])) is not None:
        answer.glossed, answer.gloss = glossed
    return answer


def headlines_answer(question: Question, leads: list[Chunk], articles: Mapping[str, Mapping[str, Any]],
                     top_k: int) -> Answer:
    """The answer to "what's the latest news?": the opening of each of the newest articles (`leads`, their
    first chunks, newest first), one per story, the other reports of a story named under it."""
    hits = [hit for hit in (_opening(chunk) for chunk in leads) if hit is not None]
    chosen, reports = one_story(hits, articles)
    if not chosen:
        return _answer(question, NO_ANSWER, abstained=True)
    citations = build_citations(question, chosen[:top_k], reports[:top_k])
    return _answer(question, _quoted(question, citations), citations=citations, confidence="answer")


def _opening(chunk: Chunk, sentences: int = 2) -> Hit | None:
    """An article's first sentences after its headline, quoted exactly; None for a chunk with no sentence."""
    hit = Hit(chunk=chunk, quote=chunk.text, start=chunk.start, end=chunk.end, score=0.0)
    body = [s for s in chunk.sentences
            if normalize_for_match(s.text) != normalize_for_match(chunk.title)] or chunk.sentences
    if not body:
        return None
    first = chunk.sentences.index(body[0])
    return _trimmed(hit, chunk.sentences, first, min(first + sentences, len(chunk.sentences)) - 1)


def _quoted(question: Question, citations: list[Citation], lead: str | None = None) -> str:
    """A quoted answer's text: the answering span, the first quote, the article's date when it anchors a
    "when", and the other quotes by number."""
    best = citations[0]
    text = f"{lead} — “{best.quote}” [1]" if lead else f"“{best.quote}” [1]"
    if best.published and question.asks == "when" and best.published not in (lead or ""):
        # News text says "today" or "on Wednesday": the article's date anchors it.
        text += f" (article published {best.published})" + (f" (that weekday: {best.dated})" if best.dated else "")
    if len(citations) > 1:
        text += "\nSee also " + ", ".join(f"[{c.n}]" for c in citations[1:]) + "."
    return text


def _answer(question: Question, text: str, abstained: bool = False, **fields: object) -> Answer:
    searched = question.search if question.search != question.text else None
    return Answer(question=question.text, answer=text, abstained=abstained, language=question.language,
                  asks=question.asks, topic=question.topic, searched=searched, **fields)  # type: ignore[arg-type]


def one_story(hits: list[Hit], articles: Mapping[str, Mapping[str, Any]]) -> tuple[list[Hit], list[list[Report]]]:
    """The quotes with one article per story (the first, best-ranked, quoted; the others reporting the same
    story named under it instead of quoted as if they were independent sources)."""
    kept: list[Hit] = []
    reports: list[list[Report]] = []
    quoted: dict[str, tuple[int, str]] = {}  # story → (index in kept, the article quoted for it)
    for hit in hits:
        article = hit.chunk.article_id
        story = str((articles.get(article) or {}).get("story") or article)
        if story in quoted and quoted[story][1] != article:
            named = reports[quoted[story][0]]
            if all(report.source != hit.chunk.source for report in named):
                facts = articles.get(article) or {}
                named.append(Report(source=hit.chunk.source, title=hit.chunk.title, outlet=hit.chunk.outlet,
                                    url=hit.chunk.url, language=str(facts.get("language") or hit.chunk.language)))
            continue
        quoted.setdefault(story, (len(kept), article))
        kept.append(hit)
        reports.append([])
    return kept, reports


def build_citations(
    question: Question | str, hits: list[Hit], reports: list[list[Report]] | None = None
) -> list[Citation]:
    """Number the hits as citations [1], [2], ... in rank order, each with its answering span, its article's
    address, outlet and date, and the other articles reporting its story (`reports`, one list per hit)."""
    question = question if isinstance(question, Question) else analyse(question)
    citations = []
    for n, hit in enumerate(hits, start=1):
        citations.append(
            Citation(
                n=n,
                source=hit.chunk.source,
                title=hit.chunk.title,
                published=hit.chunk.published,
                url=hit.chunk.url,
                outlet=hit.chunk.outlet,
                also=reports[n - 1] if reports else [],
                dated=weekday_date(hit.quote, hit.chunk.published),
                quote=hit.quote,
                score=round(hit.score, 4),
                start=hit.start,
                end=hit.end,
                highlight=lead(question, hit),
                chunk_id=hit.chunk.id,
                language=hit.chunk.language,
            )
        )
    return citations


def weekday_date(quote: str, published: str | None) -> str | None:
    """The date of the weekday a quote names ("vào thứ Tư", "on Wednesday", "в среду"), read as the last such
    day on or before the article's publication, as news means it; None without exactly one weekday or a date."""
    weekdays = [token for token in bridges.dates(quote) if token.startswith("w:")]
    if len(weekdays) != 1 or not published:
        return None
    try:
        day = date.fromisoformat(published[:10])
    except ValueError:
        return None
    wanted = int(weekdays[0][2:])
    return (day - timedelta(days=(day.weekday() - wanted) % 7)).isoformat()


# --- choosing and trimming the quotes ----------------------------------------------------------------------


def arrange(question: Question, hits: list[Hit]) -> list[Hit]:
    """The windows as quotes, best first: each trimmed to the sentences that answer, titles and repeats
    dropped, the reader's language first when it gives the same answer, quotes already shown last."""
    kept: list[Hit] = []
    for hit in hits:
        quote = focus(question, hit)
        if _title_only(quote) or any(_repeats(quote, other) for other in kept):
            continue
        kept.append(quote)
    if not kept:
        return hits[:1]
    kept = _naming_first(question, kept)
    kept = _reader_language_first(question, kept)
    return _unseen_first(question, kept)


def _naming_first(question: Question, hits: list[Hit]) -> list[Hit]:
    """When the best window does not even name what the question names (no Shoigu in a quote for "when
    did Shoigu visit Pyongyang?") and a later one names all of it beside a span of the asked kind, the
    later one answers. (Moving such a window up whenever the best held no span of the asked kind cost
    XQuAD dev 0.02 of first quotes; this costs none.)"""
    if question.asks is None or names_all(question, hits[0].quote) or grounds(question, hits[0]):
        return hits
    for i, hit in enumerate(hits[1:], start=1):
        if grounds(question, hit):
            return [hit, *hits[:i], *hits[i + 1 :]]
    return hits


def focus(question: Question, hit: Hit) -> Hit:
    """A window in the reader's language trimmed to the sentences that answer: the one holding the
    answering span, else without edge sentences that share no word with the question. A window in another
    language stays as ranked: cut by the same rules, the first quote lost the answer for 0.05 of XQuAD dev
    questions (no shared words; the span nearest the question's words cannot be told)."""
    sentences = _sentences(hit)
    if len(sentences) <= 1 or hit.chunk.language != question.language:
        return hit
    found = find(question, hit)
    keep = list(range(len(sentences)))
    if found is not None:
        keep = [next(i for i, s in enumerate(sentences) if s.offset - sentences[0].offset >= found[1][0])]
    else:
        backing = [support(question, s.text) for s in sentences]
        if max(backing) > 0:
            while len(keep) > 1 and backing[keep[0]] == 0:
                keep.pop(0)
            while len(keep) > 1 and backing[keep[-1]] == 0:
                keep.pop()
    if len(keep) == len(sentences):
        return hit
    return _trimmed(hit, sentences, keep[0], keep[-1])


def _sentences(hit: Hit) -> list[Sentence]:
    """The chunk's sentences the window quotes."""
    return [s for s in hit.chunk.sentences if s.start >= hit.start and s.end <= hit.end]


def _trimmed(hit: Hit, sentences: list[Sentence], first: int, last: int) -> Hit:
    """The hit quoting sentences first..last of its window, exactly as they stand in the source."""
    a, b = sentences[first], sentences[last]
    quote = hit.chunk.text[a.offset : b.offset + len(b.text)]
    scores = hit.sentence_scores[first : last + 1] if len(hit.sentence_scores) == len(sentences) else []
    return hit.model_copy(update={"quote": quote, "start": a.start, "end": b.end, "sentence_scores": scores})


def _title_only(hit: Hit) -> bool:
    """The quote is only the article's headline (a scraped page repeats it as its first line); a title
    taken from the first sentence of a page without a headline ends like a sentence and is content."""
    quote = hit.quote.strip()
    headline = not quote.endswith((".", "!", "?", "…", "\"", "”", "»"))
    return headline and normalize_for_match(quote) == normalize_for_match(hit.chunk.title)


def _repeats(hit: Hit, other: Hit) -> bool:
    """The quote says what another already does: the same text (a caption repeated, a copied article), or
    part of the same passage of the same file."""
    if normalize_for_match(hit.quote) == normalize_for_match(other.quote):
        return True
    return hit.chunk.source == other.chunk.source and hit.start < other.end and other.start < hit.end


def _reader_language_first(question: Question, hits: list[Hit]) -> list[Hit]:
    """When the best quote is in another language and one in the reader's own language gives the same
    answer (one event reported in two languages), or says most of what the question says in one sentence,
    that quote comes first. The window ranker learned its weights on questions asked across languages
    only (XQuAD dev): words shared with the question weigh little there, and that is all a reader's own
    language adds."""
    best = hits[0]
    if best.chunk.language == question.language:
        return hits
    found = find(question, best)
    for i, hit in enumerate(hits[1:], start=1):
        if hit.chunk.language != question.language:
            continue
        theirs = find(question, hit) if found is not None else None
        if (theirs is not None and same_answer(question, found[0].text, theirs[0].text)) or _says(question, hit):
            return [hit, *hits[:i], *hits[i + 1 :]]
    return hits


def _says(question: Question, hit: Hit) -> bool:
    """One sentence of the quote holds all the names the question itself gives and most of its words (a
    follow-up's topic is context, not what the answering sentence must repeat)."""
    return any(
        names_all(question, hit.quote[s:e], own=True) and support(question, hit.quote[s:e]) >= SAYS
        for s, e in sentences_of(hit)
    )


def _unseen_first(question: Question, hits: list[Hit]) -> list[Hit]:
    """For a follow-up, a quote the conversation already showed is not first again when another quote
    answers ("and what did he see there?" is not answered by the letter quote a third time)."""
    if not question.follows or not _seen(question, hits[0]):
        return hits
    for i, hit in enumerate(hits[1:], start=1):
        answers = grounds(question, hit) if question.asks else hit.score >= hits[0].score - SEEN_MARGIN
        if not _seen(question, hit) and answers:
            return [hit, *hits[:i], *hits[i + 1 :]]
    return hits


def _seen(question: Question, hit: Hit) -> bool:
    return any(source == hit.chunk.source and start < hit.end and hit.start < end
               for source, start, end in question.seen)
