"""Confidence: abstention off-topic and near-topic, the evidence features, the tiers."""

from __future__ import annotations

import pytest

from retrieval.answer.confidence import FEATURES, AbstainParams, confidence, features
from retrieval.answer.extractive import NO_ANSWER, extractive_answer
from retrieval.models import Chunk, Hit, Sentence
from retrieval.question.terms import key_terms


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
        # Kim beside a number ("70 năm" of an anniversary): the rule that such a quote is never abstained on
        # answers it, with the warning.
        "Сколько лет Ким Чен Ыну?",
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
