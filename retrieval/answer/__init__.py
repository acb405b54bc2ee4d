"""The answer: takes an analysed question and the index; gives ranked quotes (Hits) and the extractive
Answer with its citations and confidence, and scores answers against a fixture."""

from retrieval.rooms import exports

_NAMES = {
    "Searcher": "search",
    "SearchParams": "search",
    "in_window": "search",
    "AbstainParams": "confidence",
    "NO_ANSWER": "extractive",
    "build_citations": "extractive",
    "extractive_answer": "extractive",
    "headlines_answer": "extractive",
    "FixtureError": "evaluation",
    "bundled_questions": "evaluation",
    "load_questions": "evaluation",
    "run_eval": "evaluation",
}
__all__ = sorted(_NAMES)
__getattr__ = exports(__name__, _NAMES)
