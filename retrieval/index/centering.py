"""Per-language centring of dense scores.

Multilingual e5 scores a question higher against passages in some languages than others
whatever they say (here an English question prefers any Bulgarian passage to the right
Vietnamese one). Subtracting the question's similarity to a language's reference vector removes
that offset. Measured on the seed fixture: answer-bearing chunk in the top 3 rises from 0.70 to 0.89.

The reference is not simply the language's mean chunk vector. A language whose chunks are all on
one topic has a mean that carries the topic too, and subtracting it penalises exactly the chunks a
question on that topic wants (benchmarks/centring.py: the seeds among real distractors in eleven
other languages, seed chunks in the top 3 0.89 → 0.21). So the language's shift is measured
against topic-matched neighbours instead: each sampled chunk against the mean of its nearest
chunks in other languages, which share its topic but not its language.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, NonNegativeInt

from retrieval.index.saved import damaged, read_model

log = logging.getLogger(__name__)

FILE_NAME = "centroids.json"
# Chunks sampled over all languages to measure language shifts (one SAMPLE × SAMPLE product: ~1 s).
SAMPLE = 4000
# Nearest other-language chunks that say which languages share a chunk's topic: few, so that they do.
NEIGHBOURS = 3
# How much less similar than a chunk's NEIGHBOURS-th nearest an other-language chunk may be and still
# stand for its language on that chunk's topic (cosine; e5 puts unrelated passages 0.1-0.2 lower).
MARGIN = 0.02


class LanguageCentroids:
    """Mean chunk vector and centring reference per language, tied to the store revision it was computed from."""

    def __init__(
        self,
        centroids: dict[str, np.ndarray],
        counts: dict[str, int],
        revision: str,
        references: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.centroids = centroids
        self.counts = counts
        self.revision = revision
        # The vector whose similarity to a question is subtracted from that question's cosines with
        # the language's chunks (`build`); the plain means when not measured.
        self.references = references if references is not None else centroids
        # Most a language's offset may exceed the question's similarity to all chunks' mean (None: no
        # limit): a blunter bound on a one-topic language's offset than `references`. NEWSQA_CENTRING_CAP.
        self.cap: float | None = None
        total = sum(counts.values())
        self._everything = (
            sum(counts[lang] * vector for lang, vector in centroids.items()) / total if total else None
        )

    @classmethod
    def build(cls, pages: Iterable[tuple[list[str], np.ndarray]], revision: str) -> LanguageCentroids:
        """Average the vectors given as pages of (languages, matrix) and measure each language's shift."""
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        samples = _Reservoirs(SAMPLE)
        for languages, matrix in pages:
            labels = np.asarray(languages)
            for language in map(str, np.unique(labels)):
                rows = matrix[labels == language]
                sums[language] = sums.get(language, 0) + rows.sum(axis=0, dtype=np.float64)
                counts[language] = counts.get(language, 0) + len(rows)
                samples.add(language, rows)
        centroids = {lang: (total / counts[lang]).astype(np.float32) for lang, total in sums.items()}
        return cls(centroids, counts, revision, _references(centroids, samples.take(counts)))

    @property
    def languages(self) -> list[str]:
        """Languages with at least one chunk, most chunks first."""
        return sorted(self.counts, key=lambda lang: -self.counts[lang])

    def offset(self, query: np.ndarray, language: str) -> float:
        """The question's similarity to `language`'s reference (0 for an unknown language)."""
        reference = self.references.get(language)
        if reference is None:
            return 0.0
        offset = float(query @ reference)
        if self.cap is not None and self._everything is not None:
            offset = min(offset, float(query @ self._everything) + self.cap)
        return offset

    def save(self, directory: Path) -> None:
        """Write beside the index (replacing atomically)."""
        directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "revision": self.revision,
            "counts": self.counts,
            "centroids": {lang: vec.tolist() for lang, vec in self.centroids.items()},
            "references": {lang: vec.tolist() for lang, vec in self.references.items()},
        }
        tmp = directory / (FILE_NAME + ".tmp")
        tmp.write_text(json.dumps(payload), "utf-8")
        tmp.replace(directory / FILE_NAME)

    @classmethod
    def load(cls, directory: Path, dimension: int) -> LanguageCentroids | None:
        """The saved centroids; None when missing or from before references were saved; DamagedIndex
        when unreadable, of the wrong shape, or of vectors that are not `dimension` long."""
        path = directory / FILE_NAME
        if not path.exists():
            return None
        saved = read_model(path, _Saved)
        if saved.references is None:
            log.info("language centroids at %s predate centring references; they will be rebuilt", path)
            return None
        if not set(saved.centroids) == set(saved.references) == set(saved.counts):
            raise damaged(path, "its centroids, references and counts name different languages")
        for name, vectors in (("centroids", saved.centroids), ("references", saved.references)):
            for language, vector in vectors.items():
                if len(vector) != dimension:
                    raise damaged(path, f"{name}.{language} has {len(vector)} dimensions, the index {dimension}")
        centroids = {k: np.asarray(v, dtype=np.float32) for k, v in saved.centroids.items()}
        references = {k: np.asarray(v, dtype=np.float32) for k, v in saved.references.items()}
        return cls(centroids, saved.counts, saved.revision, references)


class _Saved(BaseModel):
    """centroids.json, as `save` writes it."""

    revision: str
    counts: dict[str, NonNegativeInt]
    centroids: dict[str, list[float]]
    references: dict[str, list[float]] | None = None  # absent in files written before references were


def _references(centroids: dict[str, np.ndarray], samples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The languages' mean plus each language's shift from the chunks of other languages on its topics.

    Which languages those are: where its sampled chunks' NEIGHBOURS nearest chunks lie (weights by
    share). What of each stands for it: its chunks within MARGIN of some chunk's nearest, each once,
    so that a small language on the same topics counts whole (its plain mean) and a broad one only by
    its part on those topics. Against all other languages at once a shift is that
    language's direction minus the others' average, (n-1)/n of its distance from the average of all n."""
    if len(centroids) < 2:
        return {lang: vector.copy() for lang, vector in centroids.items()}
    # Languages weighted equally, as the shifts are: where every language holds the same topics, each
    # reference is then exactly its language's mean.
    everything = np.mean([vector.astype(np.float64) for vector in centroids.values()], axis=0)
    shrink = (len(samples) - 1) / len(samples)
    references = {}
    for language, rows in samples.items():
        names = [lang for lang in samples if lang != language]
        others = np.concatenate([samples[lang] for lang in names])
        labels = np.repeat(np.arange(len(names)), [len(samples[lang]) for lang in names])
        votes = np.zeros(len(names))
        chosen = np.zeros(len(others), dtype=bool)
        k = min(NEIGHBOURS, len(others))
        for start in range(0, len(rows), 512):  # bounded memory: 512 × (sample) similarities at a time
            similarities = rows[start : start + 512] @ others.T
            nearest = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
            votes += np.bincount(labels[nearest].ravel(), minlength=len(names))
            kth = np.take_along_axis(similarities, nearest, axis=1).min(axis=1, keepdims=True)
            chosen |= (similarities >= kth - MARGIN).any(axis=0)
        matched = sum(
            votes[i] / votes.sum() * others[chosen & (labels == i)].mean(axis=0, dtype=np.float64)
            for i in np.flatnonzero(votes)
        )
        shift = centroids[language].astype(np.float64) - matched
        references[language] = (everything + shrink * shift).astype(np.float32)
    return references


class _Reservoirs:
    """A uniform sample of each language's vectors: the rows with the smallest random keys (seeded, so
    a store gives one sample)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.held: dict[str, int] = {}
        self.bound: dict[str, float] = {}  # a row whose key is above this can no longer be sampled
        self.random = np.random.default_rng(0)

    def add(self, language: str, rows: np.ndarray) -> None:
        keys = self.random.random(len(rows))
        fits = keys < self.bound.get(language, 1.0)
        self.parts.setdefault(language, []).append((keys[fits], rows[fits]))
        self.held[language] = self.held.get(language, 0) + int(fits.sum())
        if self.held[language] > 2 * self.size:
            self._compact(language)

    def _compact(self, language: str) -> tuple[np.ndarray, np.ndarray]:
        keys = np.concatenate([k for k, _ in self.parts[language]])
        rows = np.concatenate([r for _, r in self.parts[language]])
        if len(keys) > self.size:
            smallest = np.argpartition(keys, self.size - 1)[: self.size]
            keys, rows = keys[smallest], rows[smallest]
            self.bound[language] = float(keys.max())
        self.parts[language], self.held[language] = [(keys, rows)], len(keys)
        return keys, rows

    def take(self, counts: dict[str, int]) -> dict[str, np.ndarray]:
        """Each language's share of `size` rows, in proportion to its chunks but at least an equal share
        (so a small language is measured on all its chunks)."""
        total = sum(counts.values())
        floor = self.size // max(len(counts), 1)
        out = {}
        for language in self.parts:
            keys, rows = self._compact(language)
            share = min(len(keys), max(floor, round(self.size * counts[language] / total)))
            out[language] = rows[np.sort(np.argsort(keys)[:share])]
        return out
