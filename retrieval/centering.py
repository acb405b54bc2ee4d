"""Per-language centring of dense scores.

Multilingual e5 scores a question higher against passages in some languages than others
whatever they say (here an English question prefers any Bulgarian passage to the right
Vietnamese one). Subtracting the question's similarity to each language's mean passage vector
removes that offset: the mean of cos(q, x) over a language's chunks is exactly q · centroid.
Measured on the seed fixture: answer-bearing chunk in the top 3 rises from 0.70 to 0.89.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FILE_NAME = "centroids.json"


class LanguageCentroids:
    """Mean chunk vector per language, tied to the store revision it was computed from."""

    def __init__(self, centroids: dict[str, np.ndarray], counts: dict[str, int], revision: str) -> None:
        self.centroids = centroids
        self.counts = counts
        self.revision = revision
        # Most a language's offset may exceed the question's similarity to all chunks' mean (None: no
        # limit). A language whose chunks are all on one topic has a mean that carries the topic, and
        # its offset then penalises exactly the chunks a question on that topic wants
        # (benchmarks/centring.py: among real distractors in eleven languages, seed chunks in the top 3
        # 0.894 → 0.213 by centred score); the cap bounds that penalty. NEWSQA_CENTRING_CAP.
        self.cap: float | None = None
        total = sum(counts.values())
        self._everything = (
            sum(counts[lang] * vector for lang, vector in centroids.items()) / total if total else None
        )

    @classmethod
    def build(cls, pages: Iterable[tuple[list[str], np.ndarray]], revision: str) -> LanguageCentroids:
        """Average the vectors given as pages of (languages, matrix)."""
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        for languages, matrix in pages:
            for language in set(languages):
                rows = matrix[[i for i, lang in enumerate(languages) if lang == language]]
                sums[language] = sums.get(language, 0) + rows.sum(axis=0, dtype=np.float64)
                counts[language] = counts.get(language, 0) + len(rows)
        centroids = {lang: (total / counts[lang]).astype(np.float32) for lang, total in sums.items()}
        return cls(centroids, counts, revision)

    @property
    def languages(self) -> list[str]:
        """Languages with at least one chunk, most chunks first."""
        return sorted(self.counts, key=lambda lang: -self.counts[lang])

    def offset(self, query: np.ndarray, language: str) -> float:
        """The question's mean similarity to chunks of `language` (0 for an unknown language)."""
        centroid = self.centroids.get(language)
        if centroid is None:
            return 0.0
        offset = float(query @ centroid)
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
        }
        tmp = directory / (FILE_NAME + ".tmp")
        tmp.write_text(json.dumps(payload), "utf-8")
        tmp.replace(directory / FILE_NAME)

    @classmethod
    def load(cls, directory: Path) -> LanguageCentroids | None:
        """The saved centroids, or None when missing or unreadable."""
        path = directory / FILE_NAME
        if not path.exists():
            return None
        try:
            payload = json.loads(path.read_text("utf-8"))
            centroids = {k: np.asarray(v, dtype=np.float32) for k, v in payload["centroids"].items()}
            return cls(centroids, {k: int(v) for k, v in payload["counts"].items()}, str(payload["revision"]))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("language centroids at %s are unreadable (%s); they will be rebuilt", path, exc)
            return None
