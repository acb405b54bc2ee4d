"""Extractive answers: numbered citations, the answering span marked, abstention when off-topic."""

from __future__ import annotations

import pytest

from retrieval.answer import NO_ANSWER, AbstainParams, extractive_answer, should_abstain
from retrieval.engine import QuestionError


def test_answer_states_the_best_passage_with_its_number(engine) -> None:
    answer = engine.ask("When did Shoigu visit Pyongyang?")
    assert not answer.abstained
    assert answer.mode == "extractive"
    assert [c.n for c in answer.citations] == [1, 2, 3]
    assert f"“{answer.citations[0].quote}” [1]" in answer.answer
    assert answer.citations[0].source == "001_309902524711f206.txt"


def test_the_span_that_answers_a_when_question_is_highlighted(engine) -> None:
    answer = engine.ask("When did Shoigu visit Pyongyang?")
    assert answer.citations[0].highlight == "ngày 27/7"
    assert answer.answer.startswith("ngày 27/7 — ")


def test_citation_carries_title_and_published_date(engine) -> None:
    answer = engine.ask("How many foreign leaders attended the parade in Beijing?")
    first = answer.citations[0]
    assert first.source == "002_80e1ee0b42e500dd.txt"
    assert first.published == "2025-09-03"
    assert first.title.startswith("Руският президент Владимир Путин")
    assert "26" in first.quote


@pytest.mark.parametrize(
    "question",
    ["Who won the 2022 FIFA World Cup?", "Какая погода будет завтра в Москве?", "How do I bake sourdough bread?"],
)
def test_off_topic_questions_are_abstained(engine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.abstained
    assert answer.answer == NO_ANSWER
    assert answer.citations == []


def test_no_hits_means_abstain() -> None:
    assert should_abstain([], AbstainParams())
    assert extractive_answer("anything?", []).abstained


def test_empty_and_overlong_questions_are_refused(engine) -> None:
    with pytest.raises(QuestionError, match="empty"):
        engine.ask("   ")
    with pytest.raises(QuestionError, match="characters long"):
        engine.ask("x" * 20_000)


def test_answer_serialises_to_utf8_json(engine) -> None:
    answer = engine.ask("Кога Шойгу посети Пхенян?")
    text = answer.model_dump_json()
    assert "Кога Шойгу" in text
    assert set(answer.model_dump()) >= {"question", "answer", "abstained", "mode", "citations"}
