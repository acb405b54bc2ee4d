"""How far the offline ranking goes: oracle coverage, the learned window ranker, and what each feature
group adds.

On the product's own candidates (`Searcher.windows`, features cached by benchmarks.train_ranker):

- oracle coverage: an answer-bearing sentence lies in the N best fused chunks (N = 1, 3, 8, 20), and
  a perfect picker over the windows the ranker sees puts an answering one first;
- the landed design (one quote per chunk, hand weights) recomputed on the same candidates;
- the learned ranker: XQuAD dev in held-out folds grouped by article, the seed fixture as a transfer
  test of weights fitted on all of XQuAD dev (never on the fixture);
- the ablation: the ranker refitted without one feature group at a time.

    python -m benchmarks.ceiling          # writes benchmarks/CEILING.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.train_ranker import Case, collect_all, figures, landed_quotes, rates
from retrieval.answer.ranking import FEATURES, GROUPS
from retrieval.answer.search import SearchParams

ROOT = Path(__file__).resolve().parent.parent


def coverage(cases: list[Case], n: int) -> float:
    """Share of the cases with an answer-bearing chunk among the `n` best fused chunks."""
    return sum(any(c.fused[:n]) for c in cases) / max(len(cases), 1)


def _row(label: str, found: dict[str, tuple[float, float]]) -> str:
    return f"| {label} | " + " | ".join(f"{first:.3f} / {any_:.3f}" for first, any_ in found.values()) + " |"


def main() -> None:
    """Measure and write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "CEILING.md")
    args = parser.parse_args()
    started = time.perf_counter()
    xquad, seeds = collect_all()
    sets = {
        "XQuAD dev en": [c for c in xquad if c.lang == "en"],
        "XQuAD dev ru": [c for c in xquad if c.lang == "ru"],
        "seed fixture": seeds,
    }
    read = SearchParams().chunks_to_read
    header = "| ranking | " + " | ".join(f"{name} ({len(cases)})" for name, cases in sets.items()) + " |"
    lines = [
        "# How far the offline ranking goes",
        "",
        f"Measured by `python -m benchmarks.ceiling` on {time.strftime('%Y-%m-%d')}, on the product's own",
        f"candidates: every 1–3-sentence window of the {read} best fused chunks (`Searcher.windows`), before",
        "abstention. Figures are *answer in the first quote / in any of the top 3 quotes* over answerable",
        "questions. XQuAD figures of learned weights are from held-out folds grouped by article (6 folds);",
        "the seed fixture is never trained on: its figures are the transfer of weights fitted on all of",
        "XQuAD dev (en + ru).",
        "",
        "## Oracle coverage",
        "",
        "| candidates | " + " | ".join(sets) + " |",
        "|---|---|---|---|",
    ]
    for n in (1, 3, read, 20):
        lines.append(f"| answer-bearing chunk among the {n} best fused | " + " | ".join(
            f"{coverage(cases, n):.3f}" for cases in sets.values()) + " |")
    lines.append("| an answering window among the ranked ones (perfect picker) | " + " | ".join(
        f"{sum(c.labels.any() for c in cases) / len(cases):.3f}" for cases in sets.values()) + " |")

    every = np.ones(len(FEATURES), dtype=bool)
    learned = figures(xquad, seeds, every)
    landed = {name: rates([landed_quotes(c) for c in cases]) for name, cases in sets.items()}
    lines += [
        "",
        "## Rankings",
        "",
        header,
        "|---|---|---|---|",
        _row("landed: one quote per chunk, hand weights", landed),
        _row("**learned window ranker, all features**", learned),
        "",
        "## Ablation: the learned ranker refitted without one feature group",
        "",
        header,
        "|---|---|---|---|",
    ]
    for group, names in GROUPS.items():
        mask = np.array([f not in names for f in FEATURES])
        lines.append(_row(f"without {group} ({', '.join(names)})", figures(xquad, seeds, mask)))
    for group, names in GROUPS.items():
        if group in ("cosine", "chunk"):
            continue
        mask = np.array([f in names or f in GROUPS["cosine"] or f in GROUPS["chunk"] for f in FEATURES])
        lines.append(_row(f"cosine + chunk + {group} only", figures(xquad, seeds, mask)))
    base = np.array([f in GROUPS["cosine"] or f in GROUPS["chunk"] for f in FEATURES])
    lines.append(_row("cosine + chunk only", figures(xquad, seeds, base)))
    lines += ["", f"Run time: {time.perf_counter() - started:.0f} s (features from the /tmp/ranker cache)."]
    args.out.write_text("\n".join(lines) + "\n", "utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
