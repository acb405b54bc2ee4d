"""The model factory and its helpers: which model is built from which settings, and what reaches the wire."""

from __future__ import annotations

import httpx
import openai
import pytest
from llama_index.core.llms import ChatMessage

from retrieval.generate.llm import LLMConfigError, build_llm, describe_llm, failure_reason, redact, retry_after
from retrieval.settings import Settings
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test-0123456789abcdef"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_no_key_and_no_endpoint_means_no_model() -> None:
    assert settings().llm_provider == "none"
    assert build_llm(settings()) is None


def test_a_key_alone_turns_the_model_on() -> None:
    llm = build_llm(settings(OPENAI_API_KEY=KEY))
    assert llm is not None
    assert llm.metadata.model_name == "gpt-4o-mini"


def test_an_endpoint_without_key_is_enough_for_local_servers() -> None:
    assert build_llm(settings(OPENAI_BASE_URL="http://127.0.0.1:11434/v1")) is not None


def test_llm_none_keeps_answers_extractive_even_with_a_key() -> None:
    assert build_llm(settings(llm="none", OPENAI_API_KEY=KEY)) is None


def test_llm_openai_without_key_or_endpoint_says_what_to_set() -> None:
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):
        build_llm(settings(llm="openai"))


def test_the_built_model_sends_the_configured_request() -> None:
    with FakeOpenAI() as server:
        server.script("Hello [1].")
        llm = build_llm(
            settings(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=server.base_url, llm_model="qwen2.5:7b",
                     llm_temperature=0.2, llm_max_tokens=123)
        )
        assert llm is not None
        reply = llm.chat([ChatMessage(role="user", content="Hi")])
    assert reply.message.content == "Hello [1]."
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "qwen2.5:7b"
    assert sent.body["temperature"] == 0.2
    assert sent.body["max_tokens"] == 123
    assert sent.headers["Authorization"] == f"Bearer {KEY}"


async def test_the_built_model_streams() -> None:
    with FakeOpenAI() as server:
        server.script("Streamed in pieces [1].")
        llm = build_llm(settings(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=server.base_url))
        assert llm is not None
        pieces = [r.delta async for r in await llm.astream_chat([ChatMessage(role="user", content="Hi")])]
    assert len([p for p in pieces if p]) > 1
    assert "".join(p or "" for p in pieces) == "Streamed in pieces [1]."
    assert server.requests[0].body["stream"] is True


def test_describe_names_model_and_endpoint_but_not_the_key() -> None:
    text = describe_llm(settings(OPENAI_API_KEY=KEY, llm_model="gpt-4o-mini"))
    assert text == "gpt-4o-mini at https://api.openai.com/v1"
    assert KEY not in text


def test_redact_masks_the_key() -> None:
    assert redact(f"Incorrect API key provided: {KEY}.", settings(OPENAI_API_KEY=KEY)) == (
        "Incorrect API key provided: ***."
    )


def _rate_limit(headers: dict[str, str]) -> openai.RateLimitError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(429, headers=headers, request=request)
    return openai.RateLimitError("rate limited", response=response, body=None)


def test_retry_after_reads_seconds_and_ignores_dates() -> None:
    assert retry_after(_rate_limit({"Retry-After": "2.5"})) == 2.5
    assert retry_after(_rate_limit({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) is None
    assert retry_after(_rate_limit({})) is None


def test_failure_reasons_are_short_and_actionable() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    unauthorized = openai.AuthenticationError(
        "bad key", response=httpx.Response(401, request=request), body=None
    )
    assert "OPENAI_API_KEY" in failure_reason(unauthorized)
    assert failure_reason(openai.APITimeoutError(request=request)) == "the model timed out"
    assert failure_reason(_rate_limit({})) == "the model is rate-limited (429)"
