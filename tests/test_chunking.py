"""Chunks are a few whole sentences, each traceable to its exact place in the file."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from retrieval.corpus.chunking import chunk_article, split_sentences
from retrieval.corpus.cleaning import clean
from retrieval.corpus.loading import read_document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def seed_articles():
    return [clean(read_document(p, SEEDS)) for p in sorted(SEEDS.glob("*.txt"))]


def sentences(text: str) -> list[str]:
    return [s.text for s in split_sentences(text, 0, len(text))]


def test_sentences_split_at_terminal_punctuation() -> None:
    text = "Срещата продължи два часа и половина, съобщи ТАСС. Путин покани Ким да посети Русия, съобщиха от Кремъл."
    assert sentences(text) == [
        "Срещата продължи два часа и половина, съобщи ТАСС.",
        "Путин покани Ким да посети Русия, съобщиха от Кремъл.",
    ]


def test_abbreviations_and_grouped_numbers_do_not_end_sentences() -> None:
    text = "Tại cuộc gặp ở St. Petersburg, ông Putin đã nói. Hàn Quốc ước tính 15.000 binh sĩ đã được gửi đến Nga."
    assert len(sentences(text)) == 2
    assert sentences(text)[0].endswith("đã nói.")


def test_a_quote_closing_a_sentence_stays_with_it() -> None:
    text = 'Ông Kim nói "cảm ơn". Sau đó ông rời đi.'
    assert sentences(text) == ['Ông Kim nói "cảm ơn".', "Sau đó ông rời đi."]


def test_chunks_hold_whole_sentences_within_the_size_limit() -> None:
    for article in seed_articles():
        for chunk in chunk_article(article, max_chars=600):
            assert 1 <= len(chunk.sentences) <= 5
            assert chunk.end - chunk.start <= 600 or len(chunk.sentences) == 1 or "\n" in chunk.text
            for sentence in chunk.sentences:
                assert sentence.text in chunk.text


def test_every_sentence_offset_points_at_its_text_in_the_file() -> None:
    for article in seed_articles():
        for chunk in chunk_article(article):
            for sentence in chunk.sentences:
                assert article.text[sentence.start : sentence.end] == sentence.text
                assert chunk.text[sentence.offset : sentence.offset + len(sentence.text)] == sentence.text


def test_chunks_cover_the_body_in_order_without_overlap() -> None:
    for article in seed_articles():
        chunks = chunk_article(article)
        assert [c.position for c in chunks] == list(range(len(chunks)))
        assert all(a.end <= b.start for a, b in pairwise(chunks))
        body = "".join(article.span_text(s) for s in article.body)
        assert sum(len(s.text) for c in chunks for s in c.sentences) <= len(body)


def test_chunk_ids_depend_on_content_only() -> None:
    first = [c.id for a in seed_articles() for c in chunk_article(a)]
    second = [c.id for a in seed_articles() for c in chunk_article(a)]
    assert first == second
    assert len(set(first)) == len(first)


def test_chunks_carry_the_article_metadata() -> None:
    article = next(a for a in seed_articles() if a.id.startswith("002"))
    chunk = chunk_article(article)[0]
    assert (chunk.article_id, chunk.source, chunk.language, chunk.published) == (
        article.id,
        article.id,
        "bg",
        "2025-09-03",
    )
    assert chunk.title == article.title
