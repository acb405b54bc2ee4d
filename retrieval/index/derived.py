"""Indexes derived from the stored chunks: the bm25s index and the language centroids.

They live beside the index and carry the store revision they were built from. A stale, missing or
damaged one (unreadable, of the wrong shape, of vectors of another dimension) is rebuilt from the
store. Only ingest saves them into an embedded index: a reader leaves the index as it found it and
keeps its rebuild in the user's cache (`retrieval.index.cache`), so that the next reader loads it
instead of rebuilding, and a damaged file is reported once, by the read or ingest that rebuilds it.
With a Chroma server the directory is this machine's own cache, which a reader refreshes when it can
and does without when it cannot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from retrieval.index.cache import cached, entry_name, source_digest
from retrieval.index.centering import LanguageCentroids
from retrieval.index.lexical import LexicalIndex
from retrieval.index.saved import DamagedIndex
from retrieval.index.store import ChunkStore

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Derived:
    """What search needs besides the vector store."""

    lexical: LexicalIndex
    centroids: LanguageCentroids


def rebuild(store: ChunkStore, directory: Path) -> Derived:
    """Build both from the store and save them."""
    revision = store.registry.revision
    derived = Derived(
        lexical=LexicalIndex.build(store.all_chunks(), revision),
        centroids=LanguageCentroids.build(store.embedding_pages(), revision),
    )
    _save(derived, directory)
    return derived


def load(store: ChunkStore, directory: Path, save: bool | None = None) -> Derived:
    """The saved indexes when they are sound and match the store, otherwise rebuilt ones: saved in
    `directory` when `save` (default: only when the index is on a server, where `directory` is a local
    cache), else kept in the user's cache for the next reader."""
    save = store.address is not None if save is None else save
    revision = store.registry.revision
    damage: list[str] = []
    lexical = _sound(lambda: LexicalIndex.load(directory / "bm25"), damage)
    centroids = _sound(lambda: LanguageCentroids.load(directory, store.dimension), damage)
    if lexical is not None and (lexical.revision != revision or len(lexical.ids) != store.count()):
        lexical = None
    if centroids is not None and centroids.revision != revision:
        centroids = None
    if lexical is not None and centroids is not None:
        return Derived(lexical, centroids)

    def build() -> Derived:
        log.info("rebuilding the derived indexes of %s from the vector store", directory.parent)
        built = Derived(
            lexical=lexical or LexicalIndex.build(store.all_chunks(), revision),
            centroids=centroids or LanguageCentroids.build(store.embedding_pages(), revision),
        )
        if damage:
            later = "" if save else "; until `newsqa ingest` repairs it, readers use a rebuilt copy"
            what = "index" if len(damage) == 1 else "indexes"
            log.warning("the derived %s %s cannot be used; rebuilt from the vector store%s", what, " and ".join(damage),
                        later)
        return built

    if save:
        derived = build()
        _save(derived, directory)
        return derived
    # Named by the damage too: the same damage is told once, another one again.
    name = entry_name("derived", directory.resolve(), revision, store.dimension, _code_digest(), *damage)
    return cached(name, build, _save, lambda folder: _load_saved(folder, store.dimension))


def _sound(load: Callable[[], T | None], damage: list[str]) -> T | None:
    """What `load` returns, or None (its damage noted) when the saved file cannot be used."""
    try:
        return load()
    except DamagedIndex as exc:
        damage.append(str(exc))
        return None


def _code_digest() -> str:
    """What the saved form depends on: the code that writes and reads it."""
    import retrieval.index.centering as centering
    import retrieval.index.lexical as lexical

    return source_digest(lexical.__file__) + source_digest(centering.__file__)


def _load_saved(folder: Path, dimension: int) -> Derived:
    lexical = LexicalIndex.load(folder / "bm25")
    centroids = LanguageCentroids.load(folder, dimension)
    if lexical is None or centroids is None:
        raise DamagedIndex(f"{folder} is incomplete")
    return Derived(lexical, centroids)


def _save(derived: Derived, directory: Path) -> None:
    try:
        derived.lexical.save(directory / "bm25")
        derived.centroids.save(directory)
    except OSError as exc:  # a read-only cache still answers; it just rebuilds next time
        log.warning("could not save the derived indexes in %s (%s); readers rebuild them until an ingest can",
                    directory, exc.strerror or exc)
