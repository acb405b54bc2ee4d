"""How sure newsqa is that the quotes answer a question: evidence features combined by a fitted logistic
model into a tier — a clear answer, an unsure one (the passages are shown with a warning), or an
abstention when the sources do not cover the question.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from retrieval.models import Confidence, Hit, Question
from retrieval.question import analyse, answer_span, bridges, content, folded, found_in, key_terms

# The evidence features, in the order of AbstainParams.weights.
FEATURES = (
    "dense",  # best cosine of the question with a passage's chunk
    "centred",  # best language-centred cosine
    "lexical",  # best share of the question's words found in a passage's chunk (search's own measure)
    "terms_found",  # share of the question's names and numbers found in the passages (0 when it has none)
    "no_terms",  # 1 when the question holds no name or number
    "words_in_quotes",  # share of the question's content words found in the quotes
    "type_found",  # the asked-for kind of answer (date, number, name, place) stands in the first quote
    "no_type",  # 1 for open questions (what, why, how)
    "same_language",  # 1 when the question is in the language of the best passage
    "words_missing_same_language",  # share of the question's words missing from the quotes, when that is telling
    "terms_bridged",  # share of the question's names, places, numbers and dates the passages hold, in any script
    "type_absent",  # the question asks for a date, number, name or place and no quote holds one
    "asked_missing",  # share of the question's words other than its names found in no quote (folded, any script)
    "asked_missing_same_language",  # the same, when question and best passage share a language
)


PARAMS_FILE = Path(__file__).with_name("confidence.yaml")


@lru_cache(maxsize=1)
def _fitted() -> dict[str, Any]:
    return yaml.safe_load(PARAMS_FILE.read_text("utf-8"))


@dataclass(frozen=True)
class AbstainParams:
    """How sure to be: a question's evidence is `bias + Σ weight·feature` (the log-odds that the passages
    answer it). Below `threshold` newsqa abstains; below `answer_at` it answers but says it is unsure.

    The defaults are fitted by `python -m benchmarks.calibrate --write` (stored in confidence.yaml) on
    the seed fixture plus cross-corpus questions: XQuAD dev questions against the seed index, seed
    questions against the XQuAD index (rates in benchmarks/CALIBRATION.md). Chunk cosines alone cannot
    tell a near-topic question ("the population of Pyongyang") from an answerable one: the names,
    numbers and asked-for type found in the passages carry that.
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(_fitted()["weights"]))
    bias: float = field(default_factory=lambda: float(_fitted()["bias"]))
    threshold: float = field(default_factory=lambda: float(_fitted()["threshold"]))
    answer_at: float = field(default_factory=lambda: float(_fitted()["answer_at"]))


def _bridged(text: str) -> frozenset[str]:
    """Places, numbers and dates of a text as cross-script tokens (Пхенян = Bình Nhưỡng, 27 юли = 27/7)."""
    return bridges.places(text) | bridges.numbers(text) | bridges.dates(text)


def _holds_type(qtype: str, quote: str) -> bool:
    """The quote holds the kind of answer the question asks for (a date for "when", a number for "how many")."""
    if answer_span(qtype, quote):  # type: ignore[arg-type]
        return True
    if qtype == "when":
        return bool(bridges.dates(quote))
    if qtype == "how_many":
        return bool(bridges.numbers(quote))
    if qtype == "where":
        return bool(bridges.places(quote))
    return False


def features(question: Question | str, hits: list[Hit]) -> dict[str, float]:
    """The evidence that the hits answer the question, by name (see FEATURES)."""
    question = question if isinstance(question, Question) else analyse(question)
    # A follow-up is judged as it was searched (with the names and words it took from the previous turn),
    # like a question that says them itself.
    text = question.search
    passages = {w for h in hits for w in content(f"{h.chunk.title} {h.chunk.text}")}
    quoted = {w for h in hits for w in content(h.quote)}
    terms = key_terms(text) if question.follows else question.terms
    words = list(dict.fromkeys(content(text))) if question.follows else question.words
    qtype = question.asks
    type_found = 0.0
    if qtype and hits:
        span = answer_span(qtype, hits[0].quote)
        type_found = float(bool(span) and folded(hits[0].quote[span[0] : span[1]]) not in folded(text))
    # Across languages few words are shared whatever the passage says; within one, a question word
    # missing from every quote ("population", "dân") is the sign of a near-topic question.
    same_language = float(question.language == hits[0].chunk.language) if hits else 0.0
    words_in_quotes = sum(found_in(w, quoted) for w in words) / len(words) if words else 0.0
    # Names and places are where a near-topic question meets the corpus; what it asks is in the other words.
    question_bridged = _bridged(text)
    passage_bridged = frozenset().union(*(_bridged(f"{h.chunk.title} {h.chunk.text}") for h in hits))
    named = len(terms) + len(question_bridged)
    terms_bridged = (
        (sum(found_in(t, passages) for t in terms) + len(question_bridged & passage_bridged)) / named if named else 0.0
    )
    asked = [w for w in words if w not in terms and not bridges.places(w)]
    asked_missing = sum(not found_in(w, quoted) for w in asked) / len(asked) if asked else 0.0
    type_absent = float(qtype is not None and bool(hits) and not any(_holds_type(qtype, h.quote) for h in hits))
    return {
        "dense": max(h.dense for h in hits),
        "centred": max(h.centered for h in hits),
        "lexical": max(h.lexical for h in hits),
        "terms_found": sum(found_in(t, passages) for t in terms) / len(terms) if terms else 0.0,
        "no_terms": float(not terms),
        "words_in_quotes": words_in_quotes,
        "type_found": type_found,
        "no_type": float(qtype is None),
        "same_language": same_language,
        "words_missing_same_language": same_language * (1.0 - words_in_quotes),
        "terms_bridged": terms_bridged,
        "type_absent": type_absent,
        "asked_missing": asked_missing,
        "asked_missing_same_language": same_language * asked_missing,
    }


def evidence(question: Question | str, hits: list[Hit], params: AbstainParams) -> float:
    """How strongly the hits answer the question, on the scale of the params' thresholds."""
    if not hits:
        return float("-inf")
    values = features(question, hits)
    return params.bias + sum(weight * values.get(name, 0.0) for name, weight in params.weights.items())


def confidence(question: Question | str, hits: list[Hit], params: AbstainParams) -> Confidence:
    """The tier of an answer built on these hits: answer, unsure, or none (abstain)."""
    score = evidence(question, hits, params)
    if math.isnan(score) or score < params.threshold:
        return "none"
    return "answer" if score >= params.answer_at else "unsure"
