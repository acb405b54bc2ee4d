"""The one object front ends talk to: open an index once, then ask questions and list sources."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from retrieval.answer import (
    AbstainParams,
    Searcher,
    SearchParams,
    extractive_answer,
    headlines_answer,
    in_window,
)
from retrieval.index import (
    ChunkStore,
    Embedder,
    IndexMissingError,
    build_embedder,
    derived,
    embedder_identity,
    embedding_dimension,
)
from retrieval.models import Answer, Hit, Question
from retrieval.question import analyse, guess_question_language, smalltalk
from retrieval.settings import Settings

if TYPE_CHECKING:
    from retrieval.generate import Generator
    from retrieval.question import History

log = logging.getLogger(__name__)

Mode = Literal["auto", "extractive", "llm"]
POOL = 6  # windows searched for an extractive answer of top_k (3) quotes


class QuestionError(ValueError):
    """The question cannot be asked as given; the message says why."""


# C0 controls and DEL other than tab and line ends: a NUL pasted into a chat must not glue words together.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def as_text(question: str) -> str:
    """The question with control characters as spaces; QuestionError when it holds bytes that are not
    UTF-8 (from a terminal in another encoding, which Python passes on as lone surrogates)."""
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(question[exc.start])
        what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"an unpaired surrogate U+{code:04X}"
        raise QuestionError(
            f"the question is not valid UTF-8 ({what} at character {exc.start + 1}); type it again, "
            "or set the terminal to UTF-8 (e.g. LANG=C.UTF-8)"
        ) from None
    return _CONTROLS.sub(" ", question)


class Engine:
    """An opened index with its searcher: `ask()` answers, `sources()` lists the articles."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        search_params: SearchParams | None = None,
        abstain_params: AbstainParams | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or build_embedder(settings)
        self.store = ChunkStore.open(settings, embedder_identity(self.embedder), embedding_dimension(self.embedder))
        if self.store.count() == 0:
            raise IndexMissingError(f"the index at {settings.index_dir} is empty; run `newsqa ingest` first")
        self.derived = derived.load(self.store, settings.derived_dir)
        self.derived.centroids.cap = settings.centring_cap
        self.searcher = Searcher(
            self.store, self.derived, self.embedder, search_params or SearchParams(candidates=settings.candidates)
        )
        self.abstain_params = abstain_params or AbstainParams()
        self._generator: Generator | None = None
        self._holdings: tuple[int, list[str]] | None = None
        self._articles: dict[str, dict[str, Any]] | None = None

    def check_question(self, question: str) -> str:
        """The question stripped, or QuestionError when it is empty, too long or not text."""
        question = as_text(question).strip()
        if not question:
            raise QuestionError("the question is empty; ask something, e.g. newsqa ask \"Who met Kim Jong Un?\"")
        if not any(character.isalnum() for character in question):
            # Emoji or punctuation alone match arbitrary passages; there is nothing to search for.
            raise QuestionError("the question has no words in it; ask in words, e.g. \"Who met Kim Jong Un?\"")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(f"the question is {len(question)} characters long; keep it to {limit} at most")
        return question

    def search(self, question: str, top_k: int | None = None) -> list[Hit]:
        """The best quoted passages for a question."""
        hits, _ = self.searcher.search(analyse(self.check_question(question)), top_k or self.settings.top_k)
        return hits

    def analyse(
        self, question: str, history: History | None = None, since: str | None = None, until: str | None = None
    ) -> Question:
        """The question analysed once, read against the conversation so far (QuestionError when it cannot
        be asked), searched only among articles dated `since`..`until` (ISO dates) when given."""
        question = as_text(question)
        analysed = analyse(question, history.thread() if history is not None else ())
        if analysed.smalltalk is None:
            self.check_question(question)
        if since or until:
            analysed = analysed.model_copy(update={"since": since, "until": until})
        return analysed

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        mode: Mode | None = None,
        history: History | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Answer:
        """Answer a question from the index with numbered citations, or abstain. `mode` llm (or auto
        with a model configured) generates the answer; `history` lets a follow-up be understood;
        `since` / `until` (ISO dates) keep to the articles published in between."""
        analysed = self.analyse(question, history, since, until)
        # Small talk first: "👍" is a friendly word to answer, not a question without words to refuse.
        if analysed.smalltalk is not None:
            return self.smalltalk(analysed)
        top_k = top_k or self.settings.top_k
        if analysed.headlines:
            return self.headlines(analysed, top_k)
        if self.answer_mode(mode) == "llm":
            return self.generator.answer(analysed, top_k, history)
        return self.extract(analysed, top_k)

    def extract(self, question: Question, top_k: int) -> Answer:
        """The extractive answer to an analysed question."""
        # A few more windows than are shown leave the answer room to prefer the reader's language or a
        # quote not shown yet.
        hits, _ = self.searcher.search(question, max(top_k, POOL))
        return extractive_answer(question, hits, self.abstain_params, top_k, self.articles)

    def model_context(self, question: str) -> list[str]:
        """What a model would read for a question (the passages at NEWSQA_LLM_PASSAGES and
        NEWSQA_LLM_CONTEXT_TOKENS, searched as written: no translation, no reranking), without asking one."""
        from retrieval.generate import passage_texts

        hits, _ = self.generator.passages(self.analyse(question), None, translate=False, rerank=False)
        return passage_texts(hits, self.settings.llm_context_tokens)

    def smalltalk(self, question: Question) -> Answer:
        """The reply to a greeting, thanks, goodbye or a verdict on an answer: what newsqa knows (no search)."""
        assert question.smalltalk is not None
        articles, languages = self.holdings()
        example = self.settings.example_questions[0] if self.settings.example_questions else ""
        text = smalltalk.reply(question.smalltalk, articles, languages, example)
        return Answer(question=question.text, answer=text, abstained=False, confidence="none", kind="smalltalk",
                      smalltalk=question.smalltalk, language=question.language)

    def holdings(self) -> tuple[int, list[str]]:
        """How many articles the index holds and their languages' English names (read once)."""
        if self._holdings is None:
            from babel import Locale

            records = self.sources()
            names = Locale("en").languages
            codes = sorted({str(r.get("language", "")) for r in records} - {""})
            self._holdings = len(records), [names.get(code, code) for code in codes]
        return self._holdings

    async def astream(
        self,
        question: str,
        top_k: int | None = None,
        mode: Mode | None = None,
        history: History | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> AsyncIterator[str | Answer]:
        """Like `ask`, but yields the answer text as it arrives, then the final checked Answer."""
        analysed = self.analyse(question, history, since, until)
        if analysed.smalltalk is not None:
            chat = self.smalltalk(analysed)
            yield chat.answer
            yield chat
            return
        if self.answer_mode(mode) == "llm":
            async for item in self.generator.astream(analysed, top_k or self.settings.top_k, history):
                yield item
            return
        answer = await asyncio.to_thread(self.extract, analysed, top_k or self.settings.top_k)
        yield answer.answer
        yield answer

    def warm_up(self) -> float:
        """Load everything the first question needs (index and lexical search opened, embedder loaded, one
        query embedded, the language identifier read; in LLM mode the model client imported), so that the
        first reader of a long-running front end waits no longer than later ones. Returns the seconds."""
        started = time.perf_counter()
        probe = self.settings.example_questions[0] if self.settings.example_questions else "news"
        self.search(probe)
        guess_question_language(probe)
        if self.answer_mode() == "llm":
            _ = self.generator  # builds the model client; no request is made
        return time.perf_counter() - started

    def answer_mode(self, mode: Mode | None = None) -> Literal["extractive", "llm"]:
        """The mode a question is answered in: auto means llm when a model is configured."""
        if mode in (None, "auto"):
            return "extractive" if self.settings.llm_provider == "none" else "llm"
        return "llm" if mode == "llm" else "extractive"

    @property
    def generator(self) -> Generator:
        """The generated-answer pipeline, built on first use (imports the model client only then)."""
        if self._generator is None:
            from retrieval.generate import Generator

            self._generator = Generator.from_settings(
                self.settings, self.searcher, self.abstain_params, languages=self.store.language_counts
            )
        return self._generator

    def close(self) -> None:
        """Let go of what this engine holds (a reader's snapshot of an embedded index); answering afterwards
        is an error. A bot closes the engine a refresh replaced once no answer can still be using it."""
        self.store.close()

    def sources(self) -> list[dict[str, Any]]:
        """The indexed articles: id, title, language, published date, chunk count, URL, outlet, other
        addresses (also_at) and story."""
        return self.store.registry.records()

    @property
    def articles(self) -> dict[str, dict[str, Any]]:
        """The registry's facts by article id, read once (an Engine answers from one state of the index)."""
        if self._articles is None:
            self._articles = {row["id"]: row for row in self.sources()}
        return self._articles

    def newest_first(self) -> list[dict[str, Any]]:
        """Every article's facts, the newest publication date first (undated ones last)."""
        return sorted(self.articles.values(), key=lambda row: str(row.get("published") or ""), reverse=True)

    def headlines(self, question: Question, top_k: int) -> Answer:
        """"What's the latest news?" answered with the openings of the newest articles (within the question's
        dates), one per story; no search is needed, so no model is asked either."""
        rows = [row for row in self.newest_first() if in_window(row.get("published"), question.since, question.until)]
        wanted = [str(row["id"]) for row in rows[: top_k * 4]]  # room for the other reports of a story
        leads = self.store.first_chunks(wanted)
        return headlines_answer(question, [leads[i] for i in wanted if i in leads], self.articles, top_k)

    def latest(self, count: int = 10) -> list[dict[str, Any]]:
        """The newest `count` articles by publication date (undated ones last), one per story."""
        stories: set[str] = set()
        newest = []
        for row in self.newest_first():
            story = str(row.get("story") or row["id"])
            if story not in stories:
                stories.add(story)
                newest.append(row)
        return newest[:count]
