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

log = logging.getLogger(__name__)

FILE_NAME = "centroids.json"
# Chunks sampled over all languages to measure language shifts (one SAMPLE × SAMPLE product: ~1 s).
SAMPLE = 4000
# Nearest other-language chunks a chunk's shift is measured against: few, so that they share its topic.
NEIGHBOURS = 3


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
            for language in set(languages):
                rows = matrix[[i for i, lang in enumerate(languages) if lang == language]]
                sums[language] = sums.get(language, 0) + rows.sum(axis=0, dtype=np.float64)
                counts[language] = counts.get(language, 0) + len(rows)
                samples.add(language, rows)
        centroids = {lang: (total / counts[lang]).astype(np.float32) for lang, total in sums.items()}
        return cls(centroids, counts, revision, _references(centroids, counts, samples.take(counts)))

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
    def load(cls, directory: Path) -> LanguageCentroids | None:
        """The saved centroids, or None when missing, unreadable or from before references were saved."""
        path = directory / FILE_NAME
        if not path.exists():
            return None
        try:
            payload = json.loads(path.read_text("utf-8"))
            if "references" not in payload:
                log.info("language centroids at %s predate centring references; they will be rebuilt", path)
                return None
            centroids = {k: np.asarray(v, dtype=np.float32) for k, v in payload["centroids"].items()}
            references = {k: np.asarray(v, dtype=np.float32) for k, v in payload["references"].items()}
            counts = {k: int(v) for k, v in payload["counts"].items()}
            return cls(centroids, counts, str(payload["revision"]), references)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("language centroids at %s are unreadable (%s); they will be rebuilt", path, exc)
            return None


def _references(
    centroids: dict[str, np.ndarray], counts: dict[str, int], samples: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """All chunks' mean plus each language's shift: its sampled chunks' mean minus the mean of their
    nearest chunks in other languages. Against all other languages at once a shift is that language's
    direction minus the others' average, (n-1)/n of its distance from the average of all n."""
    total = sum(counts.values())
    everything = sum(counts[lang] * vector for lang, vector in centroids.items()) / total
    if len(centroids) < 2:
        return {lang: everything.astype(np.float32) for lang in centroids}
    shrink = (len(samples) - 1) / len(samples)
    references = {}
    for language, rows in samples.items():
        others = np.concatenate([m for lang, m in samples.items() if lang != language])
        k = min(NEIGHBOURS, len(others))
        neighbours = np.zeros(others.shape[1], dtype=np.float64)
        for start in range(0, len(rows), 512):  # bounded memory: 512 × (sample) similarities at a time
            similarities = rows[start : start + 512] @ others.T
            nearest = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
            neighbours += others[nearest].mean(axis=1).sum(axis=0, dtype=np.float64)
        shift = rows.mean(axis=0, dtype=np.float64) - neighbours / len(rows)
        references[language] = (everything + shrink * shift).astype(np.float32)
    return references


class _Reservoirs:
    """A uniform sample of each language's vectors (reservoir sampling, seeded: a store gives one sample)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.kept: dict[str, list[np.ndarray]] = {}
        self.seen: dict[str, int] = {}
        self.random = np.random.default_rng(0)

    def add(self, language: str, rows: np.ndarray) -> None:
        kept = self.kept.setdefault(language, [])
        for row in rows:
            seen = self.seen.get(language, 0)
            self.seen[language] = seen + 1
            if len(kept) < self.size:
                kept.append(row)
            else:
                slot = int(self.random.integers(seen + 1))
                if slot < self.size:
                    kept[slot] = row

    def take(self, counts: dict[str, int]) -> dict[str, np.ndarray]:
        """Each language's share of `size` rows, in proportion to its chunks but at least an equal share
        (so a small language is measured on all its chunks)."""
        total = sum(counts.values())
        floor = self.size // max(len(counts), 1)
        out = {}
        for language, kept in self.kept.items():
            share = min(len(kept), max(floor, round(self.size * counts[language] / total)))
            chosen = np.sort(self.random.choice(len(kept), share, replace=False))
            out[language] = np.stack([kept[i] for i in chosen])
        return out
