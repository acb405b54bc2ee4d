"""Scoring answers against a fixture question set (the schema of tests/fixtures/questions.yaml)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from retrieval.models import Answer
from retrieval.text import contains_answer


class FixtureError(ValueError):
    """The question file cannot be read; the message says which item and why."""


class Question(BaseModel):
    """One fixture question."""

    id: str
    question: str
    lang: str = ""
    expected_sources: list[str] = Field(default_factory=list)
    expected_answer: list[str] = Field(default_factory=list)
    answerable: bool = True
    kind: Literal["answer", "smalltalk"] = "answer"  # smalltalk: a greeting or thanks, to be answered without quotes

    @field_validator("expected_sources", "expected_answer", mode="before")
    @classmethod
    def _as_strings(cls, value: object) -> object:
        """YAML reads 308 as a number and 2025-09-03 as a date: the schema wants text."""
        if isinstance(value, list):
            return [str(v) for v in value]
        return value


class QuestionResult(BaseModel):
    """How one question was answered and judged."""

    id: str
    question: str
    lang: str
    answerable: bool
    kind: Literal["answer", "smalltalk"] = "answer"
    answer: str
    abstained: bool
    confidence: str = "answer"  # the tier the answer came with: answer, unsure or none
    answered_as: str = "answer"  # the Answer's kind: smalltalk when it was taken for a greeting
    citations: list[dict[str, str]]
    source_hit_1: bool
    source_hit_3: bool
    answer_in_first_quote: bool
    answer_in_any_quote: bool
    answer_in_context: bool | None = None  # in what a model would read (None: not measured)
    passed: bool
    reasons: list[str]
    latency_ms: float


class Scorecard(BaseModel):
    """Overall figures of an evaluation run."""

    questions: int
    answerable: int
    unanswerable: int
    source_hit_at_1: float
    source_hit_at_3: float
    answer_in_first_quote: float
    answer_in_any_quote: float
    context_recall: float | None = None  # share of answerable questions whose answer a model would read
    correct_abstention: float | None
    false_abstention: float
    latency_p50_ms: float
    latency_p95_ms: float
    passed: int
    tiers_answerable: dict[str, int] = Field(default_factory=dict)  # confidence tier → answerable questions
    tiers_unanswerable: dict[str, int] = Field(default_factory=dict)
    smalltalk: int = 0  # greeting / chit-chat items, scored apart from the questions
    smalltalk_replied: int = 0  # of those, answered as small talk
    smalltalk_quoted: int = 0  # small-talk items answered with a quote (should be none)


class EvalReport(BaseModel):
    """Per-question results and the scorecard."""

    scorecard: Scorecard
    results: list[QuestionResult]


def bundled_questions() -> Path:
    """The seed fixture that comes with newsqa, wherever it is run from (tests/fixtures/questions.yaml,
    shipped in the package as `retrieval/answer/questions.yaml`)."""
    return Path(str(resources.files("retrieval.answer").joinpath("questions.yaml")))


def load_questions(path: Path) -> list[Question]:
    """Read a fixture file; raises FixtureError naming the bad item."""
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FixtureError(f"cannot read questions from {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise FixtureError(f"{path} must hold a list of questions")
    questions = []
    for index, item in enumerate(raw):
        try:
            questions.append(Question.model_validate(item))
        except ValidationError as exc:
            raise FixtureError(f"{path}, item {index + 1}: {exc.errors()[0]['msg']}") from exc
    return questions


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 1)


def judge(question: Question, answer: Answer, latency_ms: float, context: list[str] | None = None) -> QuestionResult:
    """Compare one answer (and, when given, the passages a model would read) with what the fixture expects."""
    sources = [c.source for c in answer.citations]
    quotes = [c.quote for c in answer.citations]
    wanted = question.expected_answer
    in_first = bool(quotes) and any(contains_answer(quotes[0], w) for w in wanted)
    in_any = any(contains_answer(text, w) for text in [answer.answer, *quotes] for w in wanted)
    hit1 = bool(sources) and sources[0] in question.expected_sources
    hit3 = any(s in question.expected_sources for s in sources[:3])
    reasons: list[str] = []
    if question.kind == "smalltalk":
        if answer.kind != "smalltalk":
            reasons.append("small talk taken for a question")
        if answer.citations:
            reasons.append("answered small talk with a quote")
    elif question.answerable:
        if answer.abstained:
            reasons.append("abstained on an answerable question")
        else:
            if not hit3:
                reasons.append(f"no expected source among {sources[:3]}")
            if wanted and not in_any:
                reasons.append(f"none of {wanted} in the answer or its quotes")
    elif not answer.abstained:
        reasons.append(f"answered ({answer.confidence}) a question the sources do not cover")
    return QuestionResult(
        id=question.id,
        question=question.question,
        lang=question.lang,
        answerable=question.answerable,
        kind=question.kind,
        answer=answer.answer,
        abstained=answer.abstained,
        confidence=answer.confidence,
        answered_as=answer.kind,
        citations=[{"source": c.source, "quote": c.quote} for c in answer.citations],
        source_hit_1=hit1,
        source_hit_3=hit3,
        answer_in_first_quote=in_first,
        answer_in_any_quote=in_any,
        answer_in_context=None if context is None else any(contains_answer(t, w) for t in context for w in wanted),
        passed=not reasons,
        reasons=reasons,
        latency_ms=round(latency_ms, 1),
    )


def run_eval(
    questions: list[Question],
    ask: Callable[[str], Answer],
    on_result: Callable[[QuestionResult], None] | None = None,
    read: Callable[[str], list[str]] | None = None,
) -> EvalReport:
    """Ask every question through `ask` and score the answers; with `read` (the passages a model would be
    given for a question), also whether they hold the expected answer (context recall)."""
    results = []
    for question in questions:
        started = time.perf_counter()
        answer = ask(question.question)
        latency = (time.perf_counter() - started) * 1000
        context = read(question.question) if read and question.kind == "answer" and question.answerable else None
        result = judge(question, answer, latency, context)
        results.append(result)
        if on_result:
            on_result(result)
    return EvalReport(scorecard=score(results), results=results)


def score(results: list[QuestionResult]) -> Scorecard:
    """Aggregate per-question results into rates (over answerable or unanswerable questions; small
    talk is counted apart)."""
    questions = [r for r in results if r.kind == "answer"]
    answerable = [r for r in questions if r.answerable]
    unanswerable = [r for r in questions if not r.answerable]
    smalltalk = [r for r in results if r.kind == "smalltalk"]

    def rate(rows: list[QuestionResult], flag: Callable[[QuestionResult], bool]) -> float:
        return round(sum(flag(r) for r in rows) / len(rows), 4) if rows else 0.0

    def tiers(rows: list[QuestionResult]) -> dict[str, int]:
        counts = Counter(r.confidence for r in rows)
        return {tier: counts[tier] for tier in ("answer", "unsure", "none")}

    latencies = [r.latency_ms for r in results]
    return Scorecard(
        questions=len(questions),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        source_hit_at_1=rate(answerable, lambda r: r.source_hit_1),
        source_hit_at_3=rate(answerable, lambda r: r.source_hit_3),
        answer_in_first_quote=rate(answerable, lambda r: r.answer_in_first_quote),
        answer_in_any_quote=rate(answerable, lambda r: r.answer_in_any_quote),
        context_recall=(rate(answerable, lambda r: bool(r.answer_in_context))
                        if answerable and all(r.answer_in_context is not None for r in answerable) else None),
        correct_abstention=rate(unanswerable, lambda r: r.abstained) if unanswerable else None,
        false_abstention=rate(answerable, lambda r: r.abstained),
        latency_p50_ms=_percentile(latencies, 0.5),
        latency_p95_ms=_percentile(latencies, 0.95),
        passed=sum(r.passed for r in questions),
        tiers_answerable=tiers(answerable),
        tiers_unanswerable=tiers(unanswerable),
        smalltalk=len(smalltalk),
        smalltalk_replied=sum(r.answered_as == "smalltalk" for r in smalltalk),
        smalltalk_quoted=sum(bool(r.citations) for r in smalltalk),
    )
