"""Hybrid search: dense (Chroma) + lexical (bm25s) fused by reciprocal rank, then sentence picking.

Chunks are found by their fused rank; inside the best chunks every sentence is embedded and
scored on its own, and the best run of up to three adjacent sentences becomes the quote. A quote
is ranked by its sentences plus its chunk's score, because a short sentence ("the meeting lasted
two and a half hours") does not say whose meeting: the chunk around it does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from retrieval.derived import Derived
from retrieval.models import Chunk, Hit, Sentence
from retrieval.qtypes import answer_span, question_type
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


class _SentenceCache:
    """Sentence vectors computed at query time, kept for repeated questions (LRU).

    Concurrent questions often read the same chunks: a key being computed by one thread is
    claimed, and the others wait for it instead of embedding the same sentences again.
    """

    def __init__(self, size: int = 20000) -> None:
        self._items: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._pending: dict[tuple[str, int], threading.Event] = {}
        self._size = size
        self._lock = threading.Lock()

    def get_many(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
        """The cached vectors among `keys`."""
        with self._lock:
            found = {k: self._items[k] for k in keys if k in self._items}
            for k in found:
                self._items.move_to_end(k)
            return found

    def claim(
        self, keys: list[tuple[str, int]]
    ) -> tuple[dict[tuple[str, int], np.ndarray], list[tuple[str, int]], list[threading.Event]]:
        """Split `keys` into (cached vectors, keys the caller must compute, events of keys others compute)."""
        with self._lock:
            found: dict[tuple[str, int], np.ndarray] = {}
            mine: list[tuple[str, int]] = []
            waits: list[threading.Event] = []
            for key in dict.fromkeys(keys):
                if key in self._items:
                    self._items.move_to_end(key)
                    found[key] = self._items[key]
                elif key in self._pending:
                    waits.append(self._pending[key])
                else:
                    self._pending[key] = threading.Event()
                    mine.append(key)
            return found, mine, waits

    def put_many(self, values: dict[tuple[str, int], np.ndarray]) -> None:
        """Store computed vectors and wake whoever waits for them."""
        with self._lock:
            for key, value in values.items():
                self._items[key] = value
                self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            self._release(list(values))

    def abandon(self, keys: list[tuple[str, int]]) -> None:
        """Give up claimed keys (the computation failed): waiters then compute them themselves."""
        with self._lock:
            self._release(keys)

    def _release(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            event = self._pending.pop(key, None)
            if event is not None:
                event.set()


def sentence_context(chunk: Chunk, sentence: Sentence) -> str:
    """What a single sentence is embedded with: the sentence alone; its context enters the ranking
    through its chunk's score."""
    return sentence.text


class HybridRetriever(BaseRetriever):
    """llama-index retriever returning chunks ranked by RRF of dense and bm25 lists."""

    def __init__(self, store: ChunkStore, derived: Derived, embedder: BaseEmbedding, params: SearchParams) -> None:
        super().__init__()
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

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        embedding = query_bundle.embedding or self._embedder.get_query_embedding(query_bundle.query_str)
        return [
            NodeWithScore(
                node=TextNode(id_=c.chunk.id, text=c.chunk.text, metadata={"source": c.chunk.source}),
                score=c.fused,
            )
            for c in self.candidates(query_bundle.query_str, embedding)
        ]


class Searcher:
    """Question in, quoted passages (Hits) out."""

    def __init__(
        self,
        store: ChunkStore,
        derived: Derived,
        embedder: BaseEmbedding,
        params: SearchParams | None = None,
    ) -> None:
        self.params = params or SearchParams()
        self.embedder = embedder
        self.centroids = derived.centroids
        self.retriever = HybridRetriever(store, derived, embedder, self.params)
        self._cache = _SentenceCache()

    def _sentence_vectors(self, chunks: list[Chunk]) -> dict[tuple[str, int], np.ndarray]:
        sentences = {(c.id, i): (c, i) for c in chunks for i in range(len(c.sentences))}
        vectors, mine, waits = self._cache.claim(list(sentences))
        try:
            vectors.update(self._embed_sentences([sentences[k] for k in mine]))
        except BaseException:
            # Release the claims, so no other question waits for vectors that never come.
            self._cache.abandon(mine)
            raise
        for event in waits:
            event.wait()
        missing = [k for k in sentences if k not in vectors]
        vectors.update(self._cache.get_many(missing))
        leftover = [sentences[k] for k in missing if k not in vectors]  # their computing thread failed
        vectors.update(self._embed_sentences(leftover))
        return vectors

    def _embed_sentences(self, todo: list[tuple[Chunk, int]]) -> dict[tuple[str, int], np.ndarray]:
        """Embed these sentences and cache them (which also wakes any question waiting for them)."""
        if not todo:
            return {}
        fresh = self.embedder.get_text_embedding_batch([sentence_context(c, c.sentences[i]) for c, i in todo])
        vectors = {(c.id, i): np.asarray(v, dtype=np.float32) for (c, i), v in zip(todo, fresh)}
        self._cache.put_many(vectors)
        return vectors

    def search(self, question: str, top_k: int = 3) -> tuple[list[Hit], list[Candidate]]:
        """The best `top_k` quotes (from different chunks) and the fused chunk candidates behind them."""
        p = self.params
        embedding = self.embedder.get_query_embedding(question)
        candidates = self.retriever.candidates(question, embedding)
        if not candidates:
            return [], []
        read = candidates[: p.chunks_to_read]
        query = np.asarray(embedding, dtype=np.float32)
        vectors = self._sentence_vectors([c.chunk for c in read])
        qtype = question_type(question)
        q_words = set(content_words(question))
        q_grams = set(lexical_tokens(question))
        hits: list[Hit] = []
        for rank, candidate in enumerate(read):
            chunk = candidate.chunk
            offset = self.centroids.offset(query, chunk.language)
            scores = []
            for i, sentence in enumerate(chunk.sentences):
                score = float(vectors[(chunk.id, i)] @ query) - offset
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
