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
BLOCK = 512  # articles whose similarities to all others are held at once

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
    each language's mean vector is taken away. Similarities are computed BLOCK rows at a time, so memory stays
    flat however many articles an index holds."""
    ids = sorted(vectors)
    if not ids:
        return {}
    matrix = np.stack([vectors[i] for i in ids]).astype(np.float32)
    langs = np.asarray([languages.get(i, "") for i in ids])
    if method == "centred":
        matrix = centre(matrix, list(langs))
    codes = sorted(set(langs.tolist()))
    columns = [np.flatnonzero(langs == code) for code in codes]
    own = np.searchsorted(codes, langs)
    nearest = _neighbourhood(matrix, langs) if method == "margin" else None
    # best[i, l]: article i's best match among the articles in language l, and its score
    best = np.full((len(ids), len(codes)), -1)
    score = np.full((len(ids), len(codes)), -np.inf, dtype=np.float32)
    for start in range(0, len(ids), BLOCK):
        rows = slice(start, min(start + BLOCK, len(ids)))
        similar = matrix[rows] @ matrix.T
        if nearest is not None:
            similar /= np.maximum((nearest[rows, None] + nearest[None, :]) / 2, 1e-6)
        for code, cols in enumerate(columns):
            found = np.argmax(similar[:, cols], axis=1)
            best[rows, code] = cols[found]
            score[rows, code] = similar[np.arange(similar.shape[0]), cols[found]]
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(ids)):
        for code in range(len(codes)):
            j = int(best[i, code])
            if code == own[i] or j <= i or best[j, own[i]] != i or score[i, code] < threshold:
                continue  # the same language, counted from the other side, not mutual, or too far apart
            a, b = root(i), root(j)
            parent[max(a, b)] = min(a, b)
    return {article: ids[root(i)] for i, article in enumerate(ids)}


def _neighbourhood(matrix: np.ndarray, langs: np.ndarray) -> np.ndarray:
    """Each article's mean cosine to its NEIGHBOURS nearest articles in other languages (for the margin score)."""
    means = np.zeros(len(matrix), dtype=np.float32)
    for start in range(0, len(matrix), BLOCK):
        rows = slice(start, min(start + BLOCK, len(matrix)))
        similar = np.where(langs[rows, None] != langs[None, :], matrix[rows] @ matrix.T, -np.inf)
        k = max(min(NEIGHBOURS, similar.shape[1] - 1), 1)
        top = -np.sort(-similar, axis=1)[:, :k]
        means[rows] = np.where(np.isfinite(top), top, np.nan).mean(axis=1, where=np.isfinite(top))
    return np.nan_to_num(means)


def centre(matrix: np.ndarray, languages: list[str]) -> np.ndarray:
    """Vectors minus their language's mean, normalised (a language with one article keeps its vector)."""
    out = matrix.copy()
    for language in set(languages):
        rows = [i for i, lang in enumerate(languages) if lang == language]
        if len(rows) > 1:
            out[rows] -= matrix[rows].mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)
