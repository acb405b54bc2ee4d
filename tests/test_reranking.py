"""Reranking: one factory builds the llama-index node postprocessor NEWSQA_RERANKER names; the
model's choice reorders the best windows before the answer, and a failure keeps the search order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from retrieval.engine import Engine
from retrieval.generate import prompts
from retrieval.generate.context import spread
from retrieval.generate.generation import Generator
from retrieval.generate.llm import LLMConfigError
from retrieval.generate.reranking import build_reranker, first_token_alternatives, parse_choices, yes_probability
from retrieval.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, Reply, error
from tests.test_generation import QUESTION, llm_settings


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def reranking(engine: Engine, server: FakeOpenAI, **extra: object) -> Generator:
    """A generator reranking with the model in llama-index's list form (LLMRerank) unless told otherwise."""
    settings = llm_settings(engine.settings, server.base_url, **{"reranker": "llm", "rerank_method": "list", **extra})
    return Generator.from_settings(settings, engine.searcher, engine.abstain_params)


# --- the factory --------------------------------------------------------------------------------


def test_without_a_model_the_default_is_no_reranker() -> None:
    settings = Settings(_env_file=None)
    assert settings.reranker_kind == "none"
    assert build_reranker(settings, top_n=3) is None


def test_with_a_model_the_default_reranks_with_it_window_by_window() -> None:
    from llama_index.core.postprocessor import LLMRerank

    settings = Settings(_env_file=None, openai_base_url="http://127.0.0.1:9/v1")
    assert settings.reranker_kind == "llm" and settings.rerank_method == "pointwise"
    reranker = build_reranker(settings, top_n=4)
    assert reranker.class_name() == "PointwiseRerank" and reranker.top_n == 4
    listing = build_reranker(settings.model_copy(update={"rerank_method": "list"}), top_n=4)
    assert isinstance(listing, LLMRerank) and listing.top_n == 4


def test_none_switches_reranking_off_even_with_a_model() -> None:
    settings = Settings(_env_file=None, openai_api_key=SecretStr("sk-x"), reranker="none")
    assert build_reranker(settings, top_n=3) is None


def test_llm_reranking_without_a_model_says_what_to_set() -> None:
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY or OPENAI_BASE_URL"):
        build_reranker(Settings(_env_file=None, reranker="llm"), top_n=3)


def test_the_cross_encoder_without_sentence_transformers_says_what_to_install() -> None:
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("sentence-transformers is installed: the missing-package message cannot be shown")
    with pytest.raises(LLMConfigError, match="pip install sentence-transformers"):
        build_reranker(Settings(_env_file=None, reranker="cross-encoder"), top_n=3)


def tiny_cross_encoder(directory: Path) -> Path:
    """A randomly initialised two-layer BERT cross-encoder with a word-level vocabulary, saved locally."""
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "shoigu", "pyongyang", "july", "letter", "kim"]
    (directory / "vocab.txt").write_text("\n".join(words), "utf-8")
    BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    config = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(directory)
    CrossEncoder(str(directory))  # loads: the directory is a complete model
    return directory


def test_the_cross_encoder_reranks_with_a_local_model(engine: Engine, tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed (optional: "
                        "NEWSQA_RERANKER=cross-encoder); the factory's message for that case is tested above")
    from llama_index.core.postprocessor import SentenceTransformerRerank

    from retrieval.generate.reranking import rerank

    model = tiny_cross_encoder(tmp_path)
    reranker = build_reranker(Settings(_env_file=None, reranker="cross-encoder", reranker_model=str(model)), 6)
    assert isinstance(reranker, SentenceTransformerRerank)
    hits, _ = engine.searcher.search(QUESTION, 6)
    ordered, failure = rerank(reranker, QUESTION, hits)
    assert failure is None
    assert sorted(h.chunk.id for h in ordered) == sorted(h.chunk.id for h in hits)


# --- reordering ---------------------------------------------------------------------------------


def test_the_model_s_choice_orders_the_windows(engine: Engine, server: FakeOpenAI) -> None:
    generator = reranking(engine, server)
    found, _ = engine.searcher.search(QUESTION, generator.pool(3))
    server.script("Doc: 3, Relevance: 9\nDoc: 1, Relevance: 4")
    prepared = generator.prepare(QUESTION, 3)

    asked = server.requests[0]
    assert asked.text("system") == prompts.RERANK_SYSTEM
    for n, hit in enumerate(found[: engine.settings.rerank_candidates], start=1):
        assert f'<passage n="{n}"' in asked.text("user") and hit.quote in asked.text("user")
    assert f"Question: {QUESTION}" in asked.text("user")
    reordered = [found[2], found[0], found[1], *found[3:]]
    assert [h.quote for h in prepared.hits] == [h.quote for h in spread(reordered, engine.settings.llm_passages)]
    assert prepared.notes == []


def test_the_reranked_windows_are_what_the_model_answers_from(engine: Engine, server: FakeOpenAI) -> None:
    generator = reranking(engine, server)
    found, _ = engine.searcher.search(QUESTION, generator.pool(3))
    server.script("Doc: 2, Relevance: 8", "Shoigu brought a letter [1].")
    answer = generator.answer(QUESTION, 3)
    assert answer.mode == "llm" and answer.citations[0].chunk_id == found[1].chunk.id


def test_unreadable_reranking_keeps_the_search_order(engine: Engine, server: FakeOpenAI) -> None:
    generator = reranking(engine, server)
    found, _ = engine.searcher.search(QUESTION, generator.pool(3))
    server.script("I think the second one is best because it talks about the visit.")
    prepared = generator.prepare(QUESTION, 3)
    assert [h.chunk.id for h in prepared.hits] == [h.chunk.id for h in spread(found, engine.settings.llm_passages)]


def test_a_failed_reranking_keeps_the_search_order_and_says_so(engine: Engine, server: FakeOpenAI) -> None:
    generator = reranking(engine, server)
    found, _ = engine.searcher.search(QUESTION, 3)
    server.script(error(500, "internal error"), "On 27 July [1].")
    answer = generator.answer(QUESTION, 3)
    assert answer.mode == "llm" and answer.citations[0].chunk_id == found[0].chunk.id
    assert answer.note is not None and "Passages kept in search order (reranking failed" in answer.note


@pytest.mark.parametrize(
    ("reply", "numbers"),
    [
        ("Doc: 2, Relevance: 9\nDoc: 5, Relevance: 3", [2, 5]),
        ("Document 3: relevance 8\nDocument 1: relevance 2", [3, 1]),
        ("Doc: 4, Relevance: 7\nDoc: 4, Relevance: 2\nDoc: 9, Relevance: 9\nDoc: 0, Relevance: 9", [4]),
        ("Passage #2 (Relevance: 6)", [2]),
        ("none of them", []),
    ],
)
def test_reranking_replies_are_read_leniently(reply: str, numbers: list[int]) -> None:
    chosen, relevances = parse_choices(reply, 6)
    assert chosen == numbers and len(relevances) == len(chosen)


# --- the pointwise form -------------------------------------------------------------------------


def judging(engine: Engine, server: FakeOpenAI, **extra: object) -> Generator:
    return reranking(engine, server, **{"rerank_method": "pointwise", "rerank_candidates": 3, **extra})


def test_each_window_is_judged_on_its_own_and_ordered_by_the_probability_of_yes(engine: Engine,
                                                                                server: FakeOpenAI) -> None:
    generator = judging(engine, server)
    found, _ = engine.searcher.search(QUESTION, generator.pool(3))
    verdicts = {found[0].quote: -2.3, found[1].quote: -0.1, found[2].quote: -1.2}  # log P(yes)

    def judge(request: Any) -> Reply:
        passage = next(q for q in verdicts if prompts._data(q) in request.text("user"))
        return Reply(content="yes", logprobs=[("yes", verdicts[passage]), ("no", -3.0)])

    server.responder = judge
    prepared = generator.prepare(QUESTION, 3)
    assert all(r.text("system") == prompts.POINTWISE_SYSTEM and r.body["logprobs"] for r in server.requests)
    assert all(r.body["max_tokens"] == 1 for r in server.requests)
    assert [h.quote for h in prepared.hits[:3]] == [found[1].quote, found[2].quote, found[0].quote]


def test_without_logprobs_the_model_grades_each_window(engine: Engine, server: FakeOpenAI) -> None:
    generator = judging(engine, server)
    found, _ = engine.searcher.search(QUESTION, generator.pool(3))
    grades = {found[0].quote: "3", found[1].quote: "9", found[2].quote: "Grade: 6"}

    def grade(request: Any) -> str:
        if request.text("system") == prompts.POINTWISE_SYSTEM:
            return "yes"  # no logprobs come back: the server does not give them
        return next(g for q, g in grades.items() if prompts._data(q) in request.text("user"))

    server.responder = grade
    prepared = generator.prepare(QUESTION, 3)
    assert any(r.text("system") == prompts.GRADE_SYSTEM for r in server.requests)
    assert [h.quote for h in prepared.hits[:3]] == [found[1].quote, found[2].quote, found[0].quote]


def test_windows_not_judged_in_time_keep_their_search_order_after_the_judged(engine: Engine,
                                                                             server: FakeOpenAI) -> None:
    generator = judging(engine, server, rerank_seconds=1.5, llm_timeout=5.0)
    found, _ = engine.searcher.search(QUESTION, generator.pool(3))

    def judge(request: Any) -> Reply:
        slow = prompts._data(found[0].quote) in request.text("user")
        return Reply(content="yes", logprobs=[("yes", -0.5)], delay=4.0 if slow else 0.0)

    server.responder = judge
    prepared = generator.prepare(QUESTION, 3)
    assert [h.quote for h in prepared.hits[:3]] == [found[1].quote, found[2].quote, found[0].quote]


def test_logprobs_in_the_completion_format_a_llama_cpp_server_returns_are_read() -> None:
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse
    from openai.types.chat import ChatCompletion

    raw = ChatCompletion.model_validate({
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "yes"}, "finish_reason": "length",
                     "logprobs": {"tokens": ["yes"], "token_logprobs": [-0.39],
                                  "top_logprobs": [{"yes": -0.39, "Yes": -1.43, "no": -2.83}]}}],
    })
    response = ChatResponse(message=ChatMessage(content="yes"), raw=raw)
    assert yes_probability(first_token_alternatives(response)) == pytest.approx(0.916, abs=0.001)
