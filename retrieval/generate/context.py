"""What the model reads: the windows chosen for recall (spread over chunks and articles), each quote
widened by the neighbouring sentences of its chunk, within a token budget shared by all passages.

The quote stays the citation (exact source text); the wider text only helps the model understand
it ("the meeting lasted two hours" needs the sentence saying whose meeting).
"""

from __future__ import annotations

from collections import Counter

from retrieval.models import Chunk, Hit
from retrieval.text import estimate_tokens

# At most this many windows from one chunk and from one article: ten windows of one paragraph would
# tell the model one thing ten times. On the seed fixture (10 windows, 3,000 tokens) these caps keep
# context recall at 0.958 while the windows come from more articles.
PER_CHUNK = 2
PER_ARTICLE = 4


def spread(hits: list[Hit], count: int, per_chunk: int = PER_CHUNK, per_article: int = PER_ARTICLE) -> list[Hit]:
    """The best `count` windows, best first, with at most `per_chunk` from one chunk and `per_article`
    from one article; when the caps leave fewer than `count`, the next best fill up."""
    chosen: list[Hit] = []
    chunks: Counter[str] = Counter()
    articles: Counter[str] = Counter()
    for hit in hits:
        if chunks[hit.chunk.id] < per_chunk and articles[hit.chunk.source] < per_article:
            chosen.append(hit)
            chunks[hit.chunk.id] += 1
            articles[hit.chunk.source] += 1
            if len(chosen) == count:
                return chosen
    taken = {id(hit) for hit in chosen}
    rest = [hit for hit in hits if id(hit) not in taken]
    taken.update(id(hit) for hit in rest[: count - len(chosen)])
    return [hit for hit in hits if id(hit) in taken]


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
