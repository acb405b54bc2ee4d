"""The generator model: one factory builds the llama-index LLM chosen by settings, plus the few
helpers that turn its failures into short, secret-free reasons.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from retrieval.messages import safe_url, strip_credentials
from retrieval.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

OPENAI_URL = "https://api.openai.com/v1"


class LLMConfigError(ValueError):
    """A model is asked for but cannot be built; the message says which setting to fix."""


class ReplyCutOff(ConnectionError):
    """A streamed reply ended without the server saying it was finished."""


def build_llm(settings: Settings, *, max_tokens: int | None = None, timeout: float | None = None,
              logprobs: bool = False, top_logprobs: int = 0) -> LLM | None:
    """The configured chat model (llama-index `OpenAILike`), or None when answers stay extractive.
    `max_tokens` and `timeout` override the answer's bounds for the short calls (translation, reranking);
    `logprobs` asks for the `top_logprobs` likeliest tokens of each one written (pointwise reranking)."""
    provider = settings.llm_provider
    if provider == "none":
        return None
    if provider == "openai":
        from llama_index.llms.openai_like import OpenAILike

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key and not settings.openai_base_url:
            raise LLMConfigError(
                "NEWSQA_LLM=openai needs OPENAI_API_KEY, or OPENAI_BASE_URL for a local server (e.g. Ollama)"
            )
        return OpenAILike(
            model=settings.llm_model,
            api_base=settings.openai_base_url or OPENAI_URL,
            # Local servers (Ollama, llama.cpp) ignore the key, but the openai client insists on one.
            api_key=key or "unused",
            is_chat_model=True,
            temperature=settings.llm_temperature,
            max_tokens=max_tokens or settings.llm_max_tokens,
            timeout=timeout or settings.llm_timeout,
            # llama-index retries up to max_retries² times with long backoffs; a slow answer is worse
            # than the extractive one, so the only retry is generation's single Retry-After wait.
            max_retries=0,
            logprobs=logprobs or None,
            top_logprobs=top_logprobs,
        )
    raise LLMConfigError(f"unknown NEWSQA_LLM={provider!r}; use auto, none or openai")


def describe_llm(settings: Settings) -> str:
    """The model and endpoint, for notes and scorecards (never the key)."""
    if settings.llm_provider == "none":
        return "no model (NEWSQA_LLM=none, or no OPENAI_API_KEY / OPENAI_BASE_URL)"
    return f"{settings.llm_model} at {safe_url(settings.openai_base_url or OPENAI_URL)}"


def redact(text: str, settings: Settings) -> str:
    """`text` with the API key masked, for anything that may reach a log or a user."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return strip_credentials(text.replace(key, "***") if len(key) >= 4 else text)


def retry_after(exc: BaseException) -> float | None:
    """Seconds a 429 response asked to wait (its Retry-After header), if it said."""
    response = getattr(exc, "response", None)
    raw = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None  # an HTTP date: too rare from model servers to be worth parsing
    return value if value is not None and value >= 0 else None


def failure_reason(exc: BaseException) -> str:
    """A few words on why a model call failed, safe to show: no key, no request body."""
    import openai

    if isinstance(exc, ReplyCutOff):
        return "the model's reply was cut off"
    if isinstance(exc, (openai.APITimeoutError, TimeoutError)):
        return "the model timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "the model's server could not be reached"
    if isinstance(exc, openai.AuthenticationError):
        return "the model's server rejected the API key (401); check OPENAI_API_KEY"
    if isinstance(exc, openai.PermissionDeniedError):
        return "the model's server denied access (403)"
    if isinstance(exc, openai.RateLimitError):
        return "the model is rate-limited (429)"
    if isinstance(exc, openai.NotFoundError):
        return "the model was not found (404); check NEWSQA_LLM_MODEL and OPENAI_BASE_URL"
    if isinstance(exc, openai.APIStatusError):
        return f"the model's server answered with an error ({exc.status_code})"
    if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError, ValueError, KeyError,
                        IndexError, TypeError, AttributeError)):
        return "the model's reply was malformed"
    return "the model failed"
