"""Hybrid search: dense (Chroma) + lexical (bm25s) fused by reciprocal rank, then sentence picking.

Chunks are found by their fused rank; inside the best chunks every sentence is embedded and
scored on its own, and the best run of up to three adjacent sentences becomes the quote. A quote
is ranked by its sentences plus its chunk's score, because a short sentence ("the meeting lasted
two and a half hours") does not say whose meeting: the chunk around it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval.derived import Derived
from retrieval.embeddings import Embedder
from retrieval.models import Chunk, Hit
from retrieval.qtypes import answer_span, question_type
from retrieval.sentence_vectors import SentenceStore, SentenceVectors
from retrieval.store import ChunkStore
from retrieval.text import content_words, lexical_tokens


@dataclass(frozen=True)
class SearchParams:
    """Weights of the ranking; the defaults were tuned on the seed fixture and XQuAD dev (see README)."""

    candidates: int = 20  # chunks each retriever returns
    rrf_k: float = 5.0
    lexical_weight: float = 0.1  # weight of the bm25 list in the fusion (dense is 1)
    chunks_to_read: int = 8  # best fused chunks whose sentences are scored
    chunk_weight: float = 1.0  # a hit's score adds its chunk's centred cosine...
    rank_prior: float = 0.02  # ...and a bonus for the chunk's fused rank (bonus / (1 + rank))
    type_bonus: float = 0.01  # sentence holds what the question type asks for (a date for "when")
    sentence_lexical: float = 0.0  # share of the question's tokens in the sentence
    quote_sentences: int = 3  # longest quote, in sentences


@dataclass
class Candidate:
    """A chunk with the evidence gathered for it."""

    chunk: Chunk
    fused: float = 0.0
    dense: float = 0.0  # raw cosine
    centered: float = 0.0  # cosine minus the question's mean similarity to the chunk's language
    lexical: float = 0.0
    dense_rank: int | None = None
    lexical_rank: int | None = None
    sentence_scores: list[float] = field(default_factory=list)


class HybridRetriever:
    """Chunks ranked by RRF of dense and bm25 lists; `as_llama_retriever()` serves them to llama-index
    (kept out of the class itself: importing llama-index costs more than a whole answer)."""

    def __init__(self, store: ChunkStore, derived: Derived, embedder: Embedder, params: SearchParams) -> None:
        self._store = store
        self._lexical = derived.lexical
        self._centroids = derived.centroids
        self._embedder = embedder
        self.params = params

    def candidates(self, query: str, embedding: list[float]) -> list[Candidate]:
        """Fused chunk candidates, best first, with their dense and lexical evidence."""
        p = self.params
        by_id: dict[str, Candidate] = {}
        for rank, candidate in enumerate(self.dense_candidates(embedding)):
            candidate.dense_rank = rank
            candidate.fused += 1.0 / (p.rrf_k + rank + 1)
            by_id[candidate.chunk.id] = candidate
        query_vector = np.asarray(embedding, dtype=np.float32)
        lexical_hits = self._lexical.search(query, p.candidates)
        fetched = self._store.get_chunks([cid for cid, _ in lexical_hits if cid not in by_id])
        for chunk_id, (chunk, vector) in fetched.items():
            dense = float(vector @ query_vector)
            centered = dense - self._centroids.offset(query_vector, chunk.language)
            by_id[chunk_id] = Candidate(chunk=chunk, dense=dense, centered=centered)
        for rank, (chunk_id, score) in enumerate(lexical_hits):
            candidate = by_id.get(chunk_id)
            if candidate is None:
                continue  # the lexical index is behind the store; dense still answers
            candidate.lexical, candidate.lexical_rank = score, rank
            candidate.fused += p.lexical_weight / (p.rrf_k + rank + 1)
        return sorted(by_id.values(), key=lambda c: c.fused, reverse=True)

    def dense_candidates(self, embedding: list[float]) -> list[Candidate]:
        """Nearest chunks, searched per language when there are several, ranked by centred cosine."""
        query = np.asarray(embedding, dtype=np.float32)
        languages = self._centroids.languages
        searches = [(lang, self._store.dense_search(embedding, self.params.candidates, lang)) for lang in languages]
        if len(languages) <= 1:
            searches = [("", self._store.dense_search(embedding, self.params.candidates))]
        found = [
            Candidate(
                chunk=chunk,
                dense=similarity,
                centered=similarity - self._centroids.offset(query, chunk.language),
            )
            for _, hits in searches
            for chunk, similarity in hits
        ]
        found.sort(key=lambda c: c.centered, reverse=True)
        return found[: self.params.candidates]

    def as_llama_retriever(self) -> Any:
        """A llama-index `BaseRetriever` whose nodes are these candidates, scored by fused rank."""
        from llama_index.core.base.base_retriever import BaseRetriever
        from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

        hybrid = self

        class _Retriever(BaseRetriever):
            def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
                query = query_bundle.query_str
                embedding = query_bundle.embedding or hybrid._embedder.get_query_embedding(query)
                return [
                    NodeWithScore(
                        node=TextNode(id_=c.chunk.id, text=c.chunk.text, metadata={"source": c.chunk.source}),
                        score=c.fused,
                    )
                    for c in hybrid.candidates(query, embedding)
                ]

        return _Retriever()


class Searcher:
    """Question in, quoted passages (Hits) out."""

    def __init__(
        self,
        store: ChunkStore,
        derived: Derived,
        embedder: Embedder,
        params: SearchParams | None = None,
    ) -> None:
        self.params = params or SearchParams()
        self.embedder = embedder
        self.centroids = derived.centroids
        self.retriever = HybridRetriever(store, derived, embedder, self.params)
        self.sentence_vectors = SentenceVectors(embedder, SentenceStore.open(store))

    def candidates(self, question: str, queries: Sequence[str] = ()) -> tuple[np.ndarray, list[Candidate]]:
        """The question's vector and the fused chunk candidates of the question and its extra
        `queries` (e.g. translations), best first: a chunk found by several lists adds their scores."""
        embedding = self.embedder.get_query_embedding(question)
        candidates = self.retriever.candidates(question, embedding)
        extra = [q for q in dict.fromkeys(queries) if q.strip() and q != question]
        if extra:
            by_id = {c.chunk.id: c for c in candidates}
            for query in extra:
                vector = self.embedder.get_query_embedding(query)
                for found in self.retriever.candidates(query, vector):
                    known = by_id.get(found.chunk.id)
                    if known is None:
                        by_id[found.chunk.id] = found
                        continue
                    known.fused += found.fused
                    if found.centered > known.centered:
                        known.dense, known.centered = found.dense, found.centered
            candidates = sorted(by_id.values(), key=lambda c: c.fused, reverse=True)
        return np.asarray(embedding, dtype=np.float32), candidates

    def search(self, question: str, top_k: int = 3, queries: Sequence[str] = ()) -> tuple[list[Hit], list[Candidate]]:
        """The best `top_k` quotes and the fused chunk candidates behind them. `queries` are extra
        search strings for the same question (translations, keywords); quotes are ranked for `question`."""
        p = self.params
        query, candidates = self.candidates(question, queries)
        if not candidates:
            return [], []
        read = candidates[: p.chunks_to_read]
        vectors = self.sentence_vectors.for_chunks([c.chunk for c in read])
        qtype = question_type(question)
        q_words = set(content_words(question))
        q_grams = set(lexical_tokens(question))
        hits: list[Hit] = []
        for rank, candidate in enumerate(read):
            chunk = candidate.chunk
            offset = self.centroids.offset(query, chunk.language)
            scores = []
            for i, sentence in enumerate(chunk.sentences):
                score = float(vectors[chunk.id][i] @ query) - offset
                if p.sentence_lexical:
                    overlap = len(q_grams & set(lexical_tokens(sentence.text))) / max(len(q_grams), 1)
                    score += p.sentence_lexical * overlap
                if qtype and answer_span(qtype, sentence.text):
                    score += p.type_bonus
                scores.append(score)
            candidate.sentence_scores = scores
            first, last, value = _best_window(chunk, scores, p.quote_sentences)
            quote, start, end = _quote(chunk, first, last)
            chunk_words = set(content_words(chunk.text + " " + chunk.title))
            hits.append(
                Hit(
                    chunk=chunk,
                    quote=quote,
                    start=start,
                    end=end,
                    score=value + p.chunk_weight * candidate.centered + p.rank_prior / (1 + rank),
                    dense=candidate.dense,
                    centered=candidate.centered,
                    lexical=len(q_words & chunk_words) / max(len(q_words), 1),
                )
            )
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:top_k], candidates


def _joinable(chunk: Chunk, i: int) -> bool:
    """Sentences i and i+1 stand next to each other in the file (nothing dropped between them)."""
    a, b = chunk.sentences[i], chunk.sentences[i + 1]
    return b.start - a.end == b.offset - (a.offset + len(a.text))


def quote_windows(chunk: Chunk, width: int) -> list[tuple[int, int]]:
    """The quotable runs of a chunk as (first, last): from each sentence, up to `width` sentences
    as long as they stand next to each other in the file."""
    windows = []
    for first in range(len(chunk.sentences)):
        last = first
        while last + 1 < len(chunk.sentences) and last - first + 1 < width and _joinable(chunk, last):
            last += 1
        windows.append((first, last))
    return windows


def _best_window(chunk: Chunk, scores: list[float], width: int) -> tuple[int, int, float]:
    """The quotable run (see `quote_windows`) with the best score, as (first, last, value): its
    best sentence counts most, the others break ties."""
    best = (0, 0, float("-inf"))
    for first, last in quote_windows(chunk, width):
        window = scores[first : last + 1]
        value = max(window) + 0.25 * sum(window) / len(window)
        if value > best[2]:
            best = (first, last, value)
    return best


def _quote(chunk: Chunk, first: int, last: int) -> tuple[str, int, int]:
    """Sentences first..last as they stand in the source file, with their file offsets."""
    s, e = chunk.sentences[first], chunk.sentences[last]
    return chunk.text[s.offset : e.offset + len(e.text)], s.start, e.end
