"""Generated answers: the model writes a short answer from the numbered passages, and newsqa checks
it before showing it.

The model only writes the answer sentences with `[n]` markers. Markers pointing at passages that
were not given are dropped, the cited passages are renumbered in order of first use, and their
quotes stay the exact source text. Anything short of a cited answer (no model, a fault, an empty
or unmarked reply) gives the extractive answer with a note saying why.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from retrieval.answer import NO_ANSWER, AbstainParams, build_citations, extractive_answer
from retrieval.generate import prompts
from retrieval.generate.cards import CardWriter
from retrieval.generate.context import passage_texts, spread
from retrieval.generate.llm import LLMConfigError, ReplyCutOff, build_llm, failure_reason, redact, retry_after
from retrieval.generate.reranking import build_reranker
from retrieval.generate.reranking import rerank as rerank_hits
from retrieval.generate.translation import Translator
from retrieval.models import Answer, Hit, Question
from retrieval.question import analyse, short_text_language
from retrieval.settings import Settings
from retrieval.text import words

POOL = 6  # windows searched for the extractive answer that gates and backs up the generated one

if TYPE_CHECKING:
    from llama_index.core.llms import LLM, ChatMessage
    from llama_index.core.postprocessor.types import BaseNodePostprocessor

    from retrieval.answer import Searcher
    from retrieval.question import History

log = logging.getLogger(__name__)

# One marker group: [1], [1, 3], [2;4]. Two digits at most, so "[2025]" stays a year, not a citation.
MARKER = re.compile(r"\[\s*(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\s*\]")
# Other ways models write a citation: 【1】, [Passage 1], [doc 2, 3], (1), (1, 2), [^1], [1-3]. Each
# becomes the [n] form before checking; a year in brackets ("(2025)") has too many digits to match.
_NUMBERS = r"\d{1,2}(?:\s*(?:[,;&]|and|-|–)\s*(?:(?:passage|doc(?:ument)?|source)s?\s*)?\d{1,2})*"
_VARIANT = re.compile(
    r"(?:【\s*(?:(?:passage|doc(?:ument)?|source)s?\s*)?(" + _NUMBERS + r")\s*】"
    r"|\[\s*(?:\^|(?:passage|doc(?:ument)?|source)s?\s*#?\s*)(" + _NUMBERS + r")\s*\]"
    r"|\[\s*(\d{1,2}\s*[-–]\s*\d{1,2})\s*\]"
    r"|\(\s*(?:(?:passage|doc(?:ument)?|source)s?\s*#?\s*)?(" + _NUMBERS + r")\s*\)"
    # prose, as a 1.5B model wrote it: "…on July 27th, according to passage 1."
    r"|,?\s*\b(?:according to|as (?:stated|said|reported|mentioned|described) in|see|per)\s+(?:the\s+)?passages?\s+#?("
    + _NUMBERS + r")\b)",
    re.IGNORECASE,
)
# A closing sentence that only names the source, as a 1.5B model wrote it: "…in Beijing. This is stated in
# passage 2.", "This can be seen from passage 1, which states that "…"." or "This information is found in the
# first passage [1] and the second passage [2]." Its numbers move onto the sentence before (→ "…in Beijing [2].").
_ATTRIBUTION = re.compile(
    r"([.!?。])[^\S\n]+(?:this|that|it|these|the (?:answer|information|above))\s+(?:\w+\s+){0,3}?(?:in|from|by)"
    r"\s+(?:the\s+)?(?:\w+\s+)?passages?\b[^.!?。\n\"“”«]*"
    # …and the rest of that sentence when it only repeats the passage: ', which states that "…".'
    r"(?:,?\s+(?:which|where|that)\b[^\n]*?[.!?。][\"”»']?(?=\s|$)|[.!?。]|$)",
    re.IGNORECASE,
)
_ATTRIBUTED = re.compile(r"passages?\s+#?(" + _NUMBERS + r")|\[\s*(\d{1,2})\s*\]", re.IGNORECASE)
_OPENERS = "[【("
_HELD_MAX = 24  # an opener this far from the end without its closer is plain text, not a marker
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[.,;:!?)])")
_LIST_PREFIX = re.compile(r"^\s*(?:[-*•]|\d+[.)]|[A-Za-z]{2,12}:)\s*")


# --- citations ---------------------------------------------------------------------------------


class CitationMapper:
    """Rewrites `[n]` markers as text arrives: numbers outside 1..passages are dropped, the rest
    renumbered in order of first use. `order` lists the original numbers in that order."""

    def __init__(self, passages: int) -> None:
        self.passages = passages
        self.order: list[int] = []
        self.dropped: list[int] = []
        self._pending = ""

    def _render(self, match: re.Match[str]) -> str:
        new: list[int] = []
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if not 1 <= n <= self.passages:
                self.dropped.append(n)
                continue
            if n not in self.order:
                self.order.append(n)
            renumbered = self.order.index(n) + 1
            if renumbered not in new:
                new.append(renumbered)
        return "".join(f"[{k}]" for k in new)

    def _check(self, text: str) -> str:
        return MARKER.sub(self._render, normalise_markers(text, self.passages))

    def feed(self, text: str) -> str:
        """The text that can be shown so far; an unfinished marker (`[1, `, `【`, `(Pass`) waits
        for the next piece."""
        buffer = self._pending + text
        cut = max(buffer.rfind(opener) for opener in _OPENERS)
        tail = buffer[cut:] if cut != -1 else ""
        if tail and len(tail) <= _HELD_MAX and not any(c in tail for c in "]】)"):
            self._pending, buffer = tail, buffer[:cut]
        else:
            self._pending = ""
        return self._check(buffer)

    def flush(self) -> str:
        """Whatever was held back at the end of the reply."""
        rest, self._pending = self._pending, ""
        return self._check(rest)


def normalise_markers(text: str, passages: int = 99) -> str:
    """Citation markers in the other forms models write them rewritten as `[n]` / `[n, m]`. A bare
    "(n)" counts only when every n is a passage given: "(55)" in a sentence is a number."""

    def plain(match: re.Match[str]) -> str:
        numbers = next(g for g in match.groups() if g)
        bounds = re.fullmatch(r"(\d{1,2})\s*[-–]\s*(\d{1,2})", numbers.strip())
        if bounds and int(bounds.group(1)) < int(bounds.group(2)) <= int(bounds.group(1)) + 9:
            values = list(range(int(bounds.group(1)), int(bounds.group(2)) + 1))
        else:
            values = [int(n) for n in re.findall(r"\d{1,2}", numbers)]
        bare = match.group(0).startswith("(") and not re.search(r"[a-z]", match.group(0), re.IGNORECASE)
        if bare and not all(1 <= n <= passages for n in values):
            return match.group(0)
        marker = "[" + ", ".join(str(n) for n in values) + "]"
        return marker if match.group(0)[0] in "[【(" else " " + marker

    def attributed(match: re.Match[str]) -> str:
        said = re.split(r",?\s+(?:which|where|that)\b", match.group(0)[1:], maxsplit=1)[0]
        numbers = [n for found in _ATTRIBUTED.finditer(said) for n in re.findall(r"\d{1,2}", found.group(0))]
        return f" [passage {', '.join(dict.fromkeys(numbers))}]{match.group(1)}" if numbers else match.group(0)

    text = _ATTRIBUTION.sub(attributed, text)
    return _VARIANT.sub(plain, text)


def renumber(text: str, passages: int) -> tuple[str, list[int]]:
    """The text with markers checked and renumbered, and the cited passage numbers in first-use order."""
    mapper = CitationMapper(passages)
    return tidy(mapper.feed(text) + mapper.flush()), mapper.order


def tidy(text: str) -> str:
    """Close the gaps dropped markers leave before punctuation, trim the ends."""
    return re.sub(r"[ \t]{2,}", " ", _SPACE_BEFORE_PUNCT.sub("", text)).strip()


_NO_ANSWER = re.compile(r"^[\W_]*no[\s_-]*answer\b[\W_]*", re.IGNORECASE)
_NO_ANSWER_ANYWHERE = re.compile(r"\bNO[_ ]ANSWER\b")


def is_abstention(text: str) -> bool:
    """True when the model said the passages do not answer: its NO_ANSWER tag, however dressed
    (`**NO_ANSWER**`, `No answer.`, `NO ANSWER -`), at the start of the reply."""
    return bool(_NO_ANSWER.match(text))


def abstention_text(text: str) -> str:
    """What the model said after its NO_ANSWER tag, markers removed (the default when nothing)."""
    said = _NO_ANSWER.sub("", text, count=1) if _NO_ANSWER.match(text) else _NO_ANSWER_ANYWHERE.sub("", text)
    return tidy(MARKER.sub("", normalise_markers(said, 99))).strip(" :-*_") or NO_ANSWER


def cut_to_cited(text: str, passages: int) -> str:
    """A reply cut off by the token limit, up to the end of its last cited sentence ("" when none)."""
    normal = normalise_markers(text, passages)
    ends = [m.end() for m in MARKER.finditer(normal)]
    if not ends:
        return ""
    if MARKER.match(normal.lstrip()):
        # Markers lead their sentences ("[1] Putin and Kim met ..."), as small models often write: keep the
        # reply up to its last finished sentence.
        finished = [m.end() for m in re.finditer(r"[.!?。](?=\s|$)", normal)]
        kept = normal[: finished[-1]] if finished else ""
        return kept if MARKER.search(kept) and says_something(kept) else ""
    end = ends[-1]
    tail = re.match(r"[^\S\n]*[.!?。]?", normal[end:])
    return normal[: end + (tail.end() if tail else 0)]


_CONFUSABLE = ({"ru", "bg", "uk", "mk", "sr", "be"},)


def says_something(text: str) -> bool:
    """Whether a reply has words besides its markers ("[1]" alone cites a passage and says nothing)."""
    return any(ch.isalnum() for ch in MARKER.sub("", text))


def wrong_language(text: str, language: str | None) -> str | None:
    """The language a generated answer is written in when it is clearly not `language` (None when
    it matches, or when the answer is too short to tell)."""
    tokens = [w for w in MARKER.sub(" ", text).split() if any(c.isalpha() for c in w)]
    if not language or len(tokens) < 5:
        return None
    found = short_text_language(" ".join(tokens), (language,), min_probability=0.8)
    if found in (None, language) or any({found, language} <= group for group in _CONFUSABLE):
        return None
    return found


def restates_question(body: str, question: str) -> bool:
    """Whether a reply only asks the question back (what a 1.5B model did: "Сколько очков …? [1][2]")."""
    said, asked = words(MARKER.sub(" ", body)), words(question)
    return bool(said) and MARKER.sub("", body).rstrip().endswith("?") and set(said) <= set(asked)


def fallback(extractive: Answer, reason: str) -> Answer:
    """The extractive answer, marked with why the generated one is not shown."""
    note = f"Generated answer unavailable ({reason}); showing the extracted passages instead."
    return extractive.model_copy(update={"note": note})


def grounded_answer(
    prepared: Prepared, reply: str, cut_off: bool = False
) -> Answer:
    """Check a model reply against the passages it was given: a cited Answer, or the fallback.
    `cut_off` says the reply stopped at the token limit (it is kept up to its last cited sentence)."""
    question, hits, extractive = prepared.question, prepared.hits, prepared.extractive
    text = reply.strip()
    if not text:
        return prepared.finish(fallback(extractive, "the model's reply was empty"))
    if is_abstention(text):
        return prepared.finish(Answer(question=question, answer=abstention_text(text), abstained=True, mode="llm"))
    if cut_off:
        text = cut_to_cited(text, len(hits))
        if not text:
            return prepared.finish(fallback(extractive, "the model's reply was cut off at NEWSQA_LLM_MAX_TOKENS"))
    body, order = renumber(text, len(hits))
    if not order:
        if _NO_ANSWER_ANYWHERE.search(text):
            return prepared.finish(
                Answer(question=question, answer=abstention_text(text), abstained=True, mode="llm")
            )
        return prepared.finish(fallback(extractive, "the model's reply cited none of the passages"))
    if not says_something(body):
        return prepared.finish(fallback(extractive, "the model's reply cited a passage and said nothing"))
    if restates_question(body, question):
        return prepared.finish(fallback(extractive, "the model repeated the question instead of answering it"))
    other = wrong_language(body, prepared.language)
    if other:
        from retrieval.generate.prompts import language_name

        wanted = language_name(prepared.language or "")
        return prepared.finish(fallback(extractive, f"the model answered in {language_name(other)}, not {wanted}"))
    numbered = build_citations(prepared.analysed, hits)
    citations = [numbered[old - 1].model_copy(update={"n": new}) for new, old in enumerate(order, start=1)]
    confidence = extractive.confidence if extractive.confidence != "none" else "answer"
    answer = Answer(question=question, answer=body, abstained=False, mode="llm", citations=citations,
                    confidence=confidence)
    return prepared.finish(answer)


@dataclass
class Prepared:
    """A question ready for the model: as understood, its passages (and the text shown for each),
    the extractive answer, and what fell short on the way."""

    analysed: Question
    hits: list[Hit]
    extractive: Answer
    failure: str | None = None  # why the model already failed (skip asking it again)
    texts: list[str] = field(default_factory=list)  # each passage's quote with its neighbouring sentences
    read_as: str | None = None  # the standalone question, when a follow-up was rewritten
    language: str | None = None  # the question's language, which the answer is asked to be in
    notes: list[str] = field(default_factory=list)  # e.g. "searched the question as written (...)"

    def finish(self, answer: Answer) -> Answer:
        """`answer` carrying the follow-up reading, the notes and the question's language (a fallback
        speaks to the same reader as a generated answer)."""
        note = " ".join([answer.note or "", *(n[0].upper() + n[1:] + "." for n in self.notes)]).strip() or None
        language = answer.language or self.language
        return answer.model_copy(update={"read_as": self.read_as, "language": language, "note": note,
                                         "asks": self.analysed.asks})

    @property
    def question(self) -> str:
        """The question as understood (a follow-up as the model rewrote it)."""
        return self.analysed.text


class Generator:
    """Grounded, cited answers from the configured model over a Searcher, or the extractive fallback."""

    def __init__(
        self,
        llm: LLM | None,
        searcher: Searcher,
        settings: Settings,
        abstain_params: AbstainParams | None = None,
        unavailable: str | None = None,
        translator: Translator | None = None,
        reranker: BaseNodePostprocessor | None = None,
        rerank_unavailable: str | None = None,
        cards: CardWriter | None = None,
    ) -> None:
        self.llm = llm
        self.searcher = searcher
        self.settings = settings
        self.abstain_params = abstain_params or AbstainParams()
        self.unavailable = unavailable or ("no model is configured; set OPENAI_API_KEY or OPENAI_BASE_URL"
                                           if llm is None else None)
        self.translator = translator
        self.languages = translator.languages if translator else lambda: dict.fromkeys(searcher.centroids.languages, 1)
        self.reranker = reranker
        self.rerank_unavailable = rerank_unavailable
        self.cards = cards

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        searcher: Searcher,
        abstain_params: AbstainParams | None = None,
        languages: Callable[[], dict[str, int]] | None = None,
    ) -> Generator:
        """Build the model, the translator and the reranker from settings; a configuration error
        becomes the fallback note. `languages` gives the index's chunks per language (the store's
        `language_counts`); without it, the languages the searcher centres."""
        try:
            llm = build_llm(settings)
        except LLMConfigError as exc:
            return cls(None, searcher, settings, abstain_params, unavailable=str(exc))
        if llm is None:
            return cls(None, searcher, settings, abstain_params)
        translator = None
        if settings.llm_translate:
            short = build_llm(settings, max_tokens=settings.llm_translate_max_tokens,
                              timeout=settings.llm_translate_timeout)
            counts = languages or (lambda: dict.fromkeys(searcher.centroids.languages, 1))
            translator = Translator(short, counts) if short is not None else None
        reranker, rerank_unavailable = None, None
        try:
            reranker = build_reranker(settings, top_n=settings.rerank_candidates)
        except LLMConfigError as exc:
            log.warning("reranking is off: %s", exc)
            rerank_unavailable = str(exc)
        cards = None
        if settings.llm_cards:
            writer = build_llm(settings, timeout=settings.llm_translate_timeout)
            cards = CardWriter(writer) if writer is not None else None
        return cls(llm, searcher, settings, abstain_params, translator=translator, reranker=reranker,
                   rerank_unavailable=rerank_unavailable, cards=cards)

    # -- model calls, each with one wait when a 429 says how long ------------------------------

    def _wait_for(self, exc: BaseException, waited: bool) -> float | None:
        import openai

        if waited or not isinstance(exc, openai.RateLimitError):
            return None
        seconds = retry_after(exc)
        return seconds if seconds is not None and seconds <= self.settings.llm_timeout else None

    def _chat(self, messages: list[ChatMessage]) -> tuple[str, bool]:
        """The reply's text and whether it stopped at the token limit."""
        assert self.llm is not None
        waited = False
        while True:
            try:
                response = self.llm.chat(messages)
                choices = getattr(response.raw, "choices", None) or [None]
                return response.message.content or "", getattr(choices[0], "finish_reason", None) == "length"
            except Exception as exc:
                wait = self._wait_for(exc, waited)
                if wait is None:
                    raise
                log.info("model rate-limited; retrying once after %.1fs", wait)
                waited = True
                time.sleep(wait)

    async def _stream(self, messages: list[ChatMessage], finish: list[str]) -> AsyncIterator[str]:
        """The reply's text as it arrives; `finish` receives the server's finish_reason."""
        assert self.llm is not None
        waited = False
        while True:
            started = False
            try:
                stream = await self.llm.astream_chat(messages)
                async for response in stream:
                    started = True
                    finish.extend(c.finish_reason for c in getattr(response.raw, "choices", []) if c.finish_reason)
                    if response.delta:
                        yield response.delta
                if not finish:
                    # A dropped connection can look like a clean end; a half answer must not pass as whole.
                    raise ReplyCutOff("the stream ended without a finish_reason")
                return
            except Exception as exc:
                wait = None if started else self._wait_for(exc, waited)
                if wait is None:
                    raise
                log.info("model rate-limited; retrying once after %.1fs", wait)
                waited = True
                await asyncio.sleep(wait)

    def _failed(self, what: str, exc: BaseException) -> str:
        reason = failure_reason(exc)
        log.warning("%s failed: %s (%s)", what, reason, type(exc).__name__)
        log.debug("%s failed: %s", what, redact(str(exc), self.settings)[:500])
        return reason

    # -- steps ---------------------------------------------------------------------------------

    def condense(self, question: Question, history: History | None) -> tuple[Question, str | None]:
        """A standalone version of a follow-up, read against the recent turns (and a failure reason)."""
        turns = history.recent() if history else []
        if not turns or self.llm is None:
            return question, None
        try:
            reply, _ = self._chat(prompts.condense_messages(turns, question.text))
        except Exception as exc:
            return question, self._failed("condensing the follow-up", exc)
        lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
        standalone = _LIST_PREFIX.sub("", lines[0]).strip().strip('"“”«»') if lines else ""
        if not standalone or len(standalone) > self.settings.max_question_chars or standalone == question.text:
            return question, None
        # The rewrite stands alone; the reader, and the quotes the thread already showed, are the same.
        rewritten = analyse(standalone).model_copy(update={"language": question.language, "seen": question.seen})
        return rewritten, None

    def pool(self, top_k: int) -> int:
        """How many windows a search for the model returns: enough to spread its passages over chunks and
        articles, and for the reranker to choose from."""
        wanted = max(top_k, self.settings.llm_passages)
        return max(2 * wanted, self.settings.rerank_candidates if self.reranker else wanted)

    def passages(self, question: Question | str, language: str | None, count: int | None = None,
                 translate: bool = True, rerank: bool = True) -> tuple[list[Hit], list[str]]:
        """The `count` (NEWSQA_LLM_PASSAGES) windows the model reads, chosen for recall: searched with the
        question's translations, reranked, spread over chunks and articles; and notes on any step that
        failed."""
        question = question if isinstance(question, Question) else analyse(question)
        count = count or self.settings.llm_passages
        notes: list[str] = []
        queries: list[str] = []
        if translate and self.translator is not None:
            queries, why = self.translator.translate(question.search, language)
            if why:
                notes.append(f"searched the question as written (translating it failed: {why})")
        hits, _ = self.searcher.search(question, self.pool(count), queries=queries)
        if rerank and self.reranker is not None:
            ordered, why = rerank_hits(self.reranker, question.search, hits[: self.settings.rerank_candidates])
            hits = ordered + hits[len(ordered):]
            if why:
                notes.append(f"passages kept in search order (reranking failed: {why})")
        elif rerank and self.rerank_unavailable:
            notes.append(f"passages kept in search order ({self.rerank_unavailable})")
        return spread(hits, count), notes

    def prepare(self, question: Question | str, top_k: int, history: History | None = None) -> Prepared:
        """Condense a follow-up, search as written for the extractive answer that backs up the generated
        one, then translate, search again and rerank for the passages the model reads. The model is asked
        whatever the extractive answer's confidence: it decides whether the passages answer."""
        question = question if isinstance(question, Question) else analyse(question)
        standalone, failure = self.condense(question, history)
        read_as = standalone.text if standalone is not question else None
        found, _ = self.searcher.search(standalone, max(top_k, POOL))
        extractive = extractive_answer(standalone, found, self.abstain_params, top_k)
        found = found[:top_k]
        language = standalone.language or short_text_language(standalone.text, tuple(self.languages()))
        prepared = Prepared(standalone, found, extractive, failure, read_as=read_as, language=language)
        if self.llm is None or failure is not None or not found:
            return prepared
        prepared.hits, prepared.notes = self.passages(standalone, language)
        prepared.texts = passage_texts(prepared.hits, self.settings.llm_context_tokens)
        return prepared

    def _skip_model(self, prepared: Prepared) -> Answer | None:
        """The answer to give without asking the model: no model, a failure already, or nothing found."""
        if self.llm is None:
            return prepared.finish(fallback(prepared.extractive, self.unavailable or "no model is configured"))
        if prepared.failure:
            return prepared.finish(fallback(prepared.extractive, prepared.failure))
        if not prepared.hits:
            # An empty search: there is nothing to read, and the extracted "the sources don't say" says so.
            return prepared.finish(prepared.extractive)
        return None

    def messages(self, prepared: Prepared) -> list[ChatMessage]:
        """The answer request for a prepared question."""
        return prompts.answer_messages(prepared.question, prepared.hits, prepared.texts, prepared.language)

    def answer(self, question: Question | str, top_k: int, history: History | None = None) -> Answer:
        """A generated, cited answer (one request), or the extractive answer with a note."""
        prepared = self.prepare(question, top_k, history)
        return self.answer_prepared(prepared)

    def answer_prepared(self, prepared: Prepared) -> Answer:
        """The model's answer for passages already chosen (or the answer given without asking it)."""
        early = self._skip_model(prepared)
        if early is not None:
            return early
        try:
            reply, cut_off = self._chat(self.messages(prepared))
        except Exception as exc:
            return prepared.finish(fallback(prepared.extractive, self._failed("generating the answer", exc)))
        return self.with_cards(grounded_answer(prepared, reply, cut_off), prepared.language)

    def with_cards(self, answer: Answer, language: str | None) -> Answer:
        """A generated answer whose quotes in other languages carry their translation into `language`."""
        if self.cards is None or answer.mode != "llm":
            return answer
        return self.cards.fill(answer, language)

    async def astream(
        self, question: Question | str, top_k: int, history: History | None = None
    ) -> AsyncIterator[str | Answer]:
        """Yield the answer text as it arrives (markers already renumbered), then the final, checked
        Answer, which replaces the streamed text (it may be the extractive fallback)."""
        prepared = await asyncio.to_thread(self.prepare, question, top_k, history)
        early = self._skip_model(prepared)
        if early is not None:
            yield early.answer
            yield early
            return
        mapper = CitationMapper(len(prepared.hits))
        raw: list[str] = []
        held: str | None = ""  # text held until it is clear whether it opens with the NO_ANSWER tag
        streamed = abstaining = False
        deadline = time.monotonic() + self.settings.llm_timeout
        finish: list[str] = []
        stream = self._stream(self.messages(prepared), finish)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the streamed answer took longer than NEWSQA_LLM_TIMEOUT")
                try:
                    delta = await asyncio.wait_for(stream.__anext__(), remaining)
                except StopAsyncIteration:
                    break
                raw.append(delta)
                if held is not None:
                    held += delta
                    if _could_open_abstention(held):
                        continue
                    delta, held = ("" if is_abstention(held) else held), None
                    abstaining = is_abstention("".join(raw))
                if not abstaining and (shown := mapper.feed(delta)):
                    streamed = True
                    yield shown
        except Exception as exc:
            yield prepared.finish(fallback(prepared.extractive, self._failed("streaming the answer", exc)))
            return
        finally:
            await stream.aclose()
        final = grounded_answer(prepared, "".join(raw), cut_off="length" in finish)
        final = await asyncio.to_thread(self.with_cards, final, prepared.language)
        rest = mapper.flush()
        if rest and streamed and final.mode == "llm" and not final.abstained and "length" not in finish:
            yield rest
        elif not streamed:
            yield final.answer
        yield final


def _could_open_abstention(held: str) -> bool:
    """The start of a reply is still too short to tell whether it is a NO_ANSWER tag."""
    head = re.sub(r"^[\W_]+", "", held).upper().replace(" ", "_").replace("-", "_")
    return len(head) < len("NO_ANSWER") and "NO_ANSWER".startswith(head)
