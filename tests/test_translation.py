"""Question translation with a model: one bounded request names the index's own languages, its
lines become extra searches fused with the question's, it is cached per question, and any failure
searches the question as written and says so in the answer's note.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retrieval.engine import Engine
from retrieval.generate import prompts
from retrieval.generate.context import spread
from retrieval.generate.generation import Generator
from retrieval.generate.translation import parse_queries, target_languages
from retrieval.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, Reply, error
from tests.test_generation import QUESTION, llm_settings

TRANSLATED = "vi: Ông Shoigu đến Bình Nhưỡng khi nào?\nbg: Кога Шойгу посети Пхенян?\nkeywords: Shoigu Pyongyang visit"
QUERIES = ["Ông Shoigu đến Bình Nhưỡng khi nào?", "Кога Шойгу посети Пхенян?", "Shoigu Pyongyang visit"]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def translating(engine: Engine, server: FakeOpenAI, **extra: object) -> Generator:
    settings = llm_settings(engine.settings, server.base_url, **{"llm_translate": True, **extra})
    return Generator.from_settings(settings, engine.searcher, engine.abstain_params,
                                   languages=engine.store.language_counts)


def test_the_translation_request_names_the_index_languages_but_the_questions_own(engine: Engine,
                                                                                 server: FakeOpenAI) -> None:
    server.script(TRANSLATED, "On 27 July [1].")
    translating(engine, server).answer(QUESTION, 3)
    asked = server.requests[0]
    assert asked.text("system") == prompts.TRANSLATE_SYSTEM
    counts = engine.store.language_counts()
    wanted = [lang for lang in counts if lang != "en"]
    assert wanted  # the seeds are Vietnamese and Bulgarian
    for lang in wanted:
        assert f"{lang} ({prompts.language_name(lang)})" in asked.text("user")
    assert "en (English)" not in asked.text("user")
    assert asked.body["max_tokens"] == engine.settings.llm_translate_max_tokens


def test_target_languages_come_from_the_counts_largest_first() -> None:
    counts = {"vi": 20, "bg": 4, "und": 3, "de": 9, "en": 2}
    assert target_languages(counts, "en") == ["vi", "de", "bg"]


def test_the_translations_are_searched_together_with_the_question(engine: Engine, server: FakeOpenAI) -> None:
    server.script(TRANSLATED)
    generator = translating(engine, server)
    prepared = generator.prepare(QUESTION, 3)
    expected, _ = engine.searcher.search(QUESTION, generator.pool(3), queries=QUERIES)
    assert [h.chunk.id for h in prepared.hits] == [h.chunk.id for h in spread(expected, 10)]
    assert prepared.notes == []


def test_translation_lines_are_read_without_labels_list_marks_or_repeats() -> None:
    reply = (
        "1. vi: Khi nào Shoigu thăm Bình Nhưỡng?\n**Bulgarian:** „Кога Шойгу посети Пхенян?“\n\n"
        f"- keywords: Shoigu Pyongyang visit\n{QUESTION}\nKeywords: Shoigu Pyongyang visit\n```"
    )
    assert parse_queries(reply, QUESTION) == [
        "Khi nào Shoigu thăm Bình Nhưỡng?", "Кога Шойгу посети Пхенян?", "Shoigu Pyongyang visit"
    ]


def test_translations_are_cached_per_question(engine: Engine, server: FakeOpenAI) -> None:
    server.script(TRANSLATED, "On 27 July [1].", "On 27 July [1].")
    generator = translating(engine, server)
    generator.answer(QUESTION, 3)
    generator.answer(QUESTION, 3)
    systems = [r.text("system") for r in server.requests]
    assert systems.count(prompts.TRANSLATE_SYSTEM) == 1 and len(systems) == 3


@pytest.mark.parametrize(
    ("reply", "reason"),
    [(error(503, "overloaded"), "(503)"), (Reply(content=TRANSLATED, delay=1.0), "timed out"),
     (Reply(content=""), "translation was empty")],
    ids=["503", "own timeout", "empty"],
)
def test_a_failed_translation_searches_the_question_as_written_and_says_so(
    reply: Reply, reason: str, engine: Engine, server: FakeOpenAI
) -> None:
    server.script(reply, "On 27 July [1].")
    generator = translating(engine, server, llm_translate_timeout=0.4, llm_timeout=5.0)
    answer = generator.answer(QUESTION, 3)
    plain, _ = engine.searcher.search(QUESTION, 3)
    assert answer.mode == "llm"  # the answer itself still comes from the model
    assert [c.chunk_id for c in answer.citations] == [plain[0].chunk.id]
    assert answer.note is not None and answer.note.startswith("Searched the question as written")
    assert reason in answer.note


def test_a_failed_translation_is_not_cached(engine: Engine, server: FakeOpenAI) -> None:
    server.script(error(503, "overloaded"), "On 27 July [1].", TRANSLATED, "On 27 July [1].")
    generator = translating(engine, server)
    assert generator.answer(QUESTION, 3).note is not None
    assert generator.answer(QUESTION, 3).note is None


def test_translation_can_be_switched_off(engine: Engine, server: FakeOpenAI) -> None:
    server.script("On 27 July [1].")
    generator = translating(engine, server, llm_translate=False)
    generator.answer(QUESTION, 3)
    assert len(server.requests) == 1 and server.requests[0].text("system") == prompts.ANSWER_SYSTEM


def test_translation_is_on_by_default() -> None:
    assert Settings(_env_file=None).llm_translate is True
