"""Chunks in Chroma, through llama-index's `ChromaVectorStore`; embedded on disk or on a server.

The collection `<name>` holds one record per chunk (vector, text, metadata); the article registry
(`retrieval.index.articles`, collection `<name>_articles`) one record per article. An article's record is
written complete only after all its chunks are, and removed only after they are, so an ingest killed at
any point is detected and redone by the next run.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.index.articles import ArticleRegistry
from retrieval.index.remote import (
    IndexMissingError,
    StoreError,
    check_database,
    damaged_error,
    looks_damaged,
    remote,
    server_address,
    server_error,
)
from retrieval.index.snapshot import SnapshotError, current, discard, snapshot
from retrieval.messages import first_line
from retrieval.models import Chunk, Sentence
from retrieval.settings import Settings

log = logging.getLogger(__name__)


def build_client(settings: Settings, create: bool) -> Any:
    """A Chroma client: `HttpClient` when `CHROMA_HOST` is set, else a `PersistentClient` on disk."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        address = server_address(settings)
        headers = {}
        if settings.chroma_auth_token:
            token = settings.chroma_auth_token.get_secret_value()
            headers[settings.chroma_auth_header] = (
                f"Bearer {token}" if settings.chroma_auth_header == "Authorization" else token
            )
        try:
            return chromadb.HttpClient(
                host=settings.chroma_host,
                port=settings.chroma_port,
                ssl=settings.chroma_ssl,
                headers=headers or None,
                settings=chroma_settings,
            )
        except Exception as exc:
            error = server_error(exc, address, "connecting")
            if error is None:
                # Something answered, but not as a Chroma server would (its reply may be a whole page).
                error = StoreError(
                    f"the server at {address} did not answer as a Chroma server ({exc.__class__.__name__}); "
                    "check CHROMA_HOST and CHROMA_PORT"
                )
            raise error from exc
    path = settings.chroma_dir
    database = path / DATABASE_NAME
    if create:
        check_writable(settings)
        check_database(database)
    else:
        path = _reader_snapshot(settings, database)
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        if looks_damaged(exc):
            raise damaged_error(database, exc) from exc
        raise StoreError(
            f"cannot open the index at {settings.index_dir} ({type(exc).__name__}: {first_line(exc)}); "
            "rebuild it with `newsqa ingest --reset`"
        ) from exc


def _reader_snapshot(settings: Settings, database: Path) -> Path:
    """The private copy a reader opens (see `snapshot`), or one line saying why it cannot be made."""
    try:
        if not database.exists():
            raise IndexMissingError(f"no index at {settings.index_dir}; run `newsqa ingest` first")
        check_database(database)
        return snapshot(settings.chroma_dir, DATABASE_NAME)
    except SnapshotError as exc:
        raise StoreError(f"cannot read the index at {settings.index_dir}: {exc.strerror}") from exc
    except sqlite3.DatabaseError as exc:
        raise damaged_error(database, exc) from exc
    except PermissionError as exc:
        raise StoreError(
            f"cannot read the index at {settings.index_dir} (permission denied: {exc.filename}); "
            f"ask its owner to make it readable, e.g. chmod -R a+rX {settings.index_dir}"
        ) from exc
    except OSError as exc:
        raise StoreError(
            f"cannot read the index at {settings.index_dir} ({exc.strerror or exc}: {exc.filename}); "
            "check the disk, or rebuild it with `newsqa ingest --reset`"
        ) from exc


def check_writable(settings: Settings) -> None:
    """Create the embedded index's directory if needed, or say in one line why it cannot be written."""
    path = settings.chroma_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"index directory {settings.index_dir} is not writable ({exc.strerror}); "
                         "pass --index-dir to a writable place") from exc


def out_of_space(directory: Path) -> bool:
    """Whether the device holding `directory` refuses another MiB: asked after a write failed, because
    Chroma reports a full disk only as a failed compaction, without the system's error."""
    try:
        with tempfile.TemporaryFile(dir=directory) as probe:  # unnamed: nothing is left behind
            probe.write(bytes(2**20))
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return False


def forget_client(path: Path) -> None:
    """Drop chromadb's per-process client for an index directory that was just deleted, so the next
    open starts on the new files instead of the old, unlinked ones."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)


def _sentence_spans(chunk: Chunk) -> list[list[int]]:
    """[file start, file end, offset in chunk text] per sentence: enough to rebuild them exactly."""
    spans, cursor = [], 0
    for sentence in chunk.sentences:
        cursor = chunk.text.index(sentence.text, cursor)
        spans.append([sentence.start, sentence.end, cursor])
        cursor += len(sentence.text)
    return spans


def _chunk_metadata(chunk: Chunk, fingerprint: str) -> dict[str, Any]:
    return {
        "article_id": chunk.article_id,
        "position": chunk.position,
        "start": chunk.start,
        "end": chunk.end,
        "title": chunk.title,
        "language": chunk.language,
        "published": chunk.published or "",
        "source": chunk.source,
        "url": chunk.url or "",
        "outlet": chunk.outlet or "",
        "sentences": json.dumps(_sentence_spans(chunk)),
        "fingerprint": fingerprint,
    }


def chunk_from_record(chunk_id: str, text: str, metadata: dict[str, Any]) -> Chunk:
    """Rebuild a Chunk from what Chroma stores (sentence texts are cut from the chunk text)."""
    sentences = _sentences_in(text, json.loads(metadata["sentences"]))
    return Chunk(
        id=chunk_id,
        article_id=str(metadata["article_id"]),
        position=int(metadata["position"]),
        start=int(metadata["start"]),
        end=int(metadata["end"]),
        text=text,
        sentences=sentences,
        title=str(metadata.get("title", "")),
        language=str(metadata.get("language", "")),
        published=str(metadata.get("published") or "") or None,
        source=str(metadata.get("source", metadata["article_id"])),
        url=str(metadata.get("url") or "") or None,
        outlet=str(metadata.get("outlet") or "") or None,
    )


def _sentences_in(text: str, spans: list[list[int]]) -> list[Sentence]:
    return [
        Sentence(start=start, end=end, text=text[rel : rel + end - start], offset=rel)
        for start, end, rel in spans
    ]


class ChunkStore:
    """The chunk collection of one index; its articles are in `registry` (`ArticleRegistry`)."""

    def __init__(
        self, client: Any, name: str, embedder_id: str, dimension: int, create: bool,
        address: str | None = None, ef_search: int = 1000, database: Path | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.address = address  # the server's URL in server mode, for error messages
        self.dimension = dimension  # of the embedder's vectors: what saved centroids must match
        self.database = database or Path(DATABASE_NAME)  # the embedded index file, for error messages
        self._open(embedder_id, dimension, create, ef_search)
        if create:
            # Only a writer tunes: reading never changes the index (a read-only one must answer too).
            self._tune(ef_search)
        self._vector_store: Any = None
        self.max_batch_size = self._max_batch_size()
        self.registry = ArticleRegistry(client, self.articles, self.max_batch_size, address, self.database)
        self.snapshot: Path | None = None  # a reader's private copy of an embedded index (see `close`)
        self._language_counts: dict[str, int] | None = None
        self._small_languages: dict[str, tuple[list[str], np.ndarray]] = {}

    @remote("opening the index")
    def _open(self, embedder_id: str, dimension: int, create: bool, ef_search: int) -> None:
        try:
            if create:
                self.chunks = self.client.get_or_create_collection(
                    name=self.name,
                    metadata={
                        "embedder": embedder_id, "dimension": dimension, "hnsw:space": "cosine",
                        # A denser graph than Chroma's default (16 links, 100): measured at 100k
                        # chunks with ef_search 1000, recall of the true 20 nearest 0.97 → 1.00,
                        # for no measurable ingest time.
                        "hnsw:M": 32, "hnsw:construction_ef": 200, "hnsw:search_ef": ef_search,
                    },
                    embedding_function=None,
                )
                self.articles = self.client.get_or_create_collection(
                    name=f"{self.name}_articles", embedding_function=None
                )
            else:
                self.chunks = self.client.get_collection(name=self.name, embedding_function=None)
                self.articles = self.client.get_collection(
                    name=f"{self.name}_articles", embedding_function=None
                )
        except Exception as exc:
            if self.address and server_error(exc, self.address, "opening the index"):
                raise
            message = str(exc).lower()
            if not create and ("does not exist" in message or "not found" in message):
                where = f"on the Chroma server at {self.address}" if self.address else "yet"
                raise IndexMissingError(
                    f"there is no index {self.name!r} {where}; run `newsqa ingest` first"
                ) from exc
            raise StoreError(f"cannot open the Chroma collection {self.name!r}: {exc}") from exc
        stored = (self.chunks.metadata or {}).get("embedder")
        if stored and stored != embedder_id:
            raise StoreError(
                f"this index was built with {stored}, but the configured embedder is {embedder_id}; "
                "set NEWSQA_EMBEDDER back or rebuild with `newsqa ingest --reset`"
            )

    def _tune(self, ef_search: int) -> None:
        """Give an index built earlier the configured `ef_search` (a query-time setting Chroma keeps)."""
        try:
            current = (self.chunks.configuration_json or {}).get("hnsw", {}).get("ef_search")
            if current is not None and current != ef_search:
                self.chunks.modify(configuration={"hnsw": {"ef_search": ef_search}})
        except Exception as exc:  # a read-only index or an older server: it still answers, less exactly
            log.warning("could not set ef_search=%d on %s: %s", ef_search, self.name, exc)

    def _max_batch_size(self) -> int:
        try:
            return int(self.client.get_max_batch_size())
        except Exception:  # an older server without the endpoint: Chroma's long-standing default
            return 5461

    @property
    def vector_store(self) -> Any:
        """llama-index's `ChromaVectorStore` over the chunks, for writes; built on first use, because
        importing llama-index costs more than a whole answer (`newsqa ask` only reads)."""
        if self._vector_store is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vector_store = ChromaVectorStore(chroma_collection=self.chunks)
        return self._vector_store

    @classmethod
    def open(cls, settings: Settings, embedder_id: str, dimension: int, create: bool = False) -> ChunkStore:
        """Open the index named by the settings; `create` makes it when missing."""
        address = server_address(settings) if settings.chroma_host else None
        client = build_client(settings, create)
        store = cls(
            client, settings.collection, embedder_id, dimension, create, address, settings.hnsw_ef_search,
            settings.chroma_dir / DATABASE_NAME,
        )
        if not (create or settings.chroma_host):
            store.snapshot = current(settings.chroma_dir)
        return store

    def close(self) -> None:
        """Let go of a reader's private snapshot (nothing for a writer or a server): its Chroma system is
        stopped and its files removed. The store must not be used afterwards."""
        if self.snapshot is None:
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        system = SharedSystemClient._identifier_to_system.pop(str(self.snapshot), None)
        SharedSystemClient._identifier_to_refcount.pop(str(self.snapshot), None)
        if system is not None:
            try:
                system.stop()
            except Exception as exc:  # a system that will not stop still has its files removed below
                log.debug("stopping the Chroma system of %s: %s", self.snapshot, exc)
        discard(self.snapshot)
        self.snapshot = None

    @classmethod
    def reset(cls, settings: Settings) -> None:
        """Drop the collections, so the next ingest rebuilds from scratch. On disk that is removing
        the `chroma` directory newsqa created (whatever state it is in: this is how a damaged index
        is recovered); nothing else in the index directory is touched."""
        if not settings.chroma_host:
            if settings.chroma_dir.exists():
                try:
                    shutil.rmtree(settings.chroma_dir)
                except OSError as exc:
                    raise StoreError(
                        f"cannot remove {settings.chroma_dir} ({exc.strerror}); "
                        "check its permissions, or pass --index-dir to a writable place"
                    ) from exc
            forget_client(settings.chroma_dir)
            return
        client = build_client(settings, create=True)
        address = server_address(settings) if settings.chroma_host else None
        # <name>_sentences: the sentence vectors (retrieval/index/sentence_vectors.py), dropped with their chunks.
        for name in (settings.collection, f"{settings.collection}_articles", f"{settings.collection}_sentences"):
            try:
                client.delete_collection(name)
            except Exception as exc:
                error = server_error(exc, address, "dropping the index") if address else None
                if error is not None:
                    raise error from exc
                # Absent already is what we want.

    # --- articles: the registry holds them; removal spans both ----------------------------

    def remove_article(self, article_id: str) -> None:
        """Delete an article's chunks, then its registry entry: a crash in between leaves the entry,
        so the next run removes the article again."""
        self._delete_chunks(article_id)
        self.registry.remove(article_id)

    def begin_article(self, article_id: str) -> None:
        """Before rewriting a registered article: mark it as being written, then delete its chunks;
        until it is recorded again, every run redoes it, whatever the file then holds."""
        self.registry.writing([article_id])
        self._delete_chunks(article_id)

    @remote("replacing an article")
    def _delete_chunks(self, article_id: str) -> None:
        self.vector_store.delete(article_id)

    @remote("reading chunks")
    def has_chunks(self, article_id: str) -> bool:
        """Whether any chunk of the article is stored (e.g. left by a killed run)."""
        return bool(self.chunks.get(where={"document_id": article_id}, limit=1, include=[])["ids"])

    @remote("reading chunks")
    def article_vector(self, article_id: str) -> np.ndarray | None:
        """The mean of an article's chunk vectors, normalised (None when it has no chunks)."""
        found = self.chunks.get(where={"document_id": article_id}, include=["embeddings"])
        if not len(found["ids"]):
            return None
        mean = np.asarray(found["embeddings"], dtype=np.float32).mean(axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-12)

    # --- chunks ----------------------------------------------------------------------------

    @remote("writing chunks")
    def add_chunks(
        self, chunks: list[Chunk], embeddings: list[list[float]], fingerprint: str | list[str]
    ) -> None:
        """Write chunks with their vectors (one fingerprint, or one per chunk), in batches under
        Chroma's limit."""
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        fingerprints = [fingerprint] * len(chunks) if isinstance(fingerprint, str) else fingerprint
        nodes = []
        for chunk, embedding, chunk_fingerprint in zip(chunks, embeddings, fingerprints, strict=True):
            node = TextNode(
                id_=chunk.id,
                text=chunk.text,
                embedding=list(embedding),
                metadata=_chunk_metadata(chunk, chunk_fingerprint),
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=chunk.article_id)
            nodes.append(node)
        for part in _batches(nodes, self.max_batch_size):
            self.vector_store.add(part)

    @remote("counting chunks")
    def count(self) -> int:
        """Number of chunks stored."""
        return int(self.chunks.count())

    def all_chunks(self, batch: int = 2000) -> Iterable[Chunk]:
        """Every stored chunk, read in pages so large indexes do not load at once."""
        offset = 0
        while True:
            page = self._page(["documents", "metadatas"], batch, offset)
            rows = zip(page["ids"], page["documents"], page["metadatas"], strict=True)
            for chunk_id, text, metadata in rows:
                yield chunk_from_record(chunk_id, text, metadata)
            if len(page["ids"]) < batch:
                return
            offset += len(page["ids"])

    @remote("reading chunks")
    def first_chunks(self, article_ids: list[str]) -> dict[str, Chunk]:
        """Each article's first chunk (its opening), by article id."""
        if not article_ids:
            return {}
        page = self.chunks.get(where={"$and": [{"article_id": {"$in": article_ids}}, {"position": 0}]},
                               include=["documents", "metadatas"])
        rows = zip(page["ids"], page["documents"], page["metadatas"], strict=True)
        return {str(metadata["article_id"]): chunk_from_record(i, text, metadata) for i, text, metadata in rows}

    def embedding_pages(self, batch: int = 2000) -> Iterable[tuple[list[str], np.ndarray]]:
        """Every stored vector with its chunk's language, in pages of (languages, matrix)."""
        offset = 0
        while True:
            page = self._page(["embeddings", "metadatas"], batch, offset)
            if len(page["ids"]):
                languages = [str(m.get("language", "")) for m in page["metadatas"]]
                yield languages, np.asarray(page["embeddings"], dtype=np.float32)
            if len(page["ids"]) < batch:
                return
            offset += len(page["ids"])

    @remote("reading chunks")
    def _page(self, include: list[str], limit: int, offset: int) -> dict[str, Any]:
        return self.chunks.get(include=include, limit=limit, offset=offset)

    @remote("reading chunks")
    def get_chunks(self, ids: list[str]) -> dict[str, tuple[Chunk, np.ndarray]]:
        """The chunks with these ids, each with its stored vector."""
        if not ids:
            return {}
        page = self.chunks.get(ids=ids, include=["documents", "metadatas", "embeddings"])
        rows = zip(page["ids"], page["documents"], page["metadatas"], page["embeddings"], strict=True)
        return {
            i: (chunk_from_record(i, text, metadata), np.asarray(vector, dtype=np.float32))
            for i, text, metadata, vector in rows
        }

    @remote("searching")
    def dense_search(
        self, embedding: list[float], k: int, language: str | None = None
    ) -> list[tuple[Chunk, float]]:
        """The `k` chunks nearest to a query vector (optionally of one language), with cosine similarity."""
        k = max(k, 1)
        if not language:
            return self._fetch(self._nearest(embedding, k))
        # Chroma's `where` filter costs ~0.1-0.3 s a query at 100k chunks whatever it selects
        # (benchmarks/RESULTS.md), so a language is searched without it where that stays exact.
        counts = self.language_counts()
        have, total = counts.get(language, 0), sum(counts.values())
        if have and have == total:
            return self._fetch(self._nearest(embedding, k))
        if have:
            # The nearest `over` chunks hold the nearest k of this language when enough of them are
            # of it: any chunk of it further away is further than all of those.
            over = math.ceil(1.5 * k * total / have)
            if over <= _OVERFETCH_LIMIT:
                nearest = self._nearest(embedding, over)
                mine = [(i, cosine) for i, cosine, lang in nearest if lang == language]
                if len(mine) >= min(k, have) or len(nearest) < over:
                    return self._fetch([(i, cosine, language) for i, cosine in mine[:k]])
            if have <= _SMALL_LANGUAGE:
                return self._fetch(self._exact_within(embedding, k, language))
        return self._fetch(self._nearest(embedding, k, {"language": language}))

    def language_counts(self) -> dict[str, int]:
        """Chunks per language, from the article registry (read once per opened store, like the
        derived indexes; only used to choose how to search, never to decide what is found)."""
        if self._language_counts is None:
            counts: dict[str, int] = {}
            for row in self.registry.records():
                language = str(row.get("language", ""))
                counts[language] = counts.get(language, 0) + int(row.get("chunks", 0) or 0)
            self._language_counts = counts
        return self._language_counts

    def _nearest(
        self, embedding: list[float], n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float, str]]:
        """(id, cosine, language) of the `n` nearest chunks; texts are fetched for the chosen ones only."""
        result = self.chunks.query(
            query_embeddings=[list(embedding)], n_results=n, where=where, include=["metadatas", "distances"]
        )
        rows = zip(result["ids"][0], result["distances"][0], result["metadatas"][0], strict=True)
        # Chroma's cosine distance is 1 - cos.
        return [(i, 1.0 - float(d), str((m or {}).get("language", ""))) for i, d, m in rows]

    def _exact_within(self, embedding: list[float], k: int, language: str) -> list[tuple[str, float, str]]:
        """Exact nearest chunks of a small language, over its vectors kept in memory."""
        if language not in self._small_languages:
            page = self.chunks.get(where={"language": language}, include=["embeddings"])
            matrix = np.asarray(page["embeddings"], dtype=np.float32).reshape(len(page["ids"]), -1)
            norms = np.linalg.norm(matrix, axis=1)
            self._small_languages[language] = (list(page["ids"]), matrix / np.maximum(norms, 1e-12)[:, None])
        ids, matrix = self._small_languages[language]
        query = np.asarray(embedding, dtype=np.float32)
        scores = matrix @ (query / max(float(np.linalg.norm(query)), 1e-12))
        best = np.argsort(-scores)[:k]
        return [(ids[int(j)], float(scores[j]), language) for j in best]

    def _fetch(self, found: list[tuple[str, float, str]]) -> list[tuple[Chunk, float]]:
        if not found:
            return []
        page = self.chunks.get(ids=[i for i, _, _ in found], include=["documents", "metadatas"])
        records = dict(zip(page["ids"], zip(page["documents"], page["metadatas"], strict=True), strict=True))
        return [
            (chunk_from_record(i, *records[i]), cosine) for i, cosine, _ in found if i in records
        ]

# The embedded Chroma database file inside the index's `chroma` directory.
DATABASE_NAME = "chroma.sqlite3"
# Most chunks a language-limited search fetches unfiltered before filtering by language itself.
_OVERFETCH_LIMIT = 400
# Largest language whose vectors a store keeps in memory for exact search.
_SMALL_LANGUAGE = 20000


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), max(size, 1)):
        yield items[i : i + size]
