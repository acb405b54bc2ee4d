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
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from retrieval import prompts
from retrieval.answer import NO_ANSWER, AbstainParams, build_citations, extractive_answer
from retrieval.llm import LLMConfigError, ReplyCutOff, build_llm, failure_reason, redact, retry_after
from retrieval.models import Answer, Hit
from retrieval.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.llms import LLM, ChatMessage

    from retrieval.search import Searcher

log = logging.getLogger(__name__)

# One marker group: [1], [1, 3], [2;4]. Two digits at most, so "[2025]" stays a year, not a citation.
MARKER = re.compile(r"\[\s*(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\s*\]")
_OPEN_MARKER = re.compile(r"\[[\d\s,;]*")
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

    def feed(self, text: str) -> str:
        """The text that can be shown so far; an unfinished `[1, ` waits for the next piece."""
        buffer = self._pending + text
        cut = buffer.rfind("[")
        if cut != -1 and _OPEN_MARKER.fullmatch(buffer[cut:]) and len(buffer) - cut <= 12:
            self._pending, buffer = buffer[cut:], buffer[:cut]
        else:
            self._pending = ""
        return MARKER.sub(self._render, buffer)

    def flush(self) -> str:
        """Whatever was held back at the end of the reply."""
        rest, self._pending = self._pending, ""
        return MARKER.sub(self._render, rest)


def renumber(text: str, passages: int) -> tuple[str, list[int]]:
    """The text with markers checked and renumbered, and the cited passage numbers in first-use order."""
    mapper = CitationMapper(passages)
    return tidy(mapper.feed(text) + mapper.flush()), mapper.order


def tidy(text: str) -> str:
    """Close the gaps dropped markers leave before punctuation, trim the ends."""
    return re.sub(r"[ \t]{2,}", " ", _SPACE_BEFORE_PUNCT.sub("", text)).strip()


def is_abstention(text: str) -> bool:
    """True when the model said the passages do not answer (its NO_ANSWER tag)."""
    return text.lstrip().upper().startswith(prompts.NO_ANSWER_TAG.rstrip(":"))


def fallback(extractive: Answer, reason: str) -> Answer:
    """The extractive answer, marked with why the generated one is not shown."""
    note = f"Generated answer unavailable ({reason}); showing the extracted passages instead."
    return extractive.model_copy(update={"note": note})


def grounded_answer(question: str, reply: str, hits: list[Hit], extractive: Answer) -> Answer:
    """Check a model reply against the passages it was given: a cited Answer, or the fallback."""
    text = reply.strip()
    if not text:
        return fallback(extractive, "the model's reply was empty")
    if is_abstention(text):
        said = text.lstrip()[len(prompts.NO_ANSWER_TAG.rstrip(":")) :].lstrip(" :").strip()
        said = MARKER.sub("", said).strip() or NO_ANSWER
        return Answer(question=question, answer=said, abstained=True, mode="llm")
    body, order = renumber(text, len(hits))
    if not order:
        return fallback(extractive, "the model's reply cited none of the passages")
    numbered = build_citations(question, hits)
    citations = [numbered[old - 1].model_copy(update={"n": new}) for new, old in enumerate(order, start=1)]
    return Answer(question=question, answer=body, abstained=False, mode="llm", citations=citations)


# --- conversation history ----------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate (3 characters a token): tiktoken's vocabularies would
    need a download, and Vietnamese or Cyrillic text takes more tokens per character than English."""
    return math.ceil(len(text) / 3)


@dataclass
class History:
    """The recent turns of one conversation, bounded by turns and by estimated tokens."""

    max_turns: int = 4
    max_tokens: int = 800
    answer_chars: int = 400  # an answer is kept this long: enough to resolve "that" or "he"
    turns: deque[tuple[str, str]] = field(default_factory=deque)

    @classmethod
    def from_settings(cls, settings: Settings) -> History:
        """Bounds from NEWSQA_LLM_HISTORY_TURNS and NEWSQA_LLM_HISTORY_TOKENS."""
        return cls(max_turns=settings.llm_history_turns, max_tokens=settings.llm_history_tokens)

    def add(self, answer: Answer) -> None:
        """Remember a question (as understood) and its answer, markers stripped."""
        said = tidy(MARKER.sub("", answer.answer))
        if len(said) > self.answer_chars:
            said = said[: self.answer_chars].rsplit(" ", 1)[0] + " …"
        self.turns.append((answer.question, said))
        while len(self.turns) > self.max_turns:
            self.turns.popleft()

    def recent(self) -> list[tuple[str, str]]:
        """The newest turns that fit the token budget, oldest first."""
        kept: list[tuple[str, str]] = []
        budget = self.max_tokens
        for asked, answered in reversed(self.turns):
            cost = estimate_tokens(asked) + estimate_tokens(answered)
            if cost > budget:
                break
            kept.append((asked, answered))
            budget -= cost
        return kept[::-1]

    def clear(self) -> None:
        """Forget the conversation."""
        self.turns.clear()


# --- retrieval with rewrites -------------------------------------------------------------------


def parse_queries(reply: str, question: str, limit: int = 4, max_chars: int = 300) -> list[str]:
    """The rewritten queries in a model reply: one a line, labels stripped, no repeats."""
    seen = {question.strip().casefold()}
    queries = []
    for line in reply.splitlines():
        query = _LIST_PREFIX.sub("", line).strip().strip('"“”«»')
        if not query or len(query) > max_chars or query.casefold() in seen:
            continue
        seen.add(query.casefold())
        queries.append(query)
    return queries[:limit]


def fuse(rankings: list[list[Hit]], top_k: int, k: float = 60.0) -> list[Hit]:
    """Reciprocal-rank fusion of several hit lists by chunk; a chunk keeps the quote of the first
    list that found it (the original question's, which is listed first)."""
    scores: dict[str, float] = {}
    kept: dict[str, Hit] = {}
    for hits in rankings:
        for rank, hit in enumerate(hits):
            scores[hit.chunk.id] = scores.get(hit.chunk.id, 0.0) + 1.0 / (k + rank + 1)
            kept.setdefault(hit.chunk.id, hit)
    best = sorted(scores, key=lambda chunk_id: scores[chunk_id], reverse=True)
    return [kept[chunk_id] for chunk_id in best[:top_k]]


# --- the generator -----------------------------------------------------------------------------


@dataclass
class Prepared:
    """A question ready for the model: as understood, its passages and the extractive answer."""

    question: str
    hits: list[Hit]
    extractive: Answer
    failure: str | None = None  # why the model already failed (skip asking it again)


class Generator:
    """Grounded, cited answers from the configured model over a Searcher, or the extractive fallback."""

    def __init__(
        self,
        llm: LLM | None,
        searcher: Searcher,
        settings: Settings,
        abstain_params: AbstainParams | None = None,
        unavailable: str | None = None,
    ) -> None:
        self.llm = llm
        self.searcher = searcher
        self.settings = settings
        self.abstain_params = abstain_params or AbstainParams()
        self.unavailable = unavailable or ("no model is configured; set OPENAI_API_KEY or OPENAI_BASE_URL"
                                           if llm is None else None)

    @classmethod
    def from_settings(
        cls, settings: Settings, searcher: Searcher, abstain_params: AbstainParams | None = None
    ) -> Generator:
        """Build the model with `build_llm`; a configuration error becomes the fallback note."""
        try:
            return cls(build_llm(settings), searcher, settings, abstain_params)
        except LLMConfigError as exc:
            return cls(None, searcher, settings, abstain_params, unavailable=str(exc))

    # -- model calls, each with one wait when a 429 says how long ------------------------------

    def _wait_for(self, exc: BaseException, waited: bool) -> float | None:
        import openai

        if waited or not isinstance(exc, openai.RateLimitError):
            return None
        seconds = retry_after(exc)
        return seconds if seconds is not None and seconds <= self.settings.llm_timeout else None

    def _chat(self, messages: list[ChatMessage]) -> str:
        assert self.llm is not None
        waited = False
        while True:
            try:
                return self.llm.chat(messages).message.content or ""
            except Exception as exc:
                wait = self._wait_for(exc, waited)
                if wait is None:
                    raise
                log.info("model rate-limited; retrying once after %.1fs", wait)
                waited = True
                time.sleep(wait)

    async def _stream(self, messages: list[ChatMessage]) -> AsyncIterator[str]:
        assert self.llm is not None
        waited = False
        while True:
            started = finished = False
            try:
                stream = await self.llm.astream_chat(messages)
                async for response in stream:
                    started = True
                    finished = finished or any(c.finish_reason for c in getattr(response.raw, "choices", []))
                    if response.delta:
                        yield response.delta
                if not finished:
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

    def condense(self, question: str, history: History | None) -> tuple[str, str | None]:
        """A standalone version of a follow-up, read against the recent turns (and a failure reason)."""
        turns = history.recent() if history else []
        if not turns or self.llm is None:
            return question, None
        try:
            reply = self._chat(prompts.condense_messages(turns, question))
        except Exception as exc:
            return question, self._failed("condensing the follow-up", exc)
        lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
        standalone = _LIST_PREFIX.sub("", lines[0]).strip().strip('"“”«»') if lines else ""
        if not standalone or len(standalone) > self.settings.max_question_chars:
            return question, None
        return standalone, None

    def rewrites(self, question: str) -> tuple[list[str], str | None]:
        """The question rewritten into the corpus languages plus keywords (and a failure reason)."""
        if self.llm is None:
            return [], None
        languages = list(self.searcher.centroids.languages)
        try:
            reply = self._chat(prompts.rewrite_messages(question, languages))
        except Exception as exc:
            return [], self._failed("rewriting the question", exc)
        return parse_queries(reply, question), None

    def pool(self, top_k: int) -> int:
        """How many hits each query contributes to the fusion: every chunk the searcher reads."""
        return max(top_k, self.searcher.params.chunks_to_read)

    def prepare(self, question: str, top_k: int, history: History | None = None) -> Prepared:
        """Condense a follow-up, search (with rewrites when NEWSQA_LLM_MULTI_QUERY is on), and build
        the extractive answer that gates and backs up the generated one."""
        question, failure = self.condense(question, history)
        pool = self.pool(top_k)
        found, _ = self.searcher.search(question, pool)
        hits = found[:top_k]
        extractive = extractive_answer(question, hits, self.abstain_params)
        if self.settings.llm_multi_query and not extractive.abstained and failure is None:
            queries, failure = self.rewrites(question)
            if queries:
                rankings = [found] + [self.searcher.search(q, pool)[0] for q in queries]
                hits = fuse(rankings, top_k)
        return Prepared(question, hits, extractive, failure)

    def _skip_model(self, prepared: Prepared) -> Answer | None:
        """The answer to give without asking the model, if any."""
        if self.llm is None:
            return fallback(prepared.extractive, self.unavailable or "no model is configured")
        if prepared.failure:
            return fallback(prepared.extractive, prepared.failure)
        if prepared.extractive.abstained:
            return prepared.extractive  # weak passages: an extracted "the sources don't say" is safest
        return None

    def answer(self, question: str, top_k: int, history: History | None = None) -> Answer:
        """A generated, cited answer (one request), or the extractive answer with a note."""
        prepared = self.prepare(question, top_k, history)
        early = self._skip_model(prepared)
        if early is not None:
            return early
        try:
            reply = self._chat(prompts.answer_messages(prepared.question, prepared.hits))
        except Exception as exc:
            return fallback(prepared.extractive, self._failed("generating the answer", exc))
        return grounded_answer(prepared.question, reply, prepared.hits, prepared.extractive)

    async def astream(
        self, question: str, top_k: int, history: History | None = None
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
        tag = prompts.NO_ANSWER_TAG.rstrip(":")
        raw: list[str] = []
        held: str | None = ""  # text held until it is clear whether it opens with the NO_ANSWER tag
        streamed = abstaining = False
        deadline = time.monotonic() + self.settings.llm_timeout
        stream = self._stream(prompts.answer_messages(prepared.question, prepared.hits))
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
                    head = held.lstrip().upper()
                    if len(head) < len(tag) and tag.startswith(head):
                        continue
                    delta, held = ("" if head.startswith(tag) else held), None
                    abstaining = head.startswith(tag)
                if not abstaining and (shown := mapper.feed(delta)):
                    streamed = True
                    yield shown
        except Exception as exc:
            yield fallback(prepared.extractive, self._failed("streaming the answer", exc))
            return
        finally:
            await stream.aclose()
        reply = "".join(raw)
        final = grounded_answer(prepared.question, reply, prepared.hits, prepared.extractive)
        rest = mapper.flush()
        if rest and streamed and final.mode == "llm" and not final.abstained:
            yield rest
        elif not streamed:
            yield final.answer
        yield grounded_answer(prepared.question, reply, prepared.hits, prepared.extractive)

