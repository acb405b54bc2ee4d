"""Hybrid search: dense (Chroma) + lexical (bm25s) fused by reciprocal rank, then window ranking.

Chunks are found by their fused rank; inside the best chunks every sentence is embedded on its own,
and every run of one to three adjacent sentences is a candidate quote, scored by the learned window
ranker (`retrieval.answer.ranking`) from its sentences, its chunk (a short sentence, "the meeting lasted two
and a half hours", does not say whose meeting: the chunk around it does) and cross-script evidence.
The best non-overlapping windows become the quotes, several from one chunk if they rank so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval.answer.ranking import FEATURES, QuestionView, Ranker, Window, features, pick
from retrieval.index import ChunkStore, Derived, Embedder, SentenceStore, SentenceVectors
from retrieval.models import Chunk, Hit, Question
from retrieval.question import analyse, expansion
from retrieval.text import content_words


@dataclass(frozen=True)
class SearchParams:
    """Weights of the ranking; the defaults were tuned on the seed fixture and XQuAD dev (docs/how-it-works.md)."""

    candidates: int = 20  # chunks each retriever returns
    rrf_k: float = 5.0
    lexical_weight: float = 0.1  # weight of the bm25 list in the fusion (dense is 1)
    chunks_to_read: int = 8  # best fused chunks whose sentences are scored
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
        # Place names are searched in every language's spelling: bm25 cannot know Пхенян is Pyongyang.
        lexical_hits = self._lexical.search(" ".join([query, *expansion(query)]), p.candidates)
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
        ranker: Ranker | None = None,
    ) -> None:
        self.params = params or SearchParams()
        self.embedder = embedder
        self.centroids = derived.centroids
        self.retriever = HybridRetriever(store, derived, embedder, self.params)
        self.sentence_vectors = SentenceVectors(embedder, SentenceStore.open(store))
        self.ranker = ranker or Ranker.load()

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

    def search(
        self, question: Question | str, top_k: int = 3, queries: Sequence[str] = ()
    ) -> tuple[list[Hit], list[Candidate]]:
        """The best `top_k` non-overlapping quotes (several may come from one chunk) and the fused chunk
        candidates behind them. `queries` are extra search strings for the same question (translations,
        keywords): they widen the candidates and a sentence's cosine is its best over all of them. Raw text
        is analysed first (the product passes the Question it analysed once)."""
        question = question if isinstance(question, Question) else analyse(question)
        ranked = self.windows(question, queries)
        if not ranked.windows:
            return [], ranked.candidates
        scores = self.ranker.score(ranked.rows)
        if question.recent:
            scores = scores + recency(question, [ranked.candidates[w.chunk].chunk.published for w in ranked.windows])
        q_words = set(content_words(question.search))
        hits = []
        for i in pick(ranked.windows, scores, top_k):
            window = ranked.windows[i]
            candidate = ranked.candidates[window.chunk]
            chunk = candidate.chunk
            quote, start, end = _quote(chunk, window.first, window.last)
            chunk_words = set(content_words(chunk.text + " " + chunk.title))
            hits.append(
                Hit(
                    chunk=chunk,
                    quote=quote,
                    start=start,
                    end=end,
                    score=float(scores[i]),
                    dense=candidate.dense,
                    centered=candidate.centered,
                    lexical=len(q_words & chunk_words) / max(len(q_words), 1),
                    sentence_scores=candidate.sentence_scores[window.first : window.last + 1],
                )
            )
        return hits, ranked.candidates

    def windows(self, question: Question | str, queries: Sequence[str] = ()) -> Ranked:
        """Every quotable window of the best fused chunks with its feature row (see `retrieval.answer.ranking`)."""
        p = self.params
        question = question if isinstance(question, Question) else analyse(question)
        text = question.search
        extra = tuple(q for q in dict.fromkeys([*question.queries, *queries]) if q.strip() and q != text)
        query, candidates = self.candidates(text, extra)
        if question.since or question.until:
            # Only articles dated inside the window; an undated one cannot be shown to be.
            candidates = [c for c in candidates if in_window(c.chunk.published, question.since, question.until)]
        read = candidates[: p.chunks_to_read]
        if not read:
            return Ranked(candidates, [], np.zeros((0, len(FEATURES))))
        query_vectors = [query, *(np.asarray(self.embedder.get_query_embedding(q), dtype=np.float32) for q in extra)]
        vectors = self.sentence_vectors.for_chunks([c.chunk for c in read])
        for candidate in read:
            chunk = candidate.chunk
            if not chunk.sentences:
                candidate.sentence_scores = []
                continue
            offsets = [self.centroids.offset(q, chunk.language) for q in query_vectors]
            cosines = np.stack([vectors[chunk.id] @ q - o for q, o in zip(query_vectors, offsets)])
            candidate.sentence_scores = cosines.max(axis=0).tolist()
        windows, rows = features(
            QuestionView.of(question, extra),
            [c.chunk for c in read],
            [c.sentence_scores for c in read],
            [c.centered for c in read],
            [c.lexical for c in read],
            p.quote_sentences,
        )
        return Ranked(candidates, windows, rows)


def in_window(published: str | None, since: str | None, until: str | None) -> bool:
    """Whether an article's ISO date lies in [since, until] (either bound may be open; with neither, every
    article does, an undated one too; with one, an undated article cannot be shown to)."""
    if since is None and until is None:
        return True
    if not published:
        return False
    day = published[:10]
    return (since is None or day >= since) and (until is None or day <= until)


def recency(question: Question, dates: list[str | None]) -> np.ndarray:
    """What each window gains for its article's date when the question asks for the latest news: the newest
    date RECENT_WEIGHT, the oldest (and undated) nothing, by the rank of the distinct dates in between."""
    distinct = sorted({d[:10] for d in dates if d})
    if len(distinct) < 2:
        return np.zeros(len(dates))
    rank = {d: i / (len(distinct) - 1) for i, d in enumerate(distinct)}
    return np.asarray([RECENT_WEIGHT * rank[d[:10]] if d else 0.0 for d in dates])


# The ranker's scores of a question's windows spread over a few units; a newer article's window moves up
# past a slightly better one of an older article, not past one that answers and a stray sentence.
RECENT_WEIGHT = 1.5


@dataclass
class Ranked:
    """The fused candidates, the windows of the ones read and their feature rows (one per window)."""

    candidates: list[Candidate]
    windows: list[Window]
    rows: np.ndarray


def _quote(chunk: Chunk, first: int, last: int) -> tuple[str, int, int]:
    """Sentences first..last as they stand in the source file, with their file offsets."""
    s, e = chunk.sentences[first], chunk.sentences[last]
    return chunk.text[s.offset : e.offset + len(e.text)], s.start, e.end
