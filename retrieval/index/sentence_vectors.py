"""Sentence vectors for the chunks a question reads: the ranking scores sentences on their own.

`SentenceVectors.for_chunks` is the one entry point the searcher uses. The vectors are computed
once, at ingest, and kept in Chroma beside the chunks (`SentenceStore`, collection
`<collection>_sentences`), so every process, embedded or against a server, loads them instead of
embedding again. A chunk without a stored matrix (an index built before they were stored, or one
that an ingest running at the same moment just replaced) has its sentences embedded at query time
and kept in memory only: reading never writes the index.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.index.embeddings import Embedder
from retrieval.models import Chunk

if TYPE_CHECKING:
    from retrieval.index.store import ChunkStore

Key = tuple[str, int]  # (chunk id, sentence index)


def sentence_digest(chunk: Chunk) -> str:
    """The content a stored matrix was computed from: the chunk's sentences, in order."""
    joined = "\x00".join(s.text for s in chunk.sentences)
    return hashlib.sha1(joined.encode()).hexdigest()[:16]


class SentenceStore:
    """One record per chunk (id = the chunk's content-derived id) holding its sentence matrix.

    The matrix is float16 in a metadata string and the record's vector is a 1-d placeholder: these
    vectors are read by chunk id, never searched, so Chroma keeps no nearest-neighbour graph of
    them (at 100k chunks that graph would hold ~450k vectors in memory). float16 changes a
    sentence score by under 1e-4.
    """

    SUFFIX = "_sentences"

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    @classmethod
    def open(cls, store: ChunkStore, create: bool = False) -> SentenceStore | None:
        """The sentence collection of this index; None when it has none (and `create` is off)."""
        name = store.name + cls.SUFFIX
        try:
            if create:
                return cls(store.client.get_or_create_collection(name=name, embedding_function=None))
            return cls(store.client.get_collection(name=name, embedding_function=None))
        except Exception as exc:
            if create:
                raise
            if "does not exist" in str(exc).lower() or "not found" in str(exc).lower():
                return None
            raise

    def put(self, chunks: list[Chunk], matrices: list[np.ndarray], batch: int) -> None:
        """Store the sentence matrices of these chunks (replacing any under the same ids)."""
        for i in range(0, len(chunks), max(batch, 1)):
            part = list(zip(chunks[i : i + batch], matrices[i : i + batch], strict=True))
            self.collection.upsert(
                ids=[c.id for c, _ in part],
                embeddings=[[1.0]] * len(part),
                metadatas=[
                    {"document_id": c.article_id, "digest": sentence_digest(c), "rows": len(m), "vectors": _encode(m)}
                    for c, m in part
                ],
            )

    def get(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """Stored matrices of these chunks, by chunk id; a record made from other sentences is ignored."""
        if not chunks:
            return {}
        page = self.collection.get(ids=[c.id for c in chunks], include=["metadatas"])
        wanted = {c.id: c for c in chunks}
        found = {}
        for chunk_id, metadata in zip(page["ids"], page["metadatas"], strict=True):
            chunk = wanted.get(chunk_id)
            if chunk is None or not metadata or metadata.get("digest") != sentence_digest(chunk):
                continue
            found[chunk_id] = _decode(str(metadata["vectors"]), int(metadata["rows"]))
        return found

    def delete_article(self, article_id: str) -> None:
        """Drop the matrices of an article's chunks (it changed or went away)."""
        self.collection.delete(where={"document_id": article_id})

    def count(self) -> int:
        """Number of chunks with a stored matrix."""
        return int(self.collection.count())

    def ids(self, page: int = 5000) -> set[str]:
        """Ids of every chunk with a stored matrix."""
        found: set[str] = set()
        while True:
            ids = self.collection.get(include=[], limit=page, offset=len(found))["ids"]
            found.update(ids)
            if len(ids) < page:
                return found


def embed_sentences(embedder: Embedder, chunks: Iterable[Chunk], batch: int) -> list[np.ndarray]:
    """Each chunk's sentences embedded alone (no title, no context), as one matrix per chunk; a
    sentence text that occurs twice is embedded once."""
    chunks = list(chunks)
    texts = list(dict.fromkeys(s.text for c in chunks for s in c.sentences))
    vectors: dict[str, np.ndarray] = {}
    for i in range(0, len(texts), max(batch, 1)):
        part = texts[i : i + batch]
        fresh = embedder.get_text_embedding_batch(part)
        vectors.update(zip(part, np.asarray(fresh, dtype=np.float32), strict=True))
    width = len(next(iter(vectors.values()))) if vectors else 0
    return [
        np.stack([vectors[s.text] for s in c.sentences]) if c.sentences else np.zeros((0, width), np.float32)
        for c in chunks
    ]


def _encode(matrix: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(matrix, dtype=np.float16).tobytes()).decode("ascii")


def _decode(text: str, rows: int) -> np.ndarray:
    flat = np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float32)
    return flat.reshape(rows, -1) if rows else flat.reshape(0, 0)


class _SentenceCache:
    """Sentence vectors computed at query time, kept for repeated questions (LRU).

    Concurrent questions often read the same chunks: a key being computed by one thread is
    claimed, and the others wait for it instead of embedding the same sentences again.
    """

    def __init__(self, size: int = 20000) -> None:
        self._items: OrderedDict[Key, np.ndarray] = OrderedDict()
        self._pending: dict[Key, threading.Event] = {}
        self._size = size
        self._lock = threading.Lock()

    def get_many(self, keys: list[Key]) -> dict[Key, np.ndarray]:
        """The cached vectors among `keys`."""
        with self._lock:
            found = {k: self._items[k] for k in keys if k in self._items}
            for k in found:
                self._items.move_to_end(k)
            return found

    def claim(self, keys: list[Key]) -> tuple[dict[Key, np.ndarray], list[Key], list[threading.Event]]:
        """Split `keys` into (cached vectors, keys the caller must compute, events of keys others compute)."""
        with self._lock:
            found: dict[Key, np.ndarray] = {}
            mine: list[Key] = []
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

    def put_many(self, values: dict[Key, np.ndarray]) -> None:
        """Store computed vectors and wake whoever waits for them."""
        with self._lock:
            for key, value in values.items():
                self._items[key] = value
                self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            self._release(list(values))

    def abandon(self, keys: list[Key]) -> None:
        """Give up claimed keys (the computation failed): waiters then compute them themselves."""
        with self._lock:
            self._release(keys)

    def _release(self, keys: list[Key]) -> None:
        for key in keys:
            event = self._pending.pop(key, None)
            if event is not None:
                event.set()


class SentenceVectors:
    """The vector of every sentence of the chunks asked for, embedded alone (no title, no context):
    loaded from the `SentenceStore` when there is one, else computed now and kept in memory."""

    def __init__(self, embedder: Embedder, store: SentenceStore | None = None) -> None:
        self.embedder = embedder
        self.store = store
        self._cache = _SentenceCache()

    def for_chunks(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """Chunk id → a (sentences × dimension) matrix, rows in sentence order."""
        chunks = [c for c in chunks if c.sentences]
        stored = self.store.get(chunks) if self.store is not None else {}
        rest = [c for c in chunks if c.id not in stored]
        if not rest:
            return stored
        vectors = self._vectors(rest)
        return {**stored, **{c.id: np.stack([vectors[(c.id, i)] for i in range(len(c.sentences))]) for c in rest}}

    def _vectors(self, chunks: list[Chunk]) -> dict[Key, np.ndarray]:
        sentences = {(c.id, i): (c, i) for c in chunks for i in range(len(c.sentences))}
        vectors, mine, waits = self._cache.claim(list(sentences))
        try:
            vectors.update(self._embed([sentences[k] for k in mine]))
        except BaseException:
            # Release the claims, so no other question waits for vectors that never come.
            self._cache.abandon(mine)
            raise
        for event in waits:
            event.wait()
        missing = [k for k in sentences if k not in vectors]
        vectors.update(self._cache.get_many(missing))
        leftover = [sentences[k] for k in missing if k not in vectors]  # their computing thread failed
        vectors.update(self._embed(leftover))
        return vectors

    def _embed(self, todo: list[tuple[Chunk, int]]) -> dict[Key, np.ndarray]:
        """Embed these sentences and cache them (which also wakes any question waiting for them)."""
        if not todo:
            return {}
        fresh = self.embedder.get_text_embedding_batch([c.sentences[i].text for c, i in todo])
        vectors = {(c.id, i): np.asarray(v, dtype=np.float32) for (c, i), v in zip(todo, fresh)}
        self._cache.put_many(vectors)
        return vectors
