"""How well articles reporting the same story in different languages are grouped (retrieval/corpus/stories.py).

Pairs collected: XQuAD's parallel paragraphs (the same paragraph in Vietnamese, English, Russian and German is
one story; another paragraph, even of the same Wikipedia article, is another story), and the seeds (the
Vietnamese 000 and the Bulgarian 002 report one meeting in Beijing; the three other Vietnamese articles
report other meetings of the same two leaders). Each text goes the product's way: cleaned, chunked, embedded
by the configured embedder, its chunk vectors averaged. A pair is predicted the same story when `stories()`
puts both in one group. The threshold is chosen on XQuAD articles 0-23 (best F1) and reported on articles
24-47 and on the seeds, which it never saw.

    python -m benchmarks.grouping [CACHE.npz]   # → benchmarks/GROUPING.md (CACHE keeps the vectors between runs)
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.measure import ROOT

XQUAD = ROOT.parent / "shared" / "xquad"
LANGUAGES = {"vi": XQUAD / "corpus", "en": XQUAD / "distractors" / "en", "ru": XQUAD / "distractors" / "ru",
             "de": XQUAD / "distractors" / "de"}
PARAGRAPHS = 3  # of each XQuAD article
SEED_STORY = {"000_297e5e17ff67e22b.txt": "beijing", "002_80e1ee0b42e500dd.txt": "beijing"}


def documents() -> list[tuple[str, str, str, Path]]:
    """(id, language, story, path) of every text measured."""
    found = []
    for article in range(48):
        for paragraph in range(PARAGRAPHS):
            for language, folder in LANGUAGES.items():
                path = folder / f"xquad_{language}_{article:02d}_{paragraph}.txt"
                if path.exists():
                    story = f"{article:02d}_{paragraph}"
                    found.append((f"xq/{language}/{story}", language, story, path))
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        found.append((f"seed/{path.name}", "", SEED_STORY.get(path.name, path.name), path))
    return found


def vectors(
    docs: list[tuple[str, str, str, Path]], cache: Path | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each text's article vector and detected language, the product's way (kept in `cache` when given)."""
    if cache is not None and cache.exists():
        saved = np.load(cache, allow_pickle=False)
        ids, langs = list(saved["ids"]), list(saved["langs"])
        return dict(zip(ids, saved["vectors"], strict=True)), dict(zip(ids, langs, strict=True))
    from retrieval.corpus.chunking import chunk_article
    from retrieval.corpus.cleaning import clean
    from retrieval.corpus.loading import read_document
    from retrieval.index import build_embedder
    from retrieval.settings import Settings

    settings = Settings()
    embedder = build_embedder(settings)
    out, langs = {}, {}
    for doc_id, _, _, path in docs:
        article = clean(read_document(path, path.parent))
        chunks = chunk_article(article, max_chars=settings.chunk_chars)
        matrix = np.asarray(embedder.get_text_embedding_batch([c.text for c in chunks]), dtype=np.float32)
        mean = matrix.mean(axis=0)
        out[doc_id] = mean / np.linalg.norm(mean)
        langs[doc_id] = article.language
    if cache is not None:
        np.savez(cache, ids=list(out), langs=[langs[i] for i in out], vectors=np.stack(list(out.values())))
    return out, langs


def scores(ids: list[str], story: dict[str, str], grouped: dict[str, str]) -> tuple[float, float, int, int]:
    """Pairwise precision and recall of a grouping over `ids`, with the numbers of true and predicted pairs."""
    true = predicted = both = 0
    for a, b in itertools.combinations(ids, 2):
        same, said = story[a] == story[b], grouped[a] == grouped[b]
        true += same
        predicted += said
        both += same and said
    return (both / predicted if predicted else 1.0), (both / true if true else 1.0), true, predicted


def main() -> None:
    from retrieval.corpus.stories import METHOD, SAME_STORY, stories

    started = time.perf_counter()
    docs = documents()
    cache = Path(sys.argv[1]) if len(sys.argv) > 1 else None  # e.g. /tmp/grouping.npz: embed once, measure often
    vecs, langs = vectors(docs, cache)
    story = {d: s for d, _, s, _ in docs}
    sets = {
        "XQuAD articles 0-23 (tuning)": [d for d, *_ in docs if d.startswith("xq/") and int(d.split("/")[2][:2]) < 24],
        "XQuAD articles 24-47 (held out)": [
            d for d, *_ in docs if d.startswith("xq/") and int(d.split("/")[2][:2]) >= 24
        ],
        "seeds": [d for d, *_ in docs if d.startswith("seed/")],
    }
    lines = ["# Grouping articles into stories across languages", "",
             f"`python -m benchmarks.grouping` ({len(docs)} texts, {time.perf_counter() - started:.0f} s to embed).",
             "Pairwise precision / recall of `stories()` (true pairs / predicted pairs in brackets)."]
    sweeps = {"margin": np.arange(0.96, 1.121, 0.01), "raw": np.arange(0.80, 0.96, 0.01),
              "centred": np.arange(0.20, 0.71, 0.05)}
    for method, sweep in sweeps.items():
        lines += ["", f"**{method}{' (the product)' if method == METHOD else ''}**", "",
                  "| threshold | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
        best = (0.0, SAME_STORY)
        for threshold in [round(float(t), 2) for t in sweep]:
            row = []
            for name, ids in sets.items():
                grouped = stories({i: vecs[i] for i in ids}, {i: langs[i] for i in ids}, threshold, method)
                p, r, true, predicted = scores(ids, story, grouped)
                row.append(f"{p:.3f} / {r:.3f} ({true}/{predicted})")
                if name.endswith("(tuning)"):
                    f1 = 2 * p * r / (p + r) if p + r else 0.0
                    best = max(best, (f1, threshold))
            lines.append(f"| {threshold:.2f} | " + " | ".join(row) + " |")
        lines += ["", f"Best F1 on the tuning set at threshold {best[1]:.2f} (F1 {best[0]:.3f})."]
    lines += ["", f"The product groups by {METHOD} at {SAME_STORY:.2f}."]
    seeds = sets["seeds"]
    grouped = stories({i: vecs[i] for i in seeds}, {i: langs[i] for i in seeds})
    lines += ["", "Seeds, grouped by the product's threshold: " + "; ".join(
        f"{a.removeprefix('seed/')} → {b.removeprefix('seed/')}" for a, b in grouped.items() if a != b) or "none"]
    out = ROOT / "benchmarks" / "GROUPING.md"
    out.write_text("\n".join(lines) + "\n", "utf-8")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
