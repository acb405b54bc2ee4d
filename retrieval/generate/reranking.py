"""Reranking the best windows before the answer is written: one factory builds the llama-index node
postprocessor chosen by `NEWSQA_RERANKER` (none, the model, or a sentence-transformers cross-encoder
through `SentenceTransformerRerank`). With the model, `NEWSQA_RERANK_METHOD` picks the form: `pointwise`
asks of each window on its own whether it answers the question and scores it by the probability of
"yes" (`logprobs`, where the server returns them; a 1–10 grade otherwise), concurrently within
`NEWSQA_RERANK_SECONDS`; `list` is llama-index's `LLMRerank`, one ranked list for all windows. Small
models do the first well and the second badly (benchmarks/LLM_QUALITY.md).

A reranker only reorders: the windows it leaves out keep their search order behind the ones it
chose, and any failure keeps the search order with the reason for the answer's note.
"""

from __future__ import annotations

import logging
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from retrieval.generate import prompts
from retrieval.generate.llm import LLMConfigError, build_llm, failure_reason
from retrieval.models import Hit
from retrieval.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.schema import BaseNode

log = logging.getLogger(__name__)

RERANK_MAX_TOKENS = 120  # "Doc: n, Relevance: m" lines for a handful of windows
_CHOICE = re.compile(r"(?:doc(?:ument)?|passage)?\s*#?\s*(\d{1,2})\s*[,;:)\]-]?\s*(?:relevance)?\s*[:=]?\s*(\d{1,2})?",
                     re.IGNORECASE)


def parse_choices(answer: str, num_choices: int) -> tuple[list[int], list[float]]:
    """The passage numbers a reranking reply chose (1..num_choices, first mention only) and their
    relevance (5 when the line gives none); lines it cannot read are skipped."""
    numbers: list[int] = []
    relevances: list[float] = []
    for line in answer.splitlines():
        match = _CHOICE.search(line)
        if not match or not re.search(r"\d", line):
            continue
        number = int(match.group(1))
        if not 1 <= number <= num_choices or number in numbers:
            continue
        numbers.append(number)
        relevances.append(float(match.group(2)) if match.group(2) else 5.0)
    return numbers, relevances


def format_batch(nodes: list[BaseNode]) -> str:
    """The windows as numbered, fenced passages (the same fencing as the answer prompt)."""
    from llama_index.core.schema import MetadataMode

    return "\n".join(
        f'<passage n="{n}" title="{prompts._attribute(node.metadata.get("title", ""))}">\n'
        f"{prompts._data(node.get_content(metadata_mode=MetadataMode.NONE))}\n</passage>"
        for n, node in enumerate(nodes, start=1)
    )


_GRADE = re.compile(r"\b(10|[1-9])\b")
_YES = ("yes", "có", "да")


def first_token_alternatives(response: Any) -> dict[str, float] | None:
    """The likeliest first tokens of a reply and their log-probabilities: from llama-index's parse of the
    chat format, else from the completion format llama.cpp's server returns (`top_logprobs` as dicts);
    None when the server gave none."""
    if response.logprobs and response.logprobs[0]:
        return {alt.token: alt.logprob for alt in response.logprobs[0]}
    choices = getattr(response.raw, "choices", None) or [None]
    legacy = getattr(choices[0], "logprobs", None)
    found = (getattr(legacy, "model_extra", None) or {}).get("top_logprobs") if legacy is not None else None
    return dict(found[0]) if found and isinstance(found[0], dict) else None


def yes_probability(alternatives: dict[str, float] | None) -> float | None:
    """P("yes") for a one-word yes/no reply from its first token's alternatives (None without logprobs)."""
    if not alternatives:
        return None
    return min(sum(math.exp(lp) for token, lp in alternatives.items() if token.strip().casefold() in _YES), 1.0)


def grade(reply: str) -> float | None:
    """A 1–10 grade read from a reply, as a score from 0.1 to 1.0 (None when it holds none)."""
    match = _GRADE.search(reply)
    return int(match.group(1)) / 10 if match else None


def pointwise_reranker(judge: Any, grader: Any, top_n: int, seconds: float, workers: int = 4) -> Any:
    """A llama-index node postprocessor asking `judge` (a model with logprobs, one token out) whether each
    window answers the question, and `grader` for a 1–10 grade when the server returns no logprobs."""
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.schema import NodeWithScore, QueryBundle

    class PointwiseRerank(BaseNodePostprocessor):
        """Each window scored on its own by the model, best first; windows unscored in time keep their order
        after the scored ones."""

        judge: Any
        grader: Any
        top_n: int
        seconds: float
        workers: int
        logprobs: bool = True  # the server returned them (until it is seen not to)

        @classmethod
        def class_name(cls) -> str:
            return "PointwiseRerank"

        def _score(self, node: NodeWithScore, question: str) -> float | None:
            text = node.node.get_content()
            if self.logprobs:
                response = self.judge.chat(prompts.pointwise_messages(question, text))
                found = yes_probability(first_token_alternatives(response))
                if found is not None:
                    return found
                self.logprobs = False  # a server without logprobs: grade instead, from now on
            return grade(self.grader.chat(prompts.grade_messages(question, text)).message.content or "")

        def _postprocess_nodes(self, nodes: list[NodeWithScore],
                               query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
            question = query_bundle.query_str if query_bundle else ""
            deadline = time.monotonic() + self.seconds
            pool = ThreadPoolExecutor(max_workers=self.workers)
            try:
                futures = [pool.submit(self._score, node, question) for node in nodes]
                wait(futures, timeout=max(deadline - time.monotonic(), 0))
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
            scores = [f.result() if f.done() and not f.exception() else None for f in futures]
            failed = [f.exception() for f in futures if f.done() and f.exception()]
            if failed and all(s is None for s in scores):
                raise failed[0]
            scored = sorted((i for i, s in enumerate(scores) if s is not None), key=lambda i: -scores[i])
            order = scored + [i for i, s in enumerate(scores) if s is None]
            return [NodeWithScore(node=nodes[i].node, score=scores[i]) for i in order][: self.top_n]

    return PointwiseRerank(judge=judge, grader=grader, top_n=top_n, seconds=seconds, workers=workers)


def build_reranker(settings: Settings, top_n: int) -> BaseNodePostprocessor | None:
    """The node postprocessor NEWSQA_RERANKER names, keeping `top_n` windows (None for `none`).
    Raises LLMConfigError when it cannot be built; the message says what to change."""
    kind = settings.reranker_kind
    if kind == "none":
        return None
    if kind == "llm":
        llm = build_llm(settings, max_tokens=RERANK_MAX_TOKENS)
        if llm is None:
            raise LLMConfigError("NEWSQA_RERANKER=llm needs a model (OPENAI_API_KEY or OPENAI_BASE_URL)")
        if settings.rerank_method == "pointwise":
            judge = build_llm(settings, max_tokens=1, logprobs=True, top_logprobs=5)
            grader = build_llm(settings, max_tokens=4)
            return pointwise_reranker(judge, grader, top_n, settings.rerank_seconds)
        from llama_index.core.postprocessor import LLMRerank

        return LLMRerank(
            llm=llm,
            choice_select_prompt=prompts.rerank_template(),
            choice_batch_size=settings.rerank_candidates,
            format_node_batch_fn=format_batch,
            parse_choice_select_answer_fn=parse_choices,
            top_n=top_n,
        )
    if kind == "cross-encoder":
        try:
            from llama_index.core.postprocessor import SentenceTransformerRerank

            return SentenceTransformerRerank(model=settings.reranker_model, top_n=top_n)
        except ImportError as exc:
            raise LLMConfigError(
                "NEWSQA_RERANKER=cross-encoder needs sentence-transformers (pip install sentence-transformers)"
            ) from exc
        except Exception as exc:  # the model cannot be loaded: no hub access, a wrong name
            raise LLMConfigError(
                f"NEWSQA_RERANKER=cross-encoder cannot load {settings.reranker_model!r} ({type(exc).__name__}); "
                "check NEWSQA_RERANKER_MODEL or use NEWSQA_RERANKER=llm or none"
            ) from exc
    raise LLMConfigError(f"unknown NEWSQA_RERANKER={kind!r}; use auto, none, llm or cross-encoder")


def rerank(reranker: BaseNodePostprocessor, question: str, hits: list[Hit]) -> tuple[list[Hit], str | None]:
    """`hits` reordered by the reranker (the ones it left out after, in their order), or unchanged
    with the reason when it failed."""
    from llama_index.core.schema import NodeWithScore, TextNode

    if len(hits) < 2:
        return hits, None
    # Several windows may come from one chunk: a node is a window, named by its place in `hits`.
    nodes = [
        NodeWithScore(node=TextNode(id_=str(i), text=hit.quote, metadata={"title": hit.chunk.title}),
                      score=hit.score)
        for i, hit in enumerate(hits)
    ]
    try:
        chosen = reranker.postprocess_nodes(nodes, query_str=question)
    except Exception as exc:
        reason = failure_reason(exc)
        log.warning("reranking failed: %s (%s)", reason, type(exc).__name__)
        return hits, reason
    order = list(dict.fromkeys(int(n.node.node_id) for n in chosen if n.node.node_id.isdigit()))
    order = [i for i in order if i < len(hits)]
    return [hits[i] for i in order] + [h for i, h in enumerate(hits) if i not in order], None
