"""Chunks in Chroma, through llama-index's `ChromaVectorStore`.

Two collections: `<name>` holds one record per chunk (vector, text, metadata); `<name>_articles`
holds one record per fully ingested article with its fingerprint. An article's record is
written only after all its chunks are, so an interrupted ingest is detected and redone.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from typing import Any

import numpy as np
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.vector_stores.chroma import ChromaVectorStore

from retrieval.models import Chunk, Sentence
from retrieval.settings import Settings


class StoreError(Exception):
    """The index cannot be opened or written; the message says what to do."""


class IndexMissingError(StoreError):
    """There is no index yet."""


def build_client(settings: Settings, create: bool) -> Any:
    """A Chroma client: `HttpClient` when `CHROMA_HOST` is set, else a `PersistentClient` on disk."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        headers = {}
        if settings.chroma_auth_token:
            headers["Authorization"] = f"Bearer {settings.chroma_auth_token.get_secret_value()}"
        where = f"{settings.chroma_host}:{settings.chroma_port}"
        try:
            return chromadb.HttpClient(
                host=settings.chroma_host,
                port=settings.chroma_port,
                ssl=settings.chroma_ssl,
                headers=headers or None,
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises bare ValueError/ConnectError variants
            raise StoreError(
                f"cannot reach the Chroma server at {where} ({exc.__class__.__name__}); "
                "start it (chroma run) or unset CHROMA_HOST"
            ) from exc
    path = settings.chroma_dir
    if not create and not path.exists():
        raise IndexMissingError(f"no index at {settings.index_dir}; run `newsqa ingest` first")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex}"
        if create:
            probe.touch()
            probe.unlink()
    except OSError as exc:
        raise StoreError(f"index directory {settings.index_dir} is not writable ({exc.strerror}); "
                         "pass --index-dir to a writable place") from exc
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


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
    )


def _sentences_in(text: str, spans: list[list[int]]) -> list[Sentence]:
    return [
        Sentence(start=start, end=end, text=text[rel : rel + end - start], offset=rel) for start, end, rel in spans
    ]


class ChunkStore:
    """The chunk collection and the article registry of one index."""

    def __init__(self, client: Any, name: str, embedder_id: str, dimension: int, create: bool) -> None:
        self.client = client
        self.name = name
        try:
            if create:
                self.chunks = client.get_or_create_collection(
                    name=name,
                    metadata={"embedder": embedder_id, "dimension": dimension, "hnsw:space": "cosine"},
                    embedding_function=None,
                )
                self.articles = client.get_or_create_collection(name=f"{name}_articles", embedding_function=None)
            else:
                self.chunks = client.get_collection(name=name, embedding_function=None)
                self.articles = client.get_collection(name=f"{name}_articles", embedding_function=None)
        except StoreError:
            raise
        except Exception as exc:
            if not create and "does not exist" in str(exc).lower() or "not found" in str(exc).lower():
                raise IndexMissingError("the index is empty; run `newsqa ingest` first") from exc
            raise StoreError(f"cannot open the Chroma collection {name!r}: {exc}") from exc
        stored = (self.chunks.metadata or {}).get("embedder")
        if stored and stored != embedder_id:
            raise StoreError(
                f"this index was built with {stored}, but the configured embedder is {embedder_id}; "
                "set NEWSQA_EMBEDDER back or rebuild with `newsqa ingest --reset`"
            )
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)

    @classmethod
    def open(cls, settings: Settings, embedder_id: str, dimension: int, create: bool = False) -> ChunkStore:
        """Open the index named by the settings; `create` makes it when missing."""
        return cls(build_client(settings, create), settings.collection, embedder_id, dimension, create)

    @classmethod
    def reset(cls, settings: Settings) -> None:
        """Drop both collections, so the next ingest rebuilds from scratch."""
        client = build_client(settings, create=True)
        for name in (settings.collection, f"{settings.collection}_articles"):
            try:
                client.delete_collection(name)
            except Exception:  # noqa: S110 - absent already is what we want
                pass

    # --- articles --------------------------------------------------------------------------

    def article_fingerprints(self) -> dict[str, str]:
        """Fingerprint of every completely ingested article, by article id."""
        records = self.articles.get(include=["metadatas"])
        return {i: str(m.get("fingerprint", "")) for i, m in zip(records["ids"], records["metadatas"])}

    def article_records(self) -> list[dict[str, Any]]:
        """Stored facts of every ingested article: id, title, language, published, chunks."""
        records = self.articles.get(include=["metadatas"])
        rows = [{"id": i, **m} for i, m in zip(records["ids"], records["metadatas"])]
        return sorted(rows, key=lambda row: row["id"])

    def mark_article(self, article_id: str, fingerprint: str, facts: dict[str, Any]) -> None:
        """Record an article as completely ingested (its chunks are all written)."""
        clean_facts = {k: ("" if v is None else v) for k, v in facts.items()}
        self.articles.upsert(
            ids=[article_id], embeddings=[[1.0]], metadatas=[{"fingerprint": fingerprint, **clean_facts}]
        )

    def remove_article(self, article_id: str) -> None:
        """Delete an article's chunks, then its registry entry: a crash in between is redone next run."""
        self.vector_store.delete(article_id)
        self.articles.delete(ids=[article_id])

    # --- chunks ----------------------------------------------------------------------------

    def add_chunks(self, chunks: list[Chunk], embeddings: list[list[float]], fingerprint: str) -> None:
        """Write chunks with their vectors (batched under Chroma's limit by the vector store)."""
        nodes = []
        for chunk, embedding in zip(chunks, embeddings):
            node = TextNode(
                id_=chunk.id,
                text=chunk.text,
                embedding=embedding,
                metadata=_chunk_metadata(chunk, fingerprint),
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=chunk.article_id)
            nodes.append(node)
        if nodes:
            self.vector_store.add(nodes)

    def count(self) -> int:
        """Number of chunks stored."""
        return int(self.chunks.count())

    def all_chunks(self, batch: int = 5000) -> Iterable[Chunk]:
        """Every stored chunk, read in pages so large indexes do not load at once."""
        offset = 0
        while True:
            page = self.chunks.get(include=["documents", "metadatas"], limit=batch, offset=offset)
            if not page["ids"]:
                return
            for chunk_id, text, metadata in zip(page["ids"], page["documents"], page["metadatas"]):
                yield chunk_from_record(chunk_id, text, metadata)
            offset += len(page["ids"])

    def get_chunks(self, ids: list[str]) -> dict[str, tuple[Chunk, np.ndarray]]:
        """The chunks with these ids, each with its stored vector."""
        if not ids:
            return {}
        page = self.chunks.get(ids=ids, include=["documents", "metadatas", "embeddings"])
        return {
            i: (chunk_from_record(i, text, metadata), np.asarray(vector, dtype=np.float32))
            for i, text, metadata, vector in zip(page["ids"], page["documents"], page["metadatas"], page["embeddings"])
        }

    def embedding_pages(self, batch: int = 5000) -> Iterable[tuple[list[str], np.ndarray]]:
        """Every stored vector with its chunk's language, in pages of (languages, matrix)."""
        offset = 0
        while True:
            page = self.chunks.get(include=["embeddings", "metadatas"], limit=batch, offset=offset)
            if not page["ids"]:
                return
            languages = [str(m.get("language", "")) for m in page["metadatas"]]
            yield languages, np.asarray(page["embeddings"], dtype=np.float32)
            offset += len(page["ids"])

    def dense_search(
        self, embedding: list[float], k: int, language: str | None = None
    ) -> list[tuple[Chunk, float]]:
        """The `k` chunks nearest to a query vector (optionally of one language), with cosine similarity."""
        k = min(k, max(self.count(), 1))
        where = {"language": language} if language else None
        result = self.vector_store.query(
            VectorStoreQuery(query_embedding=embedding, similarity_top_k=k), where=where
        )
        hits = []
        for node, similarity in zip(result.nodes or [], result.similarities or []):
            # llama-index reports exp(-distance); Chroma's cosine distance is 1 - cos, so undo both.
            cosine = 1.0 + math.log(max(float(similarity), 1e-12))
            hits.append((chunk_from_record(node.node_id, node.get_content(), node.metadata), cosine))
        return hits

    # --- revision marker for derived indexes (bm25) -----------------------------------------

    @property
    def revision(self) -> str:
        """Changes whenever chunks are added or removed; derived indexes compare against it."""
        return str((self.articles.metadata or {}).get("revision", ""))

    def bump_revision(self) -> str:
        """Record that the chunk set changed."""
        revision = uuid.uuid4().hex
        self.articles.modify(metadata={"revision": revision})
        return revision
