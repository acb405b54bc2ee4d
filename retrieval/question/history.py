"""A conversation's recent turns, bounded by turns and by estimated tokens: what a follow-up is read
against (the previous turn's names, the quotes already shown) and what a model reads to rewrite one."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from retrieval.models import Answer, Turn
from retrieval.question.terms import names
from retrieval.settings import Settings
from retrieval.text import estimate_tokens

_MARKERS = re.compile(r"\s*\[\s*\d{1,2}(?:\s*[,;]\s*\d{1,2})*\s*\]")


def turn_of(answer: Answer, answer_chars: int = 400) -> Turn:
    """The turn an answer makes: what was asked and understood, a short answer, the quotes shown."""
    said = " ".join(_MARKERS.sub("", answer.answer).split())
    if len(said) > answer_chars:
        said = said[:answer_chars].rsplit(" ", 1)[0] + " …"
    return Turn(
        question=answer.question,
        standalone=answer.read_as,
        searched=answer.searched or answer.read_as or answer.question,
        topic=list(dict.fromkeys([*names(answer.read_as or answer.question), *answer.topic])),
        answer=said,
        lead=answer.lead,
        asks=answer.asks,
        abstained=answer.abstained,
        smalltalk=answer.kind == "smalltalk",
        shown=[(c.source, c.start, c.end) for c in answer.citations],
    )


@dataclass
class History:
    """The recent turns of one conversation, bounded by turns and by estimated tokens."""

    max_turns: int = 4
    max_tokens: int = 800
    answer_chars: int = 400  # an answer is kept this long: enough to resolve "that" or "he"
    turns: deque[Turn] = field(default_factory=deque)

    @classmethod
    def from_settings(cls, settings: Settings) -> History:
        """Bounds from NEWSQA_LLM_HISTORY_TURNS and NEWSQA_LLM_HISTORY_TOKENS."""
        return cls(max_turns=settings.llm_history_turns, max_tokens=settings.llm_history_tokens)

    def add(self, turn: Turn | Answer) -> None:
        """Remember a turn (or the turn an answer makes); the oldest go beyond `max_turns`."""
        self.turns.append(turn if isinstance(turn, Turn) else turn_of(turn, self.answer_chars))
        while len(self.turns) > max(self.max_turns, 1):
            self.turns.popleft()

    def thread(self) -> list[Turn]:
        """Every kept turn, oldest first."""
        return list(self.turns)

    def recent(self) -> list[tuple[str, str]]:
        """The newest turns that fit the token budget, oldest first, as (question as understood, answer)
        for a model; small talk is left out."""
        kept: list[tuple[str, str]] = []
        budget = self.max_tokens
        for turn in list(reversed(self.turns))[: self.max_turns]:
            if turn.smalltalk:
                continue
            inherited = [name for name in turn.topic if name not in names(turn.question)]
            asked = turn.standalone or (f"{turn.question} ({', '.join(inherited)})" if inherited else turn.question)
            cost = estimate_tokens(asked) + estimate_tokens(turn.answer)
            if cost > budget:
                break
            kept.append((asked, turn.answer))
            budget -= cost
        return kept[::-1]

    def clear(self) -> None:
        """Forget the conversation."""
        self.turns.clear()
