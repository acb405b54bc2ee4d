"""The window ranker: every quotable 1–3-sentence window of the best chunks, described by features and
scored by one linear function whose weights are learned (`python -m benchmarks.train_ranker`) and
shipped in `retrieval/answer/ranker.json`.

Features come in groups (the ablation in benchmarks/CEILING.md removes one group at a time):
cosine (the window's centred sentence cosines), chunk (its chunk's centred cosine, fused rank, bm25 and
word overlap), shape (window length), qtype (the window holds what the question asks for and does not
already say), overlap (idf-weighted folded words, 4-grams) and bridge (dates, places, names and numbers
shared with the question across scripts, see `retrieval.question.bridges`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from retrieval.models import Chunk, Question
from retrieval.question import QuestionType, analyse, answer_span, bridges
from retrieval.text import content_words, lexical_tokens

GROUPS: dict[str, list[str]] = {
    "cosine": ["sentence_max", "sentence_mean", "sentence_min", "sentence_z", "best_sentence"],
    "chunk": ["chunk_centred", "chunk_rank", "chunk_bm25", "chunk_overlap", "chunk_best_z"],
    "shape": ["two_sentences", "three_sentences", "log_chars"],
    "qtype": ["type_when", "type_count", "type_who", "type_where"],
    "overlap": ["word_idf", "word_grams"],
    "bridge": ["same_date", "same_month", "same_year", "same_place", "same_name", "same_number"],
}
FEATURES: list[str] = [name for names in GROUPS.values() for name in names]
WEIGHTS_FILE = "ranker.json"


@dataclass(frozen=True)
class Window:
    """Sentences first..last of the read chunk at `chunk` (its fused rank among the read chunks)."""

    chunk: int
    first: int
    last: int


@dataclass(frozen=True)
class _Sentence:
    """What the features need to know about one sentence, computed once per sentence text."""

    words: frozenset[str]
    grams: frozenset[str]
    dates: frozenset[str]
    places: frozenset[str]
    numbers: frozenset[str]
    spans: frozenset[str]  # the question types an answer span was found for


@lru_cache(maxsize=65536)
def _sentence(text: str) -> _Sentence:
    return _Sentence(
        words=frozenset(content_words(text)),
        grams=frozenset(lexical_tokens(text)),
        dates=bridges.dates(text),
        places=bridges.places(text),
        numbers=bridges.numbers(text),
        spans=frozenset(t for t in ("when", "how_many", "who", "where") if answer_span(t, text)),
    )


@dataclass(frozen=True)
class QuestionView:
    """The question as the features see it: its words, names and bridged tokens."""

    qtype: QuestionType | None
    words: frozenset[str]
    grams: frozenset[str]
    names: frozenset[str]
    dates: frozenset[str]
    places: frozenset[str]
    numbers: frozenset[str]

    @classmethod
    def of(cls, question: Question | str, queries: tuple[str, ...] = ()) -> QuestionView:
        """The analysed question as the features see it; its translations' (`queries`) words and names
        count as the question's."""
        question = question if isinstance(question, Question) else analyse(question)
        texts = list(dict.fromkeys([question.search, *question.queries, *queries]))
        analysed = [_sentence(t) for t in texts]
        names = set()
        for text in texts:
            # Capitalised words after the first one: names in every script newsqa reads (places are
            # matched as places, whatever their script).
            tokens = text.split()
            names.update(w for t in tokens[1:] if t[:1].isupper() and not bridges.places(t) for w in content_words(t))
        return cls(
            qtype=question.asks,
            words=frozenset().union(*(a.words for a in analysed)),
            grams=frozenset().union(*(a.grams for a in analysed)),
            names=frozenset(names),
            dates=frozenset().union(*(a.dates for a in analysed)),
            places=frozenset().union(*(a.places for a in analysed)),
            numbers=frozenset().union(*(a.numbers for a in analysed)),
        )


def windows_of(chunk: Chunk, width: int) -> list[tuple[int, int]]:
    """Every quotable run of 1..`width` adjacent sentences (never across text cleaning removed)."""
    runs = []
    for first in range(len(chunk.sentences)):
        last = first
        runs.append((first, last))
        while last + 1 < len(chunk.sentences) and last - first + 1 < width and _joinable(chunk, last):
            last += 1
            runs.append((first, last))
    return runs


def _joinable(chunk: Chunk, i: int) -> bool:
    """Sentences i and i+1 stand next to each other in the file (nothing dropped between them)."""
    a, b = chunk.sentences[i], chunk.sentences[i + 1]
    return b.start - a.end == b.offset - (a.offset + len(a.text))


def _share(wanted: frozenset[str], found: set[str] | frozenset[str], weight: dict[str, float] | None = None) -> float:
    if not wanted:
        return 0.0
    if weight is None:
        return len(wanted & found) / len(wanted)
    total = sum(weight.get(w, 1.0) for w in wanted)
    return sum(weight.get(w, 1.0) for w in wanted & found) / total


def features(
    view: QuestionView,
    chunks: list[Chunk],
    sentence_scores: list[list[float]],
    centred: list[float],
    bm25: list[float],
    width: int = 3,
) -> tuple[list[Window], np.ndarray]:
    """Every window of `chunks` (fused order) and its feature row, in `FEATURES` order."""
    analysed = [[_sentence(s.text) for s in chunk.sentences] for chunk in chunks]
    df = Counter(w for sentences in analysed for s in sentences for w in s.words)
    n = sum(len(s) for s in analysed) + 1
    idf = {w: math.log(1 + n / (1 + df[w])) for w in view.words}
    bm25_best = max(bm25, default=0.0) or 1.0
    # Cosines spread differently from one question to another: z-scores among the question's own
    # sentences say how a sentence stands against its rivals.
    every = np.array([x for scores in sentence_scores for x in scores] or [0.0])
    mu, sd, top = float(every.mean()), float(every.std()) + 1e-6, float(every.max())
    windows: list[Window] = []
    rows: list[list[float]] = []
    for c, chunk in enumerate(chunks):
        chunk_words = set(content_words(chunk.text + " " + chunk.title))
        chunk_row = [
            centred[c],
            1.0 / (1 + c),
            bm25[c] / bm25_best,
            _share(view.words, chunk_words, idf),
            (max(sentence_scores[c], default=mu) - mu) / sd,
        ]
        for first, last in windows_of(chunk, width):
            parts = analysed[c][first : last + 1]
            scores = sentence_scores[c][first : last + 1]
            words = set().union(*(p.words for p in parts))
            dates = set().union(*(p.dates for p in parts))
            places = set().union(*(p.places for p in parts))
            numbers = set().union(*(p.numbers for p in parts))
            spans = set().union(*(p.spans for p in parts))
            size = last - first + 1
            chars = chunk.sentences[last].offset + len(chunk.sentences[last].text) - chunk.sentences[first].offset
            qtype = view.qtype
            rows.append(
                [
                    max(scores),
                    sum(scores) / size,
                    min(scores),
                    (max(scores) - mu) / sd,
                    float(max(scores) >= top),
                    *chunk_row,
                    float(size == 2),
                    float(size == 3),
                    math.log(max(chars, 1)),
                    float(qtype == "when" and (bool(dates - view.dates) or "when" in spans)),
                    float(qtype == "how_many" and (bool(numbers - view.numbers) or "how_many" in spans)),
                    float(qtype == "who" and "who" in spans and not words <= view.words),
                    float(qtype == "where" and (bool(places - view.places) or "where" in spans)),
                    _share(view.words, words, idf),
                    _share(view.grams, set().union(*(p.grams for p in parts))),
                    float(any(d.startswith("d:") for d in dates & view.dates)),
                    float(any(d[0] in "mw" for d in dates & view.dates)),
                    float(any(d.startswith("y:") for d in dates & view.dates)),
                    _share(view.places, places),
                    _share(view.names, words),
                    _share(view.numbers, numbers),
                ]
            )
            windows.append(Window(c, first, last))
    return windows, np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))


class Ranker:
    """A linear window scorer: score = features · weights (+ bias)."""

    def __init__(self, weights: np.ndarray, bias: float = 0.0, meta: dict | None = None) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = bias
        self.meta = meta or {}

    def score(self, rows: np.ndarray) -> np.ndarray:
        """One score per window row."""
        return rows @ self.weights + self.bias

    @classmethod
    def load(cls, path: Path | None = None) -> Ranker:
        """The shipped weights (or those at `path`); their feature names must be today's features."""
        shipped = resources.files("retrieval.answer").joinpath(WEIGHTS_FILE)
        text = path.read_text("utf-8") if path else shipped.read_text("utf-8")
        data = json.loads(text)
        by_name = dict(zip(data["features"], data["weights"]))
        missing = [f for f in FEATURES if f not in by_name]
        if missing:
            raise ValueError(f"ranker weights lack features {missing}; run python -m benchmarks.train_ranker")
        return cls(np.array([by_name[f] for f in FEATURES]), float(data.get("bias", 0.0)), data)

    def save(self, path: Path, **meta: object) -> None:
        """Write the weights with what they were trained on and how well they did."""
        data = {"features": FEATURES, "weights": [round(float(w), 6) for w in self.weights], "bias": self.bias}
        path.write_text(json.dumps({**data, **meta}, indent=1, ensure_ascii=False) + "\n", "utf-8")


def pick(windows: list[Window], scores: np.ndarray, top_k: int) -> list[int]:
    """Indices of the `top_k` best-scoring windows that do not overlap one another."""
    chosen: list[int] = []
    taken: dict[int, set[int]] = {}
    for i in np.argsort(-scores, kind="stable"):
        w = windows[int(i)]
        lines = set(range(w.first, w.last + 1))
        if taken.get(w.chunk, set()) & lines:
            continue
        taken.setdefault(w.chunk, set()).update(lines)
        chosen.append(int(i))
        if len(chosen) == top_k:
            break
    return chosen
