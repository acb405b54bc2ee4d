"""Hybrid search on the real seed index: cross-lingual, quotes of whole sentences from the file."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field

from retrieval.answer.ranking import FEATURES
from retrieval.answer.search import Searcher
from retrieval.index.sentence_vectors import SentenceVectors
from retrieval.text import contains_answer

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_english_question_finds_the_vietnamese_passage(engine) -> None:
    hits = engine.search("When did Shoigu visit Pyongyang?", top_k=3)
    assert hits[0].chunk.source == "001_309902524711f206.txt"
    assert contains_answer(hits[0].quote, "27/7")


def test_bulgarian_and_russian_questions_meet_the_same_passage(engine) -> None:
    for question in ("Кога Шойгу посети Пхенян?", "Когда Шойгу был в Пхеньяне?"):
        hits = engine.search(question, top_k=3)
        assert any(contains_answer(h.quote, "27/7") for h in hits), question


def test_quotes_are_one_to_three_sentences_of_the_source_file(engine) -> None:
    for question in (
        "How long did the meeting between Putin and Kim in Beijing last?",
        "Who will travel to Pyongyang?",
    ):
        for hit in engine.search(question, top_k=3):
            raw = (SEEDS / hit.chunk.source).read_text("utf-8")
            assert raw[hit.start : hit.end] == hit.quote
            inside = [s for s in hit.chunk.sentences if hit.start <= s.start and s.end <= hit.end]
            assert 1 <= len(inside) <= 3
            assert len(hit.quote) < len(hit.chunk.text) or len(hit.chunk.sentences) <= 3


def test_quotes_never_overlap(engine) -> None:
    for question in ("What did Kim promise Putin?", "When did Shoigu visit Pyongyang?"):
        hits = engine.search(question, top_k=3)
        assert len(hits) == 3
        spans = sorted((h.chunk.source, h.start, h.end) for h in hits)
        assert all(a[0] != b[0] or a[2] <= b[1] for a, b in itertools.pairwise(spans)), question


def test_several_quotes_may_come_from_one_chunk(engine) -> None:
    hits = engine.search("When did Shoigu visit Pyongyang?", top_k=3)
    assert len({h.chunk.id for h in hits}) < len(hits)


def test_every_window_of_the_read_chunks_is_ranked(engine) -> None:
    ranked = engine.searcher.windows("When did Shoigu visit Pyongyang?")
    read = ranked.candidates[: engine.searcher.params.chunks_to_read]
    assert ranked.rows.shape == (len(ranked.windows), len(FEATURES))
    assert {w.chunk for w in ranked.windows} == set(range(len(read)))
    assert {w.last - w.first + 1 for w in ranked.windows} == {1, 2, 3}


def test_hits_are_ranked_best_first(engine) -> None:
    hits = engine.search("Which Russian minister will travel to Pyongyang in October?", top_k=3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "Lavrov" in hits[0].quote


def test_dense_scores_are_centred_per_language(engine) -> None:
    candidates = engine.searcher.retriever.candidates(
        "How many foreign leaders attended the parade in Beijing?",
        engine.embedder.get_query_embedding("How many foreign leaders attended the parade in Beijing?"),
    )
    top = max(candidates, key=lambda c: c.centered)
    assert top.chunk.language == "bg"
    assert all(c.centered < c.dense for c in candidates)


def test_lexical_index_matches_names_across_scripts(engine) -> None:
    ids = [chunk_id for chunk_id, _ in engine.derived.lexical.search("Шойгу", 5)]
    chunks = engine.store.get_chunks(ids)
    assert ids and all("Shoigu" in chunk.text or "Soigu" in chunk.text for chunk, _ in chunks.values())


class SlowRecordingEmbedding(BaseEmbedding):
    """The real embedder, slowed down and recording every passage it embeds (optionally failing once)."""

    inner: Any
    embedded: list[str] = Field(default_factory=list)
    failures_left: int = 0

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.inner.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        time.sleep(0.3)  # keep the first question busy while the others arrive
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("embedder failed")
        self.embedded.extend(texts)
        return self.inner.get_text_embedding_batch(texts)


def _ask_together(searcher: Searcher, question: str, times: int) -> list[Any]:
    start = threading.Barrier(times)
    results: list[Any] = [None] * times

    def ask(slot: int) -> None:
        start.wait()
        try:
            results[slot] = searcher.search(question, top_k=3)[0]
        except RuntimeError as exc:
            results[slot] = exc

    threads = [threading.Thread(target=ask, args=(slot,)) for slot in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_questions_embed_each_sentence_once(engine, embedder) -> None:
    recording = SlowRecordingEmbedding(inner=embedder)
    searcher = Searcher(engine.store, engine.derived, recording)
    searcher.sentence_vectors = SentenceVectors(recording)  # no stored vectors: an index built before them
    question = "How long did the meeting between Putin and Kim in Beijing last?"
    results = _ask_together(searcher, question, times=6)
    _, candidates = searcher.search(question)
    read = candidates[: searcher.params.chunks_to_read]
    assert len(recording.embedded) == sum(len(c.chunk.sentences) for c in read)
    assert all([h.quote for h in r] == [h.quote for h in results[0]] for r in results)


def test_a_failed_embedding_does_not_leave_other_questions_waiting(engine, embedder) -> None:
    failing = SlowRecordingEmbedding(inner=embedder, failures_left=1)
    searcher = Searcher(engine.store, engine.derived, failing)
    searcher.sentence_vectors = SentenceVectors(failing)
    results = _ask_together(searcher, "Which Russian minister will travel to Pyongyang in October?", times=3)
    errors = [r for r in results if isinstance(r, RuntimeError)]
    answered = [r for r in results if isinstance(r, list)]
    assert len(errors) == 1 and len(answered) == 2
    assert all(hits and "Lavrov" in " ".join(h.quote for h in hits) for hits in answered)


def test_the_hybrid_retriever_serves_llama_index_the_same_chunks(engine, embedder) -> None:
    question = "When did Shoigu visit Pyongyang?"
    nodes = engine.searcher.retriever.as_llama_retriever().retrieve(question)
    expected = engine.searcher.retriever.candidates(question, embedder.get_query_embedding(question))
    assert [n.node.node_id for n in nodes] == [c.chunk.id for c in expected]
    assert [n.score for n in nodes] == [c.fused for c in expected]


def test_since_and_until_keep_to_the_articles_published_in_between(engine) -> None:
    dated = engine.ask("Where did Putin and Kim meet?", since="2025-09-01", until="2025-09-30")
    assert dated.citations and {c.published for c in dated.citations} == {"2025-09-03"}
    before = engine.ask("Where did Putin and Kim meet?", until="2025-01-01")
    assert before.citations == []


def test_newer_articles_gain_by_their_date_when_the_latest_is_asked_for() -> None:
    from retrieval.answer.search import RECENT_WEIGHT, recency
    from retrieval.question.analysis import analyse

    gains = recency(analyse("latest news on Kim?"), ["2025-09-03", None, "2025-07-27", "2025-08-15"])
    assert gains[0] == RECENT_WEIGHT and gains[1] == 0.0 and gains[2] == 0.0 and 0 < gains[3] < RECENT_WEIGHT
