"""Extractive answers: numbered citations, the answering span marked, abstention when off-topic."""

from __future__ import annotations

import pytest

from retrieval.answer.extractive import (
    FEATURES,
    NO_ANSWER,
    AbstainParams,
    confidence,
    extractive_answer,
    features,
    key_terms,
)
from retrieval.engine import QuestionError
from retrieval.models import Chunk, Hit, Sentence


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


@pytest.mark.parametrize(
    "question",
    [
        "Сколько лет Ким Чен Ыну?",
        "Lukashenko sinh năm nào?",
        "How much did it cost to build the Vostochny space centre?",
    ],
)
def test_near_topic_questions_the_articles_do_not_answer_are_abstained(engine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.abstained and answer.confidence == "none"


@pytest.mark.parametrize(
    "question",
    [
        "What is the population of Pyongyang?",
        "Какво е населението на Пхенян?",
        "Giá vàng hôm nay bao nhiêu?",
        "How many tanks took part in the military parade in Beijing?",
        "Сколько стоит билет на поезд из Москвы в Пхеньян?",
    ],
)
def test_weakly_covered_near_topic_questions_are_never_answered_confidently(engine, question: str) -> None:
    assert engine.ask(question).confidence in ("unsure", "none")


def test_a_clear_answer_is_marked_as_one(engine) -> None:
    answer = engine.ask("What did Shoigu hand over to Kim Jong Un from Putin?")
    assert answer.confidence == "answer"


def test_an_unsure_answer_still_shows_its_passages(engine) -> None:
    question = "When did Shoigu visit Pyongyang?"
    hits = engine.search(question)
    between = AbstainParams(threshold=float("-inf"), answer_at=float("inf"))  # every answer falls between
    answer = extractive_answer(question, hits, between)
    assert answer.confidence == "unsure" and not answer.abstained
    assert [c.quote for c in answer.citations] == [h.quote for h in hits]


def test_no_hits_means_abstain() -> None:
    assert confidence("anything?", [], AbstainParams()) == "none"
    assert extractive_answer("anything?", []).abstained


def test_the_names_and_numbers_of_a_question_are_its_key_terms() -> None:
    assert key_terms("When did Shoigu visit Pyongyang?") == ["shoigu", "piongiang"]
    assert key_terms("Who won the 2022 FIFA World Cup?") == ["2022", "fifa", "world", "cup"]
    assert key_terms("Hàn Quốc ước tính bao nhiêu binh sĩ?") == ["han", "quoc"]
    assert key_terms("Giá vàng hôm nay bao nhiêu?") == []


def test_names_missing_from_the_passages_lower_the_evidence(engine) -> None:
    found = features("When did Shoigu visit Pyongyang?", engine.search("When did Shoigu visit Pyongyang?"))
    missing = features("When did Obama visit Hanoi?", engine.search("When did Obama visit Hanoi?"))
    assert set(found) == set(FEATURES)
    assert found["terms_found"] > missing["terms_found"]


def test_answer_carries_the_question_language(engine) -> None:
    assert engine.ask("Когда Шойгу был в Пхеньяне?").language == "ru"
    assert engine.ask("Shoigu đến Bình Nhưỡng vào ngày nào?").language == "vi"


def test_empty_and_overlong_questions_are_refused(engine) -> None:
    with pytest.raises(QuestionError, match="empty"):
        engine.ask("   ")
    with pytest.raises(QuestionError, match="characters long"):
        engine.ask("x" * 20_000)


def test_answer_serialises_to_utf8_json(engine) -> None:
    answer = engine.ask("Кога Шойгу посети Пхенян?")
    text = answer.model_dump_json()
    assert "Кога Шойгу" in text
    assert set(answer.model_dump()) >= {"question", "answer", "abstained", "mode", "citations", "confidence", "kind"}


def test_a_place_named_in_another_script_is_found_in_the_passages(engine) -> None:
    # Пхенян is Bình Nhưỡng in the Vietnamese passages: folding the letters cannot tell, the bridges can.
    question = "Какво е населението на Пхенян?"
    values = features(question, engine.search(question))
    assert values["terms_bridged"] == 1.0


def _hit(text: str) -> Hit:
    sentence = Sentence(start=0, end=len(text), text=text)
    chunk = Chunk(id="c", article_id="a", position=0, start=0, end=len(text), text=text, sentences=[sentence],
                  title="t", language="vi", source="a.txt")
    return Hit(chunk=chunk, quote=text, start=0, end=len(text), score=1.0)


def test_a_count_question_whose_quotes_hold_no_number_lacks_its_type() -> None:
    question = "How many tanks did Kim show Putin?"
    assert features(question, [_hit("Ông Kim đã gặp ông Putin.")])["type_absent"] == 1.0
    assert features(question, [_hit("Ông Kim cho ông Putin xem 40 xe tăng.")])["type_absent"] == 0.0
