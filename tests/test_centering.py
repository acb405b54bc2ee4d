"""Per-language centring of dense scores, and the cap on a one-topic language's offset."""

from __future__ import annotations

import numpy as np

from retrieval.centering import LanguageCentroids


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_offset_is_the_questions_similarity_to_the_language_mean(engine, embedder) -> None:
    centroids = engine.derived.centroids
    question = np.asarray(embedder.get_query_embedding("When did Shoigu visit Pyongyang?"), dtype=np.float32)
    for language, centroid in centroids.centroids.items():
        assert centroids.offset(question, language) == float(question @ centroid)
    assert centroids.offset(question, "xx") == 0.0


def test_the_cap_limits_an_offset_to_all_chunks_mean_plus_the_cap() -> None:
    topical, generic = unit(1, 0, 0), unit(0, 1, 0)
    centroids = LanguageCentroids({"vi": topical, "en": generic}, {"vi": 1, "en": 9}, "r")
    question = unit(1, 0.2, 0)
    everything = (topical + 9 * generic) / 10

    assert centroids.offset(question, "vi") == float(question @ topical)
    centroids.cap = 0.03
    assert np.isclose(centroids.offset(question, "vi"), float(question @ everything) + 0.03)
    assert centroids.offset(question, "en") == float(question @ generic)  # below the cap: unchanged
