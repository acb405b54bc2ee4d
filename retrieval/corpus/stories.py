"""One story once: copies of an article (the same cleaned text, or nearly) are indexed once with the other
addresses noted, and articles reporting the same event in different languages are grouped into a story.

Copies are told by word shingles (a bottom-k sketch of their hashes, so an index keeps 128 numbers per
article); stories by the cosine of article vectors (the mean of their chunks' vectors) between articles
in different languages that are each other's best match. The threshold was chosen on pairs of parallel XQuAD
paragraphs and measured on held-out ones and the seeds (`python -m benchmarks.grouping`, benchmarks/GROUPING.md).
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from retrieval.models import Article

SKETCH = 128  # shingle hashes kept per article
SHINGLE = 4  # words per shingle
NEAR = 0.8  # estimated resemblance at which two texts are copies of one article
# How stories are told (see `stories`) and the score from which two articles report the same one, the highest
# with the best F1 on XQuAD articles 0-23 (benchmarks/GROUPING.md: raw cosine 0.82 kept every parallel pair and
# no other on both halves of XQuAD and on the seeds; the margin score lost a tenth of XQuAD's pairs).
METHOD = "raw"
SAME_STORY = 0.82
NEIGHBOURS = 4  # for the margin score

_WORD = re.compile(r"\w+", re.UNICODE)


def body_text(article: Article) -> str:
    """An article's kept text, as copies are compared: its body's words, folded."""
    return " ".join(_WORD.findall(" ".join(article.span_text(span) for span in article.body).casefold()))


def sketch(text: str) -> list[int]:
    """The smallest SKETCH hashes of the text's word shingles."""
    words = text.split()
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(max(len(words) - SHINGLE + 1, 1))}
    hashes = {int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") for s in shingles}
    return sorted(hashes)[:SKETCH]


def resemblance(a: list[int], b: list[int]) -> float:
    """Estimated Jaccard resemblance of two texts from their sketches (1.0 for the same text)."""
    if not a or not b:
        return 0.0
    union = sorted(set(a) | set(b))[:SKETCH]
    both = set(a) & set(b)
    return sum(1 for h in union if h in both) / len(union)


class Copies:
    """The sketches of the articles kept so far; says which one a new article copies."""

    def __init__(self, known: dict[str, list[int]]) -> None:
        self._sketches = dict(known)

    def original(self, article_id: str, signature: list[int]) -> str | None:
        """The id of a kept article this one copies (None when it is new), most alike first."""
        best, score = None, NEAR
        for other, theirs in self._sketches.items():
            if other == article_id:
                continue
            alike = resemblance(signature, theirs)
            if alike >= score:
                best, score = other, alike
        return best

    def keep(self, article_id: str, signature: list[int]) -> None:
        """Remember an article that is indexed."""
        self._sketches[article_id] = signature

    def drop(self, article_id: str) -> None:
        """Forget an article that left the index."""
        self._sketches.pop(article_id, None)


def stories(
    vectors: dict[str, np.ndarray], languages: dict[str, str], threshold: float = SAME_STORY, method: str = METHOD
) -> dict[str, str]:
    """Each article's story: the first id (in sorted order) of the articles linked to it. Two articles in different
    languages are linked when each is the other's best match in its language (so a story never chains through
    articles merely on one subject) and their score is at least `threshold`. `raw` (the product): the cosine of
    their vectors; `margin`: that cosine over the mean cosine of each to its NEIGHBOURS nearest articles in
    other languages, as parallel sentences are mined (Artetxe & Schwenk 2019); `centred`: the cosine after
    each language's mean vector is taken away."""
    ids = sorted(vectors)
    if not ids:
        return {}
    matrix = np.stack([vectors[i] for i in ids]).astype(np.float32)
    langs = np.asarray([languages.get(i, "") for i in ids])
    if method == "centred":
        matrix = centre(matrix, list(langs))
    similar = matrix @ matrix.T
    across = langs[:, None] != langs[None, :]
    if method == "margin":
        others = np.where(across, similar, -np.inf)
        k = max(min(NEIGHBOURS, int(across.sum(axis=1).min())), 1)
        nearest = -np.sort(-others, axis=1)[:, :k]
        nearest = np.where(np.isfinite(nearest), nearest, 0.0).mean(axis=1)
        similar = similar / np.maximum((nearest[:, None] + nearest[None, :]) / 2, 1e-6)
    similar = np.where(across, similar, -np.inf)
    # Each article's best match in every other language.
    best = np.zeros_like(across)
    for language in set(langs.tolist()):
        columns = np.flatnonzero(langs == language)
        rows = np.flatnonzero(langs != language)
        if len(columns) and len(rows):
            best[rows, columns[np.argmax(similar[np.ix_(rows, columns)], axis=1)]] = True
    linked = best & best.T & (similar >= threshold)
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(linked, k=1)), strict=True):
        a, b = root(int(i)), root(int(j))
        parent[max(a, b)] = min(a, b)
    return {article: ids[root(i)] for i, article in enumerate(ids)}


def centre(matrix: np.ndarray, languages: list[str]) -> np.ndarray:
    """Vectors minus their language's mean, normalised (a language with one article keeps its vector)."""
    out = matrix.copy()
    for language in set(languages):
        rows = [i for i, lang in enumerate(languages) if lang == language]
        if len(rows) > 1:
            out[rows] -= matrix[rows].mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)
