"""The ingestion pipeline: corpus → clean → chunk → embed → Chroma, plus the bm25s index.

Incremental and idempotent: an article whose fingerprint is already recorded is not touched,
a changed one has exactly its chunks replaced, a deleted one has them removed.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from llama_index.core.base.embeddings.base import BaseEmbedding

from retrieval.chunking import chunk_article
from retrieval.cleaning import clean
from retrieval.embeddings import embedder_identity
from retrieval import derived
from retrieval.loading import RawDocument, Skipped, corpus_files, read_document
from retrieval.models import Chunk
from retrieval.settings import Settings
from retrieval.store import ChunkStore

log = logging.getLogger(__name__)

# Called as progress(event, amount): ("files", n) once, ("file", 1) per file, ("chunks", n) per batch.
Progress = Callable[[str, int], None]


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_total: int = 0

    @property
    def changed(self) -> bool:
        """True when the index content differs from before the run."""
        return bool(self.added or self.updated or self.removed)


def _embed_chunks(
    chunks: list[Chunk], embedder: BaseEmbedding, batch: int, progress: Progress | None
) -> list[list[float]]:
    vectors: list[list[float]] = []
    for i in range(0, len(chunks), batch):
        part = chunks[i : i + batch]
        vectors.extend(embedder.get_text_embedding_batch([c.text for c in part]))
        if progress:
            progress("chunks", len(part))
    return vectors


def _ingest_document(
    store: ChunkStore, document: RawDocument, settings: Settings, embedder: BaseEmbedding,
    progress: Progress | None,
) -> int:
    """Replace one article's chunks; returns how many were embedded (0 when nothing survives cleaning)."""
    article = clean(document)
    store.remove_article(document.id)
    if article is None:
        return 0
    chunks = chunk_article(article, max_chars=settings.chunk_chars)
    vectors = _embed_chunks(chunks, embedder, settings.embed_batch_size, progress)
    store.add_chunks(chunks, vectors, document.fingerprint)
    # Written last: only an article whose chunks are all stored counts as ingested.
    store.mark_article(
        article.id,
        document.fingerprint,
        {"title": article.title, "language": article.language, "published": article.published,
         "chunks": len(chunks), "path": article.path},
    )
    return len(chunks)


def ingest(
    settings: Settings, embedder: BaseEmbedding, reset: bool = False, progress: Progress | None = None
) -> IngestReport:
    """Bring the index in line with the corpus directory; see the module docstring."""
    files = corpus_files(settings.corpus_dir)
    if reset:
        ChunkStore.reset(settings)
        shutil.rmtree(settings.derived_dir, ignore_errors=True)
    store = ChunkStore.open(settings, embedder_identity(embedder), _dimension(embedder), create=True)
    known = store.article_fingerprints()
    report = IngestReport()
    seen: set[str] = set()
    if progress:
        progress("files", len(files))

    for path in files:
        document = read_document(path, settings.corpus_dir)
        if isinstance(document, Skipped):
            report.skipped.append(document)
            # A file that exists but cannot be read keeps whatever was indexed from it before.
            seen.add(path.relative_to(settings.corpus_dir).as_posix())
        else:
            seen.add(document.id)
            previous = known.get(document.id)
            if previous == document.fingerprint:
                report.unchanged.append(document.id)
            else:
                report.chunks_embedded += _ingest_document(store, document, settings, embedder, progress)
                (report.updated if previous is not None else report.added).append(document.id)
        if progress:
            progress("file", 1)

    for article_id in sorted(set(known) - seen):
        store.remove_article(article_id)
        report.removed.append(article_id)

    if report.changed:
        store.bump_revision()
        derived.rebuild(store, settings.derived_dir)
    else:
        derived.load(store, settings.derived_dir)
    report.chunks_total = store.count()
    return report


def _dimension(embedder: BaseEmbedding) -> int:
    dimension = getattr(embedder, "dimension", None)
    if dimension:
        return int(dimension)
    return len(embedder.get_text_embedding("dimension probe"))
