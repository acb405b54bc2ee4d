"""Indexes derived from the stored chunks: the bm25s index and the language centroids.

They live beside the index and carry the store revision they were built from; a stale or
missing one (a new machine, a Chroma server filled elsewhere) is rebuilt from the store. Only
ingest saves them into an embedded index: a reader rebuilds a stale one in memory and leaves the
index as it found it. With a Chroma server the directory is this machine's own cache, which a
reader refreshes when it can and does without when it cannot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from retrieval.index.centering import LanguageCentroids
from retrieval.index.lexical import LexicalIndex
from retrieval.index.store import ChunkStore

log = logging.getLogger(__name__)


@dataclass
class Derived:
    """What search needs besides the vector store."""

    lexical: LexicalIndex
    centroids: LanguageCentroids


def rebuild(store: ChunkStore, directory: Path) -> Derived:
    """Build both from the store and save them."""
    revision = store.revision
    derived = Derived(
        lexical=LexicalIndex.build(store.all_chunks(), revision),
        centroids=LanguageCentroids.build(store.embedding_pages(), revision),
    )
    _save(derived, directory)
    return derived


def load(store: ChunkStore, directory: Path, save: bool | None = None) -> Derived:
    """The saved indexes when they match the store, otherwise freshly rebuilt ones; those are saved
    when `save` (default: only when the index is on a server, where `directory` is a local cache)."""
    revision = store.revision
    lexical = LexicalIndex.load(directory / "bm25")
    centroids = LanguageCentroids.load(directory)
    stale = False
    if lexical is None or lexical.revision != revision:
        log.info("rebuilding the lexical index from the vector store")
        lexical = LexicalIndex.build(store.all_chunks(), revision)
        stale = True
    if centroids is None or centroids.revision != revision:
        centroids = LanguageCentroids.build(store.embedding_pages(), revision)
        stale = True
    derived = Derived(lexical=lexical, centroids=centroids)
    if stale and (store.address is not None if save is None else save):
        _save(derived, directory)
    return derived


def _save(derived: Derived, directory: Path) -> None:
    try:
        derived.lexical.save(directory / "bm25")
        derived.centroids.save(directory)
    except OSError as exc:  # a read-only cache still answers; it just rebuilds next time
        log.warning("could not save derived indexes in %s: %s", directory, exc)
