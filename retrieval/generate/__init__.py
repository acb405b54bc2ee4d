"""Generation, with a model: takes the question and its quotes; gives a cited answer written by the model
(checked against the quotes), translated searches and a reranked order."""

from retrieval.rooms import exports

_NAMES = {
    "Generator": "generation",
    "describe_llm": "llm",
    "passage_texts": "context",
}
__all__ = sorted(_NAMES)
__getattr__ = exports(__name__, _NAMES)
