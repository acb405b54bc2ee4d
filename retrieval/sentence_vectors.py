"""Sentence vectors for the chunks a question reads: the ranking scores sentences on their own.

`SentenceVectors.for_chunks` is the one entry point the searcher uses; where the vectors come
from (computed now, a cache, a store) is this module's business.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from retrieval.models import Chunk

Key = tuple[str, int]  # (chunk id, sentence index)


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
    """The vector of every sentence of the chunks asked for, embedded alone (no title, no context)."""

    def __init__(self, embedder: BaseEmbedding) -> None:
        self.embedder = embedder
        self._cache = _SentenceCache()

    def for_chunks(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """Chunk id → a (sentences × dimension) matrix, rows in sentence order."""
        vectors = self._vectors(chunks)
        return {c.id: np.stack([vectors[(c.id, i)] for i in range(len(c.sentences))]) for c in chunks if c.sentences}

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
