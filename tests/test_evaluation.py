"""The fixture question set, its judging, and the quality bar the suite holds the engine to."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.answer.evaluation import FixtureError, Question, judge, load_questions, run_eval, score
from retrieval.models import Answer, Citation

QUESTIONS = Path(__file__).resolve().parent / "fixtures" / "questions.yaml"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_fixture_set_covers_languages_articles_forms_and_unanswerables() -> None:
    questions = load_questions(QUESTIONS)
    assert len(questions) >= 40
    assert {q.lang for q in questions} >= {"en", "vi", "bg", "ru"}
    covered = {s for q in questions for s in q.expected_sources}
    assert covered == {p.name for p in SEEDS.glob("*.txt")}
    assert sum(not q.answerable for q in questions) >= 6
    text = " ".join(q.question.lower() for q in questions)
    for form in ("when", "who", "where", "how many", "what"):
        assert form in text
    assert len({q.id for q in questions}) == len(questions)


def test_fixture_set_holds_small_talk_in_every_language_and_many_unanswerables() -> None:
    questions = load_questions(QUESTIONS)
    smalltalk = [q for q in questions if q.kind == "smalltalk"]
    assert len(smalltalk) >= 8
    assert {q.lang for q in smalltalk} >= {"en", "vi", "bg", "ru"}
    # the original ten off-topic questions plus at least ten near-topic ones
    assert sum(not q.answerable and q.kind == "answer" for q in questions) >= 20


def citation(quote: str, source: str = "a.txt") -> Citation:
    return Citation(n=1, source=source, title="t", quote=quote, score=1.0, start=0, end=len(quote))


def test_judge_accepts_the_answer_in_a_quote_ignoring_diacritics() -> None:
    question = Question(id="q", question="?", expected_sources=["a.txt"], expected_answer=["Ly Hong Trung"])
    answer = Answer(question="?", answer="x", abstained=False, citations=[citation("ông Lý Hồng Trung dẫn đầu")])
    result = judge(question, answer, 1.0)
    assert result.passed and result.source_hit_1 and result.answer_in_first_quote


def test_judge_names_what_is_wrong() -> None:
    question = Question(id="q", question="?", expected_sources=["a.txt"], expected_answer=["27/7"])
    answer = Answer(question="?", answer="x", abstained=False, citations=[citation("nothing", "b.txt")])
    assert judge(question, answer, 1.0).reasons == [
        "no expected source among ['b.txt']",
        "none of ['27/7'] in the answer or its quotes",
    ]


def test_answering_an_unanswerable_question_fails() -> None:
    question = Question(id="q", question="?", answerable=False)
    answer = Answer(question="?", answer="x", abstained=False, citations=[citation("y")])
    assert not judge(question, answer, 1.0).passed


def test_small_talk_answered_with_a_quote_fails() -> None:
    question = Question(id="q", question="hello", kind="smalltalk")
    quoted = Answer(question="hello", answer="x", abstained=False, citations=[citation("y")])
    replied = Answer(question="hello", answer="Hello! Ask me...", abstained=False, kind="smalltalk")
    assert judge(question, quoted, 1.0).reasons == [
        "small talk taken for a question",
        "answered small talk with a quote",
    ]
    assert judge(question, replied, 1.0).passed


def test_scorecard_counts_tiers_and_scores_small_talk_apart() -> None:
    answerable = Question(id="a", question="?", expected_sources=["a.txt"], expected_answer=["y"])
    unanswerable = Question(id="u", question="?", answerable=False)
    chat = Question(id="s", question="hi", kind="smalltalk")
    results = [
        judge(answerable, Answer(question="?", answer="x", abstained=False, citations=[citation("y")]), 1.0),
        judge(answerable, Answer(question="?", answer="x", abstained=False, confidence="unsure",
                                 citations=[citation("y")]), 1.0),
        judge(unanswerable, Answer(question="?", answer="no", abstained=True), 1.0),
        judge(unanswerable, Answer(question="?", answer="x", abstained=False, confidence="unsure",
                                   citations=[citation("z")]), 1.0),
        judge(chat, Answer(question="hi", answer="Hello!", abstained=False, kind="smalltalk"), 1.0),
        judge(chat, Answer(question="hi", answer="x", abstained=False, citations=[citation("z")]), 1.0),
    ]
    card = score(results)
    assert (card.questions, card.answerable, card.unanswerable) == (4, 2, 2)
    assert card.tiers_answerable == {"answer": 1, "unsure": 1, "none": 0}
    assert card.tiers_unanswerable == {"answer": 0, "unsure": 1, "none": 1}
    assert (card.smalltalk, card.smalltalk_replied, card.smalltalk_quoted) == (2, 1, 1)
    assert card.correct_abstention == 0.5 and card.false_abstention == 0.0


def test_bad_fixture_item_is_reported_with_its_position(tmp_path: Path) -> None:
    bad = tmp_path / "q.yaml"
    bad.write_text("- id: a\n  question: ok?\n- id: b\n", "utf-8")
    with pytest.raises(FixtureError, match="item 2"):
        load_questions(bad)


def test_numbers_and_dates_in_yaml_are_read_as_text(tmp_path: Path) -> None:
    fixture = tmp_path / "q.yaml"
    fixture.write_text("- id: a\n  question: x?\n  expected_answer: [308, 2025-09-03]\n", "utf-8")
    assert load_questions(fixture)[0].expected_answer == ["308", "2025-09-03"]


def test_context_recall_says_how_often_a_model_would_read_the_answer(engine) -> None:
    questions = [q for q in load_questions(QUESTIONS) if q.answerable and q.kind == "answer"][:6]
    report = run_eval(questions, engine.ask, read=engine.model_context)
    nothing = run_eval(questions, engine.ask, read=lambda _: [])
    assert all(r.answer_in_context is not None for r in report.results)
    assert report.scorecard.context_recall == round(sum(r.answer_in_context for r in report.results) / 6, 4) > 0.5
    assert nothing.scorecard.context_recall == 0.0
    assert run_eval(questions, engine.ask).scorecard.context_recall is None  # not measured


def test_seed_fixture_meets_the_quality_bar(engine) -> None:
    """Thresholds sit a little under the figures measured when they were set (main, 2026-11-23 evening:
    src@3 0.896, first quote 0.667, any quote 0.792, correct abstention 0.522, false abstention 0.021, no
    unanswerable question answered without a warning)."""
    report = run_eval(load_questions(QUESTIONS), engine.ask)
    card = report.scorecard
    failures = [f"{r.id}: {r.reasons}" for r in report.results if not r.passed]
    assert card.source_hit_at_3 >= 0.87, failures
    assert card.answer_in_first_quote >= 0.64, failures
    assert card.answer_in_any_quote >= 0.76, failures
    assert card.correct_abstention is not None and card.correct_abstention >= 0.47, failures
    assert card.false_abstention <= 0.05, failures
    assert card.tiers_unanswerable["answer"] <= 1, failures  # near-topic questions answered without a warning
    assert card.tiers_answerable["answer"] >= 0.45 * card.answerable, failures
    assert card.smalltalk >= 8 and card.smalltalk_replied == card.smalltalk and card.smalltalk_quoted == 0
