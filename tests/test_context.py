"""The model reads each quote with its neighbouring sentences, within NEWSQA_LLM_CONTEXT_TOKENS; the
citations it writes still point at the exact quotes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retrieval.engine import Engine
from retrieval.generate.context import estimate_tokens, passage_texts
from retrieval.generate.generation import Generator
from tests.fakes.openai_server import FakeOpenAI
from tests.test_generation import QUESTION, llm_settings, source_text


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def test_each_passage_holds_its_quote_within_its_chunk(engine: Engine) -> None:
    hits, _ = engine.searcher.search(QUESTION, 3)
    texts = passage_texts(hits, 600)
    for hit, text in zip(hits, texts, strict=True):
        assert hit.quote in text and text in hit.chunk.text


def test_the_passages_stay_within_the_budget(engine: Engine) -> None:
    hits, _ = engine.searcher.search(QUESTION, 3)
    quotes = sum(estimate_tokens(h.quote) for h in hits)
    for budget in (quotes + 40, quotes + 150, 900):
        assert sum(estimate_tokens(t) for t in passage_texts(hits, budget)) <= budget


def test_a_larger_budget_shows_more_of_the_chunks(engine: Engine) -> None:
    hits, _ = engine.searcher.search(QUESTION, 3)
    small, large = passage_texts(hits, 100), passage_texts(hits, 2000)
    assert sum(map(len, large)) > sum(map(len, small))
    whole = [h.chunk.text[h.chunk.sentences[0].offset : h.chunk.sentences[-1].offset + len(h.chunk.sentences[-1].text)]
             for h in hits]
    assert large == whole  # three chunks of at most 600 characters fit 2000 tokens whole


def test_a_budget_smaller_than_the_quotes_still_shows_every_quote_whole(engine: Engine) -> None:
    hits, _ = engine.searcher.search(QUESTION, 3)
    assert passage_texts(hits, 1) == [h.quote for h in hits]


def test_the_model_is_shown_the_wider_passages_and_cites_the_exact_quotes(engine: Engine,
                                                                          server: FakeOpenAI) -> None:
    settings = llm_settings(engine.settings, server.base_url, llm_context_tokens=2000)
    generator = Generator.from_settings(settings, engine.searcher, engine.abstain_params)
    prepared = generator.prepare(QUESTION, 3)
    server.script("Shoigu was in Pyongyang on 27 July [2]. He brought a letter [1][3].")
    answer = generator.answer(QUESTION, 3)

    user = server.requests[0].text("user")
    assert any(len(text) > len(hit.quote) for hit, text in zip(prepared.hits, prepared.texts))
    for text in prepared.texts:
        assert text.replace("<", "‹").replace(">", "›") in user
    assert answer.mode == "llm" and len(answer.citations) == 3
    for citation in answer.citations:
        assert source_text(citation) == citation.quote
    assert [c.quote for c in answer.citations] == [prepared.hits[i].quote for i in (1, 0, 2)]
