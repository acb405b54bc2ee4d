"""Bilingual citation cards: a generated answer's quotes in other languages carry their translation into the
reader's language, from one bounded call after the answer, cached; the quote itself stays the citation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.formatting import render_answer
from bot.i18n import translations
from retrieval.engine import Engine
from retrieval.generate import prompts
from retrieval.generate.cards import parse_cards
from retrieval.generate.generation import Generator
from tests.fakes.openai_server import FakeOpenAI, error
from tests.fakes.telegram_server import parse_html
from tests.test_generation import QUESTION, llm_settings, source_text


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def generator(engine: Engine, server: FakeOpenAI) -> Generator:
    settings = llm_settings(engine.settings, server.base_url, llm_cards=True)
    return Generator.from_settings(settings, engine.searcher, engine.abstain_params)


def test_each_cited_quote_comes_with_its_translation_into_the_readers_language(generator: Generator,
                                                                              server: FakeOpenAI) -> None:
    server.script("Shoigu was in Pyongyang on 27 July [1]. He gave Kim a letter [2].",
                  "[1] On 27 July, in Pyongyang, Shoigu handed over a letter.\n[2] Shoigu met the leader.")
    answer = generator.answer(QUESTION, 3)
    asking = server.requests[1]
    assert asking.text("system") == prompts.CARD_SYSTEM and "Language: en (English)" in asking.text("user")
    assert [c.translation for c in answer.citations] == ["On 27 July, in Pyongyang, Shoigu handed over a letter.",
                                                          "Shoigu met the leader."]
    assert all(c.translated_to == "en" and source_text(c) == c.quote for c in answer.citations)
    assert answer.note is None


def test_a_translation_is_asked_for_once_per_quote_and_language(generator: Generator, server: FakeOpenAI) -> None:
    server.script("On 27 July [1].", "[1] On 27 July, in Pyongyang.", "Again: on 27 July [1].")
    first = generator.answer(QUESTION, 3)
    second = generator.answer(QUESTION, 3)
    assert len(server.requests) == 3  # answer, translation, answer: the second card came from the cache
    assert second.citations[0].translation == first.citations[0].translation == "On 27 July, in Pyongyang."


def test_quotes_the_model_left_untranslated_are_shown_as_written_with_a_note(generator: Generator,
                                                                             server: FakeOpenAI) -> None:
    server.script("Shoigu was there [1], with a letter [2].", "[2] Shoigu met the leader.")
    answer = generator.answer(QUESTION, 3)
    assert [c.translation for c in answer.citations] == [None, "Shoigu met the leader."]
    assert "left out 1 of 2" in answer.note


def test_a_failed_translation_keeps_the_answer_and_says_why(generator: Generator, server: FakeOpenAI) -> None:
    server.script("On 27 July [1].", error(503, "overloaded"))
    answer = generator.answer(QUESTION, 3)
    assert answer.mode == "llm" and answer.citations[0].translation is None
    assert "(503)" in answer.note


def test_a_quote_in_the_readers_language_is_not_translated(generator: Generator, server: FakeOpenAI) -> None:
    server.script("Ngày 27/7 [1].")
    answer = generator.answer("Ông Shoigu đến Bình Nhưỡng khi nào?", 3)
    assert answer.citations[0].language == "vi" and answer.citations[0].translation is None
    assert len(server.requests) == 1


def test_telegram_shows_the_translation_labelled_with_the_quote_one_tap_away(generator: Generator,
                                                                             server: FakeOpenAI) -> None:
    server.script("On 27 July [1].", "[1] On 27 July, in Pyongyang, Shoigu handed over a letter.")
    answer = generator.answer(QUESTION, 3)
    html = render_answer(answer, translations("en"))
    quote = answer.citations[0].quote
    assert "<blockquote>On 27 July, in Pyongyang, Shoigu handed over a letter.</blockquote>" in html
    assert f"<blockquote expandable>{quote}</blockquote>" in html
    assert "translated from Vietnamese" in parse_html(html)


def test_translation_lines_are_read_by_their_number() -> None:
    reply = 'Here they are:\n[2] second\n1. first\n[2] again\n3) "third"\n[9] out of range'
    assert parse_cards(reply, 3) == {2: "second", 1: "first", 3: "third"}
