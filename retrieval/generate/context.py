"""What the model reads for each passage: its quote widened by the neighbouring sentences of its
chunk, within a token budget shared by all passages.

The quote stays the citation (exact source text); the wider text only helps the model understand
it ("the meeting lasted two hours" needs the sentence saying whose meeting).
"""

from __future__ import annotations

from retrieval.models import Chunk, Hit
from retrieval.text import estimate_tokens


def _window(hit: Hit) -> tuple[int, int]:
    """The chunk's sentence indices (first, last) that the quote spans."""
    sentences = hit.chunk.sentences
    first = next((i for i, s in enumerate(sentences) if s.start == hit.start), 0)
    last = next((i for i, s in enumerate(sentences) if i >= first and s.end == hit.end), first)
    return first, last


def _text(chunk: Chunk, first: int, last: int) -> str:
    a, b = chunk.sentences[first], chunk.sentences[last]
    return chunk.text[a.offset : b.offset + len(b.text)]


def passage_texts(hits: list[Hit], budget_tokens: int) -> list[str]:
    """Each hit's quote with neighbouring sentences added, best hit first and alternating after and
    before, one sentence a turn, while the estimated tokens of all passages stay within the budget.
    A quote is always shown whole, even past the budget."""
    windows = [list(_window(hit)) for hit in hits]
    texts = [hit.quote for hit in hits]
    spent = sum(estimate_tokens(t) for t in texts)
    growing = True
    turn = 0
    while growing:
        growing = False
        for n, hit in enumerate(hits):
            first, last = windows[n]
            count = len(hit.chunk.sentences)
            after, before = (first, last + 1), (first - 1, last)
            options = [after, before] if turn % 2 == 0 else [before, after]
            for new_first, new_last in options:
                if new_first < 0 or new_last >= count:
                    continue
                wider = _text(hit.chunk, new_first, new_last)
                cost = estimate_tokens(wider) - estimate_tokens(texts[n])
                if spent + cost <= budget_tokens:
                    windows[n], texts[n] = [new_first, new_last], wider
                    spent += cost
                    growing = True
                    break
        turn += 1
    return texts
