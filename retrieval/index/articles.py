"""The article registry: one record per article of an index (Chroma collection `<name>_articles`), with its
fingerprint, its facts (title, language, date, URL, outlet), the other addresses it was found at, the story
it belongs to, and the index revision derived indexes compare against.

An article is registered as *being written* before its first chunk is stored and recorded as complete
with its fingerprint after its last, so an ingest killed at any point is detected and redone.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.index.remote import remote

# Registry states: an article being written (chunks may be partial), and one completely stored.
WRITING, COMPLETE = "writing", "complete"
# Facts kept for the registry's own use, not shown as an article's facts.
_INTERNAL = ("state", "vector", "shingles")


class ArticleRegistry:
    """What an index holds, article by article (the chunks themselves are the `ChunkStore`'s)."""

    def __init__(self, client: Any, collection: Any, max_batch_size: int, address: str | None, database: Path) -> None:
        self.client = client
        self.collection = collection
        self.max_batch_size = max_batch_size
        self.address = address  # for `remote`'s one-line errors
        self.database = database

    @remote("reading the article registry")
    def fingerprints(self) -> dict[str, str]:
        """Fingerprint of every article in the registry, by id ("" for one still being written)."""
        return {row["id"]: str(row.get("fingerprint", "")) for row in self._rows()}

    @remote("reading the article registry")
    def records(self) -> list[dict[str, Any]]:
        """Stored facts of every completely ingested article: id, title, language, published, chunks, url,
        outlet, also_at (other addresses of the same text), story (the id of the first article of its story)."""
        rows = [row for row in self._rows() if row.get("state") != WRITING]
        return sorted((_facts(row) for row in rows), key=lambda row: row["id"])

    @remote("reading the article registry")
    def vectors(self) -> dict[str, np.ndarray]:
        """Each complete article's vector (the mean of its chunks'), by id."""
        return {
            row["id"]: _decode(str(row["vector"]))
            for row in self._rows() if row.get("state") != WRITING and row.get("vector")
        }

    @remote("reading the article registry")
    def shingles(self) -> dict[str, list[int]]:
        """Each complete article's text signature (for near-duplicates), by id."""
        return {
            row["id"]: json.loads(str(row["shingles"]))
            for row in self._rows() if row.get("state") != WRITING and row.get("shingles")
        }

    def _rows(self, page: int = 5000) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while True:
            records = self.collection.get(include=["metadatas"], limit=page, offset=len(rows))
            pairs = zip(records["ids"], records["metadatas"], strict=True)
            rows.extend({"id": i, **(m or {})} for i, m in pairs)
            if len(records["ids"]) < page:
                return rows

    @remote("writing the article registry")
    def complete(self, entries: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Record articles as completely ingested (id, fingerprint, facts), in writes under Chroma's batch limit."""
        for part in _batches(entries, self.max_batch_size):
            self.collection.upsert(
                ids=[article_id for article_id, _, _ in part],
                embeddings=[[1.0]] * len(part),
                metadatas=[
                    {"fingerprint": fingerprint, "state": COMPLETE, **_stored(facts)}
                    for _, fingerprint, facts in part
                ],
            )

    @remote("writing the article registry")
    def writing(self, article_ids: list[str]) -> None:
        """Register articles as being written, before any of their chunks is: an article with stored chunks
        always has a registry entry, so one the registry does not know needs no clean-up."""
        for part in _batches(article_ids, self.max_batch_size):
            self.collection.upsert(
                ids=part, embeddings=[[1.0]] * len(part),
                metadatas=[{"fingerprint": "", "state": WRITING}] * len(part),
            )

    @remote("writing the article registry")
    def amend(self, changes: dict[str, dict[str, Any]]) -> None:
        """Change some facts of complete articles (their other addresses, their story), keeping the rest."""
        ids = list(changes)
        for part in _batches(ids, self.max_batch_size):
            found = self.collection.get(ids=part, include=["metadatas"])
            rows = {i: dict(m or {}) for i, m in zip(found["ids"], found["metadatas"], strict=True)}
            kept = [i for i in part if i in rows]
            if kept:
                self.collection.update(
                    ids=kept, metadatas=[{**rows[i], **_stored(changes[i])} for i in kept]
                )

    @remote("removing an article")
    def remove(self, article_id: str) -> None:
        """Delete an article's record (its chunks must be gone first)."""
        self.collection.delete(ids=[article_id])

    @property
    @remote("reading the index revision")
    def revision(self) -> str:
        """Changes whenever chunks are added or removed; derived indexes compare against it."""
        # Read afresh: on a Chroma server another machine may have changed it since this process opened it.
        collection = self.client.get_collection(name=self.collection.name, embedding_function=None)
        return str((collection.metadata or {}).get("revision", ""))

    @remote("writing the index revision")
    def bump_revision(self) -> str:
        """Record that the chunk set changed (or is about to)."""
        revision = uuid.uuid4().hex
        self.collection.modify(metadata={"revision": revision})
        return revision


def encode_vector(vector: np.ndarray) -> str:
    """An article vector as compact text for the registry (float16: a story is told by cosines to 0.001)."""
    return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode("ascii")


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float32)


def _stored(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts as Chroma metadata: no None, lists as JSON."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        if isinstance(value, (list, tuple)):
            out[key] = json.dumps(list(value), ensure_ascii=False)
        else:
            out[key] = "" if value is None else value
    return out


def _facts(row: dict[str, Any]) -> dict[str, Any]:
    """A registry row as an article's facts: lists decoded, internal fields left out."""
    facts = {k: v for k, v in row.items() if k not in _INTERNAL}
    raw = facts.get("also_at")
    facts["also_at"] = json.loads(raw) if isinstance(raw, str) and raw.startswith("[") else []
    return facts


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), max(size, 1)):
        yield items[i : i + size]
