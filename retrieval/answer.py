"""Extractive answers: the best quoted passages, numbered, with the answering span marked, or an
abstention when the sources do not cover the question.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.models import Answer, Citation, Hit
from retrieval.qtypes import answer_span, question_type

NO_ANSWER = "The sources don't say: none of the indexed articles answers this question."


@dataclass(frozen=True)
class AbstainParams:
    """When to abstain. e5 cosines are compressed (off-topic ≈ 0.78, on-topic ≈ 0.82), so the
    decision weighs the dense score together with how much of the question the passage names."""

    dense_floor: float = 0.80  # below this, abstain whatever the words say
    dense_sure: float = 0.86  # at or above this, answer whatever the words say
    lexical_weight: float = 0.06  # how much word overlap (0..1) is worth in cosine units
    threshold: float = 0.835  # answer when dense + lexical_weight * overlap reaches this


def should_abstain(hits: list[Hit], params: AbstainParams) -> bool:
    """True when the best passage is too weak a match to be quoted as an answer."""
    if not hits:
        return True
    dense = max(h.dense for h in hits)
    lexical = max(h.lexical for h in hits)
    if dense < params.dense_floor:
        return True
    if dense >= params.dense_sure:
        return False
    return dense + params.lexical_weight * lexical < params.threshold


def _highlight(question: str, quote: str) -> str | None:
    qtype = question_type(question)
    if qtype is None:
        return None
    span = answer_span(qtype, quote)
    return quote[span[0] : span[1]].strip() if span else None


def build_citations(question: str, hits: list[Hit]) -> list[Citation]:
    """Number the hits as citations [1], [2], ... in rank order."""
    return [
        Citation(
            n=n,
            source=hit.chunk.source,
            title=hit.chunk.title,
            published=hit.chunk.published,
            quote=hit.quote,
            score=round(hit.score, 4),
            start=hit.start,
            end=hit.end,
            highlight=_highlight(question, hit.quote),
            chunk_id=hit.chunk.id,
        )
        for n, hit in enumerate(hits, start=1)
    ]


def extractive_answer(question: str, hits: list[Hit], params: AbstainParams | None = None) -> Answer:
    """State the best passage (with its number) and point at the others, or abstain."""
    if should_abstain(hits, params or AbstainParams()):
        return Answer(question=question, answer=NO_ANSWER, abstained=True, citations=[])
    citations = build_citations(question, hits)
    best = citations[0]
    lead = f"{best.highlight} — " if best.highlight else ""
    text = f"{lead}“{best.quote}” [1]"
    if len(citations) > 1:
        others = ", ".join(f"[{c.n}]" for c in citations[1:])
        text += f"\nSee also {others}."
    return Answer(question=question, answer=text, abstained=False, citations=citations)
