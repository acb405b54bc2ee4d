"""The one object front ends talk to: open an index once, then ask questions and list sources."""

from __future__ import annotations

import logging
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from retrieval.answer import AbstainParams, extractive_answer
from retrieval.embeddings import build_embedder, embedder_identity
from retrieval.ingest import _dimension
from retrieval import derived
from retrieval.models import Answer, Hit
from retrieval.search import SearchParams, Searcher
from retrieval.settings import Settings
from retrieval.store import ChunkStore, IndexMissingError

log = logging.getLogger(__name__)


class QuestionError(ValueError):
    """The question cannot be asked as given; the message says why."""


class Engine:
    """An opened index with its searcher: `ask()` answers, `sources()` lists the articles."""

    def __init__(
        self,
        settings: Settings,
        embedder: BaseEmbedding | None = None,
        search_params: SearchParams | None = None,
        abstain_params: AbstainParams | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or build_embedder(settings)
        self.store = ChunkStore.open(settings, embedder_identity(self.embedder), _dimension(self.embedder))
        if self.store.count() == 0:
            raise IndexMissingError(f"the index at {settings.index_dir} is empty; run `newsqa ingest` first")
        self.derived = derived.load(self.store, settings.derived_dir)
        self.searcher = Searcher(
            self.store, self.derived, self.embedder, search_params or SearchParams(candidates=settings.candidates)
        )
        self.abstain_params = abstain_params or AbstainParams()

    def check_question(self, question: str) -> str:
        """The question stripped, or QuestionError when it is empty or too long."""
        question = question.strip()
        if not question:
            raise QuestionError("the question is empty; ask something, e.g. newsqa ask \"Who met Kim Jong Un?\"")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(f"the question is {len(question)} characters long; keep it under {limit}")
        return question

    def search(self, question: str, top_k: int | None = None) -> list[Hit]:
        """The best quoted passages for a question."""
        hits, _ = self.searcher.search(self.check_question(question), top_k or self.settings.top_k)
        return hits

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Answer a question from the index with numbered citations, or abstain."""
        question = self.check_question(question)
        hits, _ = self.searcher.search(question, top_k or self.settings.top_k)
        return extractive_answer(question, hits, self.abstain_params)

    def sources(self) -> list[dict[str, Any]]:
        """The indexed articles: id, title, language, published date, chunk count."""
        return self.store.article_records()
