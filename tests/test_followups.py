"""Follow-ups without a model: which questions lean on the previous turn, and which of its names they take."""

from __future__ import annotations

from typing import Any

import pytest

from retrieval.models import Turn
from retrieval.question.followups import leans_on_previous, topic
from retrieval.question.history import History
from retrieval.question.terms import names

SHOIGU = "When did Shoigu visit Pyongyang?"
ABOUT_SHOIGU = Turn(question=SHOIGU, topic=["Shoigu", "Pyongyang"], asks="when")


def taken(question: str, previous: Turn | None = ABOUT_SHOIGU) -> list[str]:
    return topic(question, names(question), previous)


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


def test_a_pronoun_takes_the_previous_turns_names() -> None:
    assert taken("and who did he meet there?") == ["Shoigu", "Pyongyang"]


def test_a_question_naming_nothing_continues_the_topic() -> None:
    assert taken("how long did the talks last?") == ["Shoigu", "Pyongyang"]


def test_a_question_with_names_of_its_own_stands_alone() -> None:
    assert taken("Who is Lavrov?") == []


def test_a_pronoun_beside_a_name_takes_only_what_the_name_does_not_say() -> None:
    assert taken("what did he give Kim?") == ["Shoigu", "Pyongyang"]
    assert taken("what did Shoigu give him there?") == ["Pyongyang"]


def test_a_pronoun_may_mean_the_person_a_who_answer_named() -> None:
    who = Turn(question="Who travelled with Kim to Beijing?", topic=["Kim", "Beijing"], asks="who",
               lead="Choe Son-hui")
    assert taken("what is her job?", who) == ["Kim", "Beijing", "Choe Son-hui"]


@pytest.mark.parametrize("previous", [
    Turn(question="What will the weather be in Sofia tomorrow?", topic=["Sofia"], abstained=True),
    Turn(question="thanks", smalltalk=True),
    None,
])
def test_no_follow_up_leans_on_nothing_small_talk_or_a_question_the_articles_did_not_answer(
    previous: Turn | None,
) -> None:
    assert taken("and who invited him?", previous) == []


def test_nothing_accumulates_from_turn_to_turn(engine: Any) -> None:
    history = History()
    for question in (SHOIGU, "and who did he meet there?", "what did he give him?", "and when was that?"):
        answer = engine.ask(question, mode="extractive", history=history)
        history.add(answer)
    assert answer.topic == ["Shoigu", "Pyongyang"]
    assert [turn.topic for turn in history.thread()] == [["Shoigu", "Pyongyang"]] * 4


def test_engine_answers_a_follow_up_without_a_model_and_says_what_it_was_read_as_about(engine: Any) -> None:
    history = History()
    first = engine.ask(SHOIGU, mode="extractive", history=history)
    history.add(first)
    follow_up = engine.ask("and who did he meet there?", mode="extractive", history=history)
    alone = engine.ask("and who did he meet there?", mode="extractive")
    assert first.topic == [] and first.read_as is None
    assert follow_up.question == "and who did he meet there?" and follow_up.read_as is None
    assert follow_up.topic == ["Shoigu", "Pyongyang"]
    assert not follow_up.abstained and "Kim Jong-un" in follow_up.citations[0].quote
    assert alone.topic == []
