"""The question analysed once: what every stage reads of it, small talk told apart, a follow-up read
against the previous turn."""

from __future__ import annotations

import pytest

from retrieval.models import Turn
from retrieval.question.analysis import analyse


def test_a_question_is_analysed_into_what_the_stages_read() -> None:
    question = analyse("  Кога Шойгу посети Пхенян? ")
    assert question.text == "Кога Шойгу посети Пхенян?"
    assert question.language == "bg" and question.asks == "when"
    assert question.names == ["Шойгу", "Пхенян"]
    assert question.places == ["p:Asia/Pyongyang"]
    assert question.search == question.text and question.topic == [] and question.queries == []


def test_a_question_with_a_date_carries_it_in_every_script() -> None:
    assert analyse("What happened on 27 July?").dates == ["d:07-27", "m:07"]


def test_how_long_asks_for_a_span_of_time() -> None:
    assert analyse("How long did the talks last?").duration
    assert not analyse("How many leaders came?").duration


@pytest.mark.parametrize(("message", "kind"), [
    ("cảm ơn nhé", "thanks"),
    ("bye", "farewell"),
    ("спасибо, пока", "thanks"),
    ("that's wrong", "complaint"),
    ("không đúng", "complaint"),
    ("грешно", "complaint"),
    ("неправильно", "complaint"),
    ("thanks, that's helpful!", "thanks"),
    ("very helpful", "praise"),
    ("ok", "ack"),
    ("ok, thank you, goodbye", "thanks"),  # the phrase that says most, not the first
    ("good, bye", "farewell"),
])
def test_small_talk_is_told_apart_by_its_kind(message: str, kind: str) -> None:
    question = analyse(message)
    assert question.smalltalk == kind and question.asks is None


def test_a_follow_up_is_searched_with_its_topic_and_as_written() -> None:
    previous = Turn(question="When did Shoigu visit Pyongyang?", topic=["Shoigu", "Pyongyang"])
    question = analyse("and who did he meet there?", [previous])
    assert question.topic == ["Shoigu", "Pyongyang"] and question.follows
    assert question.search == "and who did he meet there? Shoigu Pyongyang"
    assert question.queries == ["and who did he meet there?"]
    assert question.names == []  # what the question itself names, the topic apart


def test_the_quotes_the_thread_showed_are_known() -> None:
    thread = [Turn(question="a?", shown=[("a.txt", 0, 10)]), Turn(question="b?", shown=[("b.txt", 5, 9)])]
    assert analyse("and then?", thread).seen == [("a.txt", 0, 10), ("b.txt", 5, 9)]


def test_small_talk_in_two_languages_at_once_is_in_the_language_the_text_is() -> None:
    # "ok" belongs to every language: the Vietnamese thanks beside it decides.
    question = analyse("ok cảm ơn nhé")
    assert (question.smalltalk, question.language) == ("thanks", "vi")


@pytest.mark.parametrize("question", ["What is the latest on Kim Jong Un?", "Tin mới nhất về Putin?",
                                      "Putin hôm nay nói gì?", "Какие последние новости о Ким Чен Ыне?",
                                      "Последни новини за Путин?", "What happened this week in Beijing?"])
def test_a_question_for_the_latest_news_asks_for_newer_articles_first(question: str) -> None:
    assert analyse(question).recent


def test_a_question_about_an_event_does_not_ask_for_the_latest() -> None:
    assert not analyse("When did Shoigu visit Pyongyang?").recent


@pytest.mark.parametrize("question", ["What's the latest news?", "Какие последние новости?",
                                      "Tin mới nhất hôm nay là gì?", "Какви са последните новини?",
                                      "What happened today?"])
def test_a_question_for_the_news_and_nothing_else_asks_for_the_headlines(question: str) -> None:
    assert analyse(question).headlines


@pytest.mark.parametrize("question", ["What is the latest on Kim Jong Un?", "Последни новини за Путин?",
                                      "What did Putin say today about the talks?"])
def test_a_question_for_the_latest_on_a_subject_is_searched(question: str) -> None:
    assert analyse(question).recent and not analyse(question).headlines


def test_asking_for_the_latest_news_after_a_question_does_not_continue_its_subject() -> None:
    thread = [Turn(question="How far does the Kaliakra lighthouse beam reach?", topic=["Kaliakra"])]
    assert analyse("И какво ново?", thread).topic == ["Kaliakra"]  # a follow-up of its subject
    assert analyse("Какие последние новости?", thread).topic == []
