"""Per-language centring of dense scores: each language's reference, and the cap on its offset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.index.centering import FILE_NAME, LanguageCentroids

DIM = 64


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector, axis=-1, keepdims=True)).astype(np.float32)


def axis(i: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i] = 1.0
    return vector


# Orthogonal directions: languages 0-3, topics 10-29.
LANGUAGE = {"en": axis(0), "de": axis(1), "vi": axis(2), "bg": axis(3)}
TOPICS = [axis(10 + i) for i in range(20)]


def chunks(language: str, topics: list[np.ndarray], each: int = 3) -> np.ndarray:
    """Chunk vectors of `language`, `each` per topic: a blend of the language, the topic and some noise."""
    noise = np.random.default_rng(len(topics) + ord(language[0])).normal(0, 0.05, (len(topics) * each, DIM))
    return unit(np.repeat(np.stack([0.6 * LANGUAGE[language] + t for t in topics]), each, axis=0) + noise)


def build(corpus: dict[str, np.ndarray]) -> LanguageCentroids:
    return LanguageCentroids.build([([lang] * len(m), m) for lang, m in corpus.items()], "r")


def test_offset_is_the_questions_similarity_to_the_languages_reference(engine, embedder) -> None:
    centroids = engine.derived.centroids
    question = np.asarray(embedder.get_query_embedding("When did Shoigu visit Pyongyang?"), dtype=np.float32)
    for language, reference in centroids.references.items():
        assert centroids.offset(question, language) == float(question @ reference)
    assert centroids.offset(question, "xx") == 0.0


def test_a_language_holding_one_topic_is_not_offset_by_its_topic() -> None:
    # en and de cover twenty topics; vi and bg hold only the first (like a few articles on one story).
    corpus = {"en": chunks("en", TOPICS), "de": chunks("de", TOPICS),
              "vi": chunks("vi", TOPICS[:1], 6), "bg": chunks("bg", TOPICS[:1])}
    centroids = build(corpus)
    question = unit(TOPICS[0])  # about the first topic, in no language's direction

    plain = float(question @ centroids.centroids["vi"]) - float(question @ centroids.centroids["en"])
    assert plain > 0.5  # the plain mean of vi carries its topic
    assert abs(centroids.offset(question, "vi") - centroids.offset(question, "en")) < 0.05


def test_a_languages_own_bias_is_still_removed() -> None:
    # Two languages on the same topics: what sets their means apart is the language alone.
    corpus = {"vi": chunks("vi", TOPICS[:5]), "bg": chunks("bg", TOPICS[:5])}
    centroids = build(corpus)
    question = unit(TOPICS[0] + 0.5 * LANGUAGE["bg"])  # a question that prefers any bg passage

    preference = float(question @ (centroids.centroids["bg"] - centroids.centroids["vi"]))
    assert preference > 0.1
    difference = centroids.offset(question, "bg") - centroids.offset(question, "vi")
    assert np.isclose(difference, preference, rtol=0.2)


def test_a_single_language_is_centred_by_its_own_mean() -> None:
    centroids = build({"vi": chunks("vi", TOPICS)})
    np.testing.assert_allclose(centroids.references["vi"], centroids.centroids["vi"], atol=1e-6)


def test_references_survive_saving_and_loading(tmp_path: Path) -> None:
    centroids = build({"vi": chunks("vi", TOPICS), "bg": chunks("bg", TOPICS[:3])})
    centroids.save(tmp_path)
    loaded = LanguageCentroids.load(tmp_path, dimension=DIM)

    assert loaded is not None and loaded.revision == "r"
    for language in ("vi", "bg"):
        np.testing.assert_array_equal(loaded.references[language], centroids.references[language])


def test_a_file_saved_before_references_is_rebuilt(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text('{"revision": "r", "counts": {"vi": 1}, "centroids": {"vi": [1.0]}}', "utf-8")
    assert LanguageCentroids.load(tmp_path, dimension=1) is None


def test_the_cap_limits_an_offset_to_all_chunks_mean_plus_the_cap() -> None:
    topical, generic = unit(TOPICS[0]), unit(LANGUAGE["en"])
    centroids = LanguageCentroids({"vi": topical, "en": generic}, {"vi": 1, "en": 9}, "r")
    question = unit(TOPICS[0] + 0.2 * LANGUAGE["en"])
    everything = (topical + 9 * generic) / 10

    assert centroids.offset(question, "vi") == float(question @ topical)
    centroids.cap = 0.03
    assert np.isclose(centroids.offset(question, "vi"), float(question @ everything) + 0.03)
    assert centroids.offset(question, "en") == float(question @ generic)  # below the cap: unchanged
