"""The ingestion pipeline: corpus → clean → chunk → embed → Chroma, plus the bm25s index.

Incremental and idempotent: an article whose fingerprint is already recorded is not touched,
a changed one has exactly its chunks replaced, a deleted one has them removed.

Streaming: files are read one at a time; chunks from consecutive articles share embedding
batches and Chroma writes, so memory holds at most one write batch plus one article.

Resumable: an article is registered as "being written" before any of its chunks is stored and
recorded with its fingerprint only after its last one is; removal deletes chunks before the
registry entry. So an article with stored chunks is always in the registry, and a run killed at
any point, then run again, redoes exactly the unfinished articles: it ends with the same index
as an uninterrupted run. Articles the registry does not know need no clean-up (no deletes).

One at a time: a run holds the index's lock file (`retrieval.corpus.locking`) from start to end, so a
second ingest into the same index stops at once and names the process that holds it.

One bad file never costs the others: a file that cannot be read, decoded, parsed, cleaned or
chunked is skipped with its reason and the run goes on.

Pages and feeds (`retrieval.corpus.web`) are fetched into the index directory first, then read like the
corpus files. One story once (`retrieval.corpus.stories`): a copy of an article already kept is not indexed
(its address is noted on the original, "also at"), and articles are grouped into stories across languages.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.corpus.chunking import chunk_article
from retrieval.corpus.cleaning import clean
from retrieval.corpus.loading import (
    CorpusError,
    FileBytes,
    RawDocument,
    Skipped,
    decode_document,
    digest_bytes,
    document_id,
    outside_corpus,
    read_bytes,
    walk_corpus,
)
from retrieval.corpus.locking import ingest_lock
from retrieval.corpus.stories import Copies, body_text, sketch, stories
from retrieval.corpus.web import Gathered, Page, WebStore, gather
from retrieval.index import (
    ChunkStore,
    Embedder,
    SentenceStore,
    StoreError,
    check_writable,
    derived,
    embed_sentences,
    embedder_identity,
    embedding_dimension,
    encode_vector,
    out_of_space,
)
from retrieval.messages import first_line
from retrieval.models import Article, Chunk
from retrieval.settings import Settings

log = logging.getLogger(__name__)

class Progress(Protocol):
    """What an ingest tells whoever watches it."""

    def start(self, files: int) -> None:
        """The run reads this many files."""

    def file(self, name: str) -> None:
        """It goes on to the file with this id."""

    def chunks(self, count: int) -> None:
        """It embedded this many more chunks."""


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    fetched: Gathered = field(default_factory=Gathered)  # pages and feeds: what was stored, and warnings
    copies: list[Skipped] = field(default_factory=list)  # copies of a kept article, noted on it as "also at"
    cut: list[Skipped] = field(default_factory=list)  # files indexed only in part (a limit), and why
    chunks_embedded: int = 0
    sentences_embedded: int = 0  # chunks whose sentence vectors were computed (with theirs, and backfilled)
    chunks_total: int = 0
    regrouped: bool = False  # articles' stories or other addresses changed
    revision: str = ""  # the index's revision when the run ended (changes whenever chunks do)

    @property
    def changed(self) -> bool:
        """True when the index content differs from before the run."""
        return bool(self.added or self.updated or self.removed or self.regrouped)


@dataclass
class _OpenArticle:
    """An article whose chunks are on their way to Chroma, and what to record once they are all there."""

    fingerprint: str
    facts: dict[str, Any]
    unwritten: int
    vector_sum: Any = None  # the sum of its chunks' vectors so far (its mean is the article's vector)


class ChunkWriter:
    """Embeds chunks in batches across articles and writes them to the store in batches; an
    article is recorded as ingested as soon as its last chunk is written."""

    def __init__(
        self, store: ChunkStore, embedder: Embedder, embed_batch: int, write_batch: int,
        progress: Progress | None = None, sentences: SentenceStore | None = None,
    ) -> None:
        self.store = store
        self.sentences = sentences
        self.embedder = embedder
        self.embed_batch = max(embed_batch, 1)
        self.write_batch = max(min(write_batch, store.max_batch_size), 1)
        self.progress = progress
        self.embedded = 0
        self._to_embed: list[Chunk] = []
        self._to_write: list[tuple[Chunk, list[float]]] = []
        self._open: dict[str, _OpenArticle] = {}
        self._registered: set[str] = set()
        self._sentence_rows: list[tuple[Chunk, Any]] = []

    def add(self, article: Article, chunks: list[Chunk], extra: dict[str, Any] | None = None) -> None:
        """Queue one article's chunks (the article must not be queued already), with `extra` facts to record."""
        facts = {
            "title": article.title, "language": article.language, "published": article.published,
            "chunks": len(chunks), "path": article.path, "url": article.url, "outlet": article.outlet,
            **(extra or {}),
        }
        self._open[article.id] = _OpenArticle(article.fingerprint, facts, len(chunks))
        self._to_embed.extend(chunks)
        while len(self._to_embed) >= self.embed_batch:
            self._embed(self.embed_batch)
        if not chunks:
            self._record_finished()

    def flush(self) -> None:
        """Embed and write everything queued, and record the articles it completes."""
        while self._to_embed:
            self._embed(self.embed_batch)
        self._write()

    def _embed(self, size: int) -> None:
        batch, self._to_embed = self._to_embed[:size], self._to_embed[size:]
        vectors = self.embedder.get_text_embedding_batch([chunk.text for chunk in batch])
        self._to_write.extend(zip(batch, vectors, strict=True))
        for chunk, vector in zip(batch, vectors, strict=True):
            opened = self._open[chunk.article_id]
            as_array = np.asarray(vector, dtype=np.float32)
            opened.vector_sum = as_array if opened.vector_sum is None else opened.vector_sum + as_array
        self.embedded += len(batch)
        if self.sentences is not None:
            # Each sentence embedded alone, once: search scores sentences, and reads never embed them.
            self._sentence_rows.extend(zip(batch, embed_sentences(self.embedder, batch, self.embed_batch), strict=True))
        if self.progress:
            self.progress.chunks(len(batch))
        if len(self._to_write) >= self.write_batch:
            self._write()

    def _write(self) -> None:
        while self._to_write:
            batch, self._to_write = self._to_write[: self.write_batch], self._to_write[self.write_batch :]
            chunks = [chunk for chunk, _ in batch]
            # Registered before their first chunk is stored, so that a killed run leaves a trace.
            new = list(dict.fromkeys(c.article_id for c in chunks if c.article_id not in self._registered))
            if new:
                self.store.registry.writing(new)
                self._registered.update(new)
            fingerprints = [self._open[chunk.article_id].fingerprint for chunk in chunks]
            if self.sentences is not None:
                # Before the chunks: a chunk that is stored has its sentence vectors stored.
                ids = {chunk.id for chunk in chunks}
                rows = [row for row in self._sentence_rows if row[0].id in ids]
                self._sentence_rows = [row for row in self._sentence_rows if row[0].id not in ids]
                self.sentences.put([c for c, _ in rows], [m for _, m in rows], self.write_batch)
            self.store.add_chunks(chunks, [vector for _, vector in batch], fingerprints)
            for chunk in chunks:
                self._open[chunk.article_id].unwritten -= 1
        self._record_finished()

    def _record_finished(self) -> None:
        finished = [(key, a.fingerprint, {**a.facts, **_vector_fact(a)}) for key, a in self._open.items()
                    if a.unwritten == 0]
        if finished:
            # Written after the chunks: only an article whose chunks are all stored counts as ingested.
            self.store.registry.complete(finished)
            for article_id, _, _ in finished:
                del self._open[article_id]
                self._registered.discard(article_id)


def _vector_fact(article: _OpenArticle) -> dict[str, Any]:
    if article.vector_sum is None:
        return {}
    return {"vector": encode_vector(article.vector_sum / max(float(np.linalg.norm(article.vector_sum)), 1e-12))}


@dataclass(frozen=True)
class Source:
    """One article file to read: its id, where it is, and a fetched page's metadata (None for a corpus file)."""

    id: str
    path: Path
    page: Page | None = None


def ingest(
    settings: Settings, embedder: Embedder, reset: bool = False, progress: Progress | None = None,
    sentence_vectors: bool = True, urls: list[str] | tuple[str, ...] = (), feeds: list[str] | None = None,
) -> IngestReport:
    """Bring the index in line with the corpus directory, the pages `urls` and the entries of `feeds`
    (NEWSQA_FEEDS when None) besides the pages fetched before; see the module docstring. Without
    `sentence_vectors`, search embeds sentences when it reads them (the same vectors, later: a
    benchmark of answer quality needs only the few it reads)."""
    feeds = list(settings.feeds if feeds is None else feeds)
    try:
        listing: tuple[list[Path], list[Skipped]] | None = walk_corpus(settings.corpus_dir)
    except CorpusError:
        if not (urls or feeds or WebStore(settings.web_dir).pages):
            raise
        listing = None  # pages only: what the corpus gave before stays indexed
    if not settings.chroma_host:
        # The index directory must be creatable before its lock file can be; say so in one line.
        check_writable(settings)
    with ingest_lock(settings.index_dir, rebuilding=reset):
        try:
            fetched = gather(settings, list(urls), feeds) if urls or feeds else Gathered()
            report = _ingest_locked(settings, embedder, listing, reset, progress, sentence_vectors)
            report.fetched = fetched
            return report
        except Exception as exc:
            if settings.chroma_host or not out_of_space(settings.index_dir):
                raise
            # Nothing is lost: Chroma rolled the failed write back, and the registry makes the next
            # run redo exactly the articles this one did not finish.
            raise StoreError(
                f"no space left on the device holding the index at {settings.index_dir}; free some space "
                "and run `newsqa ingest` again (what is indexed stays, the rest is added then)"
            ) from exc


def _ingest_locked(
    settings: Settings, embedder: Embedder, listing: tuple[list[Path], list[Skipped]] | None, reset: bool,
    progress: Progress | None, sentence_vectors: bool,
) -> IngestReport:
    if reset:
        ChunkStore.reset(settings)
        shutil.rmtree(settings.derived_dir, ignore_errors=True)
    store = ChunkStore.open(settings, embedder_identity(embedder), embedding_dimension(embedder), create=True)
    known = store.registry.fingerprints()
    sentences = SentenceStore.open(store, create=True)
    writer = ChunkWriter(
        store, embedder, settings.embed_batch_size, settings.write_batch_size, progress,
        sentences if sentence_vectors else None,
    )
    files, passed_over = listing or ([], [])
    web = WebStore(settings.web_dir)
    items = [Source(document_id(path, settings.corpus_dir), path) for path in files]
    items += [Source(page.url, web.text_path(page), page) for page in web.pages.values()]
    report = IngestReport(skipped=list(passed_over))
    seen: set[str] = set()
    if listing is None:
        # The corpus directory could not be read: what it gave before stays (only pages are read now).
        seen.update(article_id for article_id in known if not _is_page(article_id))
    present = {item.id for item in items} | seen
    copies = Copies({k: v for k, v in store.registry.shingles().items() if k in present})
    also_at: dict[str, list[str]] = {page.url: list(page.also_at) for page in web.pages.values()}
    # The first path to a file, and the first file with given bytes, is the article; the others are told apart.
    by_file: dict[Path, str] = {}
    by_content: dict[str, str] = {}
    dirty = False
    if progress:
        progress.start(len(items))
    limit = round(settings.max_file_mb * 1_000_000)

    for item in items:
        article_id, path = item.id, item.path
        if progress:
            progress.file(article_id)
        outside = None
        if item.page is None and not settings.allow_external_symlinks:
            outside = outside_corpus(path, settings.corpus_dir)
        if outside is not None:
            # Not `seen`: whatever an earlier run indexed through this link is removed below.
            report.skipped.append(outside)
            continue
        target = _resolved(path)
        if (twin := by_file.get(target)) is not None:
            report.skipped.append(Skipped(path, f"is the same file as {twin}, which is indexed once"))
            continue
        read = read_bytes(path, limit)
        if isinstance(read, Skipped):
            # A file that exists but cannot be read keeps whatever was indexed from it before.
            seen.add(article_id)
            report.skipped.append(read)
            continue
        fingerprint = digest_bytes(read.data + _page_facts(item.page))
        if item.page is None and (twin := by_content.get(fingerprint)) is not None:
            # Pages are told apart by their text below, where the one indexed already stays the article.
            report.skipped.append(Skipped(path, f"has the same content as {twin}, which is indexed once"))
            also_at.setdefault(twin, []).append(article_id)
            continue
        by_file[target] = by_content[fingerprint] = article_id
        seen.add(article_id)
        if known.get(article_id) == fingerprint:
            report.unchanged.append(article_id)  # decided from the bytes alone: nothing is parsed
            continue
        prepared = _prepare(item, settings, read.data)
        if isinstance(prepared, Skipped):
            report.skipped.append(prepared)
            continue
        article, chunks = prepared
        registered = article_id in known  # possibly half-written by a killed run
        signature: list[int] = []
        if article is not None:
            signature = sketch(body_text(article))
            if (original := copies.original(article_id, signature)) is not None:
                # A copy of a kept article: noted on it, not indexed again (and no longer on its own).
                also_at.setdefault(original, []).append(article.url or article_id)
                report.copies.append(Skipped(path, f"has the same text as {original}; indexed once, noted as also at"))
                article = None
                if not registered:
                    continue
            else:
                copies.keep(article_id, signature)
        _tell_cut(report, path, read, chunks, settings)
        chunks = chunks[: settings.max_chunks_per_article]
        if article is None and not signature:
            report.skipped.append(Skipped(path, "has no article text left after cleaning"))
        if (article is not None or registered) and not dirty:
            # Derived indexes built from here on must not pass for ones of the old content.
            store.registry.bump_revision()
            dirty = True
        if article is None:
            if registered:
                sentences.delete_article(article_id)
                store.remove_article(article_id)
                report.removed.append(article_id)
        else:
            if registered:
                sentences.delete_article(article_id)
                store.begin_article(article_id)
            writer.add(article, chunks, {"shingles": signature})
            (report.updated if known.get(article_id) else report.added).append(article_id)
    writer.flush()
    report.chunks_embedded = writer.embedded
    if sentence_vectors:
        report.sentences_embedded = writer.embedded + _backfill_sentences(store, sentences, embedder, settings)

    for article_id in sorted(set(known) - seen):
        if not dirty:
            store.registry.bump_revision()
            dirty = True
        sentences.delete_article(article_id)
        store.remove_article(article_id)
        report.removed.append(article_id)

    if dirty:
        store.registry.bump_revision()
        derived.rebuild(store, settings.derived_dir)
    else:
        derived.load(store, settings.derived_dir, save=True)
    report.regrouped = _record_stories(store, also_at)
    report.chunks_total = store.count()
    report.revision = store.registry.revision
    return report


def _is_page(article_id: str) -> bool:
    return article_id.startswith(("http://", "https://"))


def _page_facts(page: Page | None) -> bytes:
    """What of a page's metadata its chunks carry: a change re-reads the page (its other addresses do not)."""
    if page is None:
        return b""
    return f"\0{page.title}\0{page.outlet}\0{page.published}".encode()


def _record_stories(store: ChunkStore, also_at: dict[str, list[str]]) -> bool:
    """Give every article its vector (an index built before they were kept), its other addresses and its story."""
    records = store.registry.records()
    vectors = store.registry.vectors()
    for row in records:
        if row["id"] not in vectors and (vector := store.article_vector(row["id"])) is not None:
            vectors[row["id"]] = vector
            store.registry.amend({row["id"]: {"vector": encode_vector(vector)}})
    grouped = stories(vectors, {row["id"]: str(row.get("language", "")) for row in records})
    changes: dict[str, dict[str, Any]] = {}
    for row in records:
        wanted: dict[str, Any] = {"story": grouped.get(row["id"], row["id"])}
        wanted["also_at"] = sorted(dict.fromkeys(also_at.get(row["id"], [])))
        if str(row.get("story", "")) != wanted["story"] or row.get("also_at", []) != wanted["also_at"]:
            changes[row["id"]] = wanted
    if changes:
        store.registry.amend(changes)
    return bool(changes)


def _prepare(item: Source, settings: Settings, data: bytes) -> tuple[Article | None, list[Chunk]] | Skipped:
    """Decode, clean and chunk one file; any failure in that (a parser's bug included) skips the file
    with its reason instead of ending the run."""
    path = item.path
    try:
        if item.page is None:
            document = decode_document(path, settings.corpus_dir, data)
        else:
            document = RawDocument(id=item.id, path=path, text=data.decode("utf-8"),
                                   digest=digest_bytes(data + _page_facts(item.page)))
        if isinstance(document, Skipped):
            return document
        article = clean(document)
        if article is not None and item.page is not None:
            page = item.page
            article = article.model_copy(update={
                "url": page.url, "outlet": page.outlet, "title": page.title or article.title,
                "published": page.published or article.published,
            })
        # One chunk over the limit is asked for, to tell a cut article from one exactly at the limit.
        most = settings.max_chunks_per_article + 1
        chunks = [] if article is None else chunk_article(article, max_chars=settings.chunk_chars, max_chunks=most)
    except Exception as exc:
        log.debug("preparing %s failed", path, exc_info=True)
        return Skipped(path, f"could not be processed ({type(exc).__name__}: {first_line(exc)})")
    return article, chunks


def _resolved(path: Path) -> Path:
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return path


def _tell_cut(report: IngestReport, path: Path, read: FileBytes, chunks: list[Chunk], settings: Settings) -> None:
    """Record that a limit left part of a file out of the index."""
    if read.cut:
        report.cut.append(Skipped(
            path, f"is {read.size / 1e6:.3g} MB; only its first {settings.max_file_mb:g} MB are indexed "
            "(NEWSQA_MAX_FILE_MB); split it into articles or raise the limit",
        ))
    if len(chunks) > settings.max_chunks_per_article:
        report.cut.append(Skipped(
            path, f"makes more than {settings.max_chunks_per_article} chunks; only the first "
            f"{settings.max_chunks_per_article} are indexed (NEWSQA_MAX_CHUNKS_PER_ARTICLE); "
            "split it into articles or raise the limit",
        ))


def _backfill_sentences(
    store: ChunkStore, sentences: SentenceStore, embedder: Embedder, settings: Settings
) -> int:
    """Store the sentence vectors of chunks that have none (an index built before they were
    stored); compares counts first, so an index that has them all costs two counts."""
    if sentences.count() >= store.count():
        return 0
    have = sentences.ids()
    missing = [chunk for chunk in store.all_chunks() if chunk.id not in have]
    batch = max(settings.write_batch_size, 1)
    for i in range(0, len(missing), batch):
        part = missing[i : i + batch]
        sentences.put(part, embed_sentences(embedder, part, settings.embed_batch_size), store.max_batch_size)
    if missing:
        log.info("stored the sentence vectors of %d chunks indexed before they were kept", len(missing))
    return len(missing)

