"""Follow-ups without a model: which questions lean on the previous one, and how they are searched."""

from __future__ import annotations

from typing import Any

import pytest

from retrieval.generate.generation import History
from retrieval.question.followups import context_words, last_question, leans_on_previous, read

SHOIGU = "When did Shoigu visit Pyongyang?"


@pytest.mark.parametrize("question", [
    "and who did he meet there?",
    "What about Kim?",
    "when was that?",
    "why?",
    "ông ấy đã gặp ai ở đó?",
    "Còn Kim Jong-un thì sao?",
    "а с кого се срещна там?",
    "А что он там делал?",
])
def test_questions_that_point_back_are_follow_ups(question: str) -> None:
    assert leans_on_previous(question)


@pytest.mark.parametrize("question", [
    SHOIGU,
    "Who is Shoigu?",
    "Where did Putin and Kim meet after the military parade in Beijing?",
    "Кога Шойгу посети Пхенян?",
    "Hàn Quốc ước tính bao nhiêu binh sĩ Triều Tiên đã được gửi đến Nga?",
    "When did he visit Pyongyang in 2024?",
])
def test_questions_that_name_what_they_ask_about_stand_alone(question: str) -> None:
    assert not leans_on_previous(question)


def test_a_follow_up_is_read_with_the_previous_questions_content_words() -> None:
    reading = read("and who did he meet there?", SHOIGU)
    assert reading.read_as == "and who did he meet there? (Shoigu visit Pyongyang)"
    assert reading.text == reading.read_as
    assert reading.queries == (SHOIGU,)


def test_words_the_follow_up_already_has_are_not_repeated() -> None:
    assert context_words("Ông Shoigu đến Bình Nhưỡng khi nào?", "ông ấy đã gặp ai ở đó?") == [
        "Shoigu", "Bình", "Nhưỡng"]


def test_without_a_previous_question_nothing_is_added() -> None:
    assert read("and who did he meet there?", None).read_as is None
    assert read(SHOIGU, "Who met Kim?").read_as is None


def test_the_last_question_of_a_history_is_the_newest_turn() -> None:
    history = History()
    assert last_question(history) is None and last_question(None) is None
    history.turns.extend([("first?", "a"), ("second?", "b")])
    assert last_question(history) == "second?"


def test_engine_answers_a_follow_up_without_a_model_and_says_how_it_read_it(engine: Any) -> None:
    history = History()
    first = engine.ask(SHOIGU, mode="extractive", history=history)
    history.add(first)
    follow_up = engine.ask("and who did he meet there?", mode="extractive", history=history)
    alone = engine.ask("and who did he meet there?", mode="extractive")
    assert first.read_as is None
    assert follow_up.question == "and who did he meet there?"
    assert follow_up.read_as == "and who did he meet there? (Shoigu visit Pyongyang)"
    assert not follow_up.abstained and "Shoigu" in follow_up.citations[0].quote
    assert alone.read_as is None
