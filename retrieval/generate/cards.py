"""Bilingual citation cards: each quote a generated answer cites, in the reader's language, written by the
model in one bounded call after the answer and cached per quote and language. The exact source text stays
the citation; the translation is labelled as one, and a card without it shows the original alone.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import TYPE_CHECKING

from retrieval.generate import prompts
from retrieval.generate.llm import failure_reason
from retrieval.models import Answer, Citation
from retrieval.text import estimate_tokens

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

log = logging.getLogger(__name__)

CACHED = 2048  # translations kept per process (a quote and a language each)
_LINE = re.compile(r"^\s*\[?\s*(\d{1,2})\s*[\]).:\-–]\s*(.+?)\s*$")


def parse_cards(reply: str, count: int) -> dict[int, str]:
    """The translations a reply gives, by quote number (1..count; the first line for a number wins)."""
    found: dict[int, str] = {}
    for line in reply.splitlines():
        match = _LINE.match(line)
        if match and 1 <= int(match.group(1)) <= count and int(match.group(1)) not in found:
            found[int(match.group(1))] = match.group(2).strip().strip('"“”«»')
    return found


def reply_tokens(quotes: list[str]) -> int:
    """The output bound for translating `quotes`: their estimated length and a half again, within 64–2,000."""
    return max(64, min(2000, int(estimate_tokens(" ".join(quotes)) * 1.5) + 16 * len(quotes)))


class CardWriter:
    """Translates cited quotes into the reader's language with the configured model, one call per answer."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()

    def fill(self, answer: Answer, language: str | None) -> Answer:
        """The answer with each cited quote written in another language translated into `language` (from
        the cache when it was translated before); on failure, the quotes alone and a note saying why."""
        if not language or answer.abstained or not answer.citations:
            return answer
        foreign = [c for c in answer.citations if c.language and c.language != language]
        missing = [c for c in foreign if (c.quote, language) not in self._cache]
        reason = self._translate(missing, language) if missing else None
        cards = []
        for citation in answer.citations:
            text = self._cache.get((citation.quote, language)) if citation in foreign else None
            if text is not None:
                self._cache.move_to_end((citation.quote, language))
            cards.append(citation.model_copy(update={"translation": text, "translated_to": language if text else None}))
        note = answer.note
        if reason:
            extra = f"The quotes are shown as written (translating them failed: {reason})."
            note = f"{note} {extra}" if note else extra
        return answer.model_copy(update={"citations": cards, "note": note})

    def _translate(self, citations: list[Citation], language: str) -> str | None:
        """Translate the quotes into the cache; the reason when the call failed or left some out."""
        quotes = [c.quote for c in citations]
        try:
            response = self.llm.chat(prompts.card_messages(quotes, language),
                                     max_tokens=reply_tokens(quotes))
            reply = response.message.content or ""
        except Exception as exc:
            reason = failure_reason(exc)
            log.warning("translating the cited quotes failed: %s (%s)", reason, type(exc).__name__)
            return reason
        found = parse_cards(reply, len(quotes))
        for n, quote in enumerate(quotes, start=1):
            if found.get(n):
                self._cache[(quote, language)] = found[n]
        while len(self._cache) > CACHED:
            self._cache.popitem(last=False)
        left_out = len(quotes) - len([n for n in found if found[n]])
        return f"the model left out {left_out} of {len(quotes)}" if left_out else None
