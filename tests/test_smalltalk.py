"""Small talk: greetings, thanks and chit-chat get a short reply saying what newsqa answers, never a quote."""

from __future__ import annotations

import pytest

from retrieval.question.smalltalk import REPLIES, detect


@pytest.mark.parametrize(
    ("message", "kind", "language"),
    [
        ("hello", "greeting", "en"),
        ("Hi bot!", "greeting", "en"),
        ("xin chào", "greeting", "vi"),
        ("Xin chao", "greeting", "vi"),
        ("Привет", "greeting", "ru"),
        ("здравей", "greeting", "bg"),
        ("Добро утро", "greeting", "bg"),
        ("thanks!", "thanks", "en"),
        ("Cảm ơn bạn nhiều", "thanks", "vi"),
        ("Спасибо большое!", "thanks", "ru"),
        ("Благодаря!", "thanks", "bg"),
        ("ok", "ack", "en"),
        ("how are you", "chitchat", "en"),
        ("Как дела?", "chitchat", "ru"),
        ("Bạn là ai?", "chitchat", "vi"),
        ("bye", "farewell", "en"),
        ("what can you do?", "help", "en"),
    ],
)
def test_small_talk_is_recognised_with_its_kind_and_language(message: str, kind: str, language: str) -> None:
    found = detect(message)
    assert found is not None
    assert (found.kind, found.language) == (kind, language)


def test_emoji_alone_is_small_talk() -> None:
    found = detect("👍")
    assert found is not None and found.kind == "ack"


def test_several_small_talk_phrases_together_are_small_talk_of_the_most_telling_kind() -> None:
    found = detect("ok, thanks a lot!")
    assert found is not None and found.kind == "thanks"  # "ok" only acknowledges; the thanks is what to answer


@pytest.mark.parametrize(
    "message",
    [
        "Hello, when did Shoigu visit Pyongyang?",
        "Xin chào, Shoigu đến Bình Nhưỡng vào ngày nào?",
        "Привет! Когда Шойгу был в Пхеньяне?",
        "thanks, and who is Kang Sun-nam?",
        "Putin?",
        "Kim",
        "What is the population of Pyongyang?",
        "Giá vàng hôm nay bao nhiêu?",
        "",
    ],
)
def test_anything_beyond_small_talk_is_left_to_search(message: str) -> None:
    assert detect(message) is None


def test_every_kind_has_a_reply_naming_what_newsqa_knows() -> None:
    for kind, text in REPLIES.items():
        assert text.format(articles=5, languages="Vietnamese", example="?"), kind
    assert "{articles}" in REPLIES["greeting"] and "{languages}" in REPLIES["greeting"]


def test_a_greeting_is_answered_without_search_or_quotes(engine) -> None:
    answer = engine.ask("xin chào")
    assert answer.kind == "smalltalk"
    assert answer.citations == [] and not answer.abstained
    assert answer.language == "vi"
    assert "5 news articles" in answer.answer
    assert "Bulgarian" in answer.answer and "Vietnamese" in answer.answer
    assert engine.settings.example_questions[0] in answer.answer


def test_a_greeting_before_a_question_gets_the_answer(engine) -> None:
    answer = engine.ask("Hello, when did Shoigu visit Pyongyang?")
    assert answer.kind == "answer" and not answer.abstained
    assert "27/7" in answer.citations[0].quote


async def test_streaming_small_talk_yields_the_reply_then_the_answer(engine) -> None:
    items = [item async for item in engine.astream("thanks!")]
    assert items[0] == items[1].answer
    assert items[1].kind == "smalltalk" and items[1].citations == []
