"""Lexical search with bm25s over the same chunks as Chroma, saved beside the index.

Tokens are ASCII-folded words plus 4-grams (see `retrieval.text.lexical_tokens`), so a Latin
"Shoigu" meets a Cyrillic "Шойгу" and "Kursk" meets "Курска".
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from retrieval.index.saved import damaged, read_model
from retrieval.models import Chunk
from retrieval.text import lexical_tokens

log = logging.getLogger(__name__)

_META = "newsqa.json"


class _Meta(BaseModel):
    """What newsqa saves beside bm25s's own files."""

    revision: str
    ids: list[str]


def chunk_search_text(chunk: Chunk) -> str:
    """What a chunk is searched by: its title (context) and its text."""
    return f"{chunk.title}\n{chunk.text}"


class LexicalIndex:
    """A bm25s index over chunk ids; `search` gives (chunk id, score) best first."""

    def __init__(self, retriever: object | None, ids: list[str], revision: str) -> None:
        self._retriever = retriever
        self.ids = ids
        self.revision = revision

    @classmethod
    def build(cls, chunks: Iterable[Chunk], revision: str) -> LexicalIndex:
        """Index every chunk (an empty corpus gives an index that finds nothing)."""
        import bm25s

        ids: list[str] = []
        # Token ids, not strings: a list of small ints shared through `vocab` costs 8 bytes a token,
        # which keeps a 100k-chunk build to a few hundred MB.
        vocab: dict[str, int] = {}
        corpus: list[list[int]] = []
        for chunk in chunks:
            ids.append(chunk.id)
            tokens = lexical_tokens(chunk_search_text(chunk)) or ["\x00empty"]
            corpus.append([vocab.setdefault(token, len(vocab)) for token in tokens])
        if not ids:
            return cls(None, [], revision)
        retriever = bm25s.BM25()
        retriever.index((corpus, vocab), show_progress=False)
        return cls(retriever, ids, revision)

    def save(self, directory: Path) -> None:
        """Write the index atomically: a half-written directory never replaces a good one."""
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._retriever is not None:
            self._retriever.save(str(tmp), show_progress=False)
        (tmp / _META).write_text(json.dumps({"revision": self.revision, "ids": self.ids}), "utf-8")
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex | None:
        """The saved index, None when there is none, or DamagedIndex when it cannot be used as it is:
        unreadable, of the wrong shape, or not matching its own id list."""
        meta_path = directory / _META
        if not meta_path.exists():
            return None
        meta = read_model(meta_path, _Meta)
        if not meta.ids:
            return cls(None, [], meta.revision)
        try:
            import bm25s

            retriever = bm25s.BM25.load(str(directory), show_progress=False)
            documents = int(retriever.scores["num_docs"])
        except Exception as exc:  # bm25s reading a damaged file may fail in any way
            raise damaged(directory, exc) from exc
        if documents != len(meta.ids):
            raise damaged(directory, f"{documents} documents for {len(meta.ids)} chunk ids")
        return cls(retriever, meta.ids, meta.revision)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The `k` best chunk ids for a query, with their BM25 scores (zero scores left out)."""
        tokens = lexical_tokens(query)
        if self._retriever is None or not tokens:
            return []
        vocab = self._retriever.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known:
            return []
        k = min(k, len(self.ids))
        docs, scores = self._retriever.retrieve([known], k=k, show_progress=False, n_threads=1)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

