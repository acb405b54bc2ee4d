"""Question translation: one short model call puts the question into each language the index holds,
plus a line of keywords, so the search can meet an article in its own language.

Bounded on purpose: one request, few output tokens, its own timeout, no retry. On any failure the
question is searched as written and the reason travels to the answer's note. Successful
translations are cached per question.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from retrieval.generate import prompts
from retrieval.generate.llm import failure_reason

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

log = logging.getLogger(__name__)

MAX_LANGUAGES = 6  # the index's largest languages a question is put into; each costs output tokens
_LABEL = re.compile(r"^\s*(?:[-*•]|\d+[.)])?\s*(?:\*\*)?([A-Za-z][A-Za-z -]{1,20}?)(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*")
_LIST_PREFIX = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")
_QUOTES = "\"'“”«»„`"


def target_languages(counts: dict[str, int], question_language: str | None) -> list[str]:
    """The index's languages (most chunks first), without the question's own and unknown ones."""
    ranked = sorted((lang for lang in counts if lang and lang != "und"), key=lambda lang: (-counts[lang], lang))
    return [lang for lang in ranked if lang != question_language][:MAX_LANGUAGES]


def parse_queries(reply: str, question: str, limit: int = MAX_LANGUAGES + 1, max_chars: int = 300) -> list[str]:
    """The search strings in a model reply: one a line, labels ("vi:", "Keywords:") and list marks
    stripped, nothing repeated or identical to the question."""
    seen = {question.strip().casefold()}
    queries = []
    for line in reply.splitlines():
        query = _LABEL.sub("", line, count=1) if _LABEL.match(line) else _LIST_PREFIX.sub("", line)
        query = query.strip().strip(_QUOTES).strip()
        if not query or len(query) > max_chars or query.casefold() in seen or query.startswith("```"):
            continue
        seen.add(query.casefold())
        queries.append(query)
    return queries[:limit]


class Translator:
    """The question in the index's languages plus keywords, from one bounded model call."""

    def __init__(self, llm: LLM, languages: Callable[[], dict[str, int]], cache_size: int = 512) -> None:
        self.llm = llm
        self.languages = languages
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], list[str]] = OrderedDict()

    def translate(self, question: str, question_language: str | None = None) -> tuple[list[str], str | None]:
        """Search strings for `question` (translations, then keywords), or [] and why the call failed."""
        targets = target_languages(self.languages(), question_language)
        key = (question, tuple(targets))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key], None
        try:
            reply = self.llm.chat(prompts.translate_messages(question, targets)).message.content or ""
        except Exception as exc:
            reason = failure_reason(exc)
            log.warning("translating the question failed: %s (%s)", reason, type(exc).__name__)
            return [], reason
        queries = parse_queries(reply, question)
        if not queries:
            return [], "the model's translation was empty"
        self._cache[key] = queries
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return queries, None
