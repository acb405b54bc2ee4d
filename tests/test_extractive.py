"""Extractive answers: the quote that answers first, trimmed to what answers, with its lead or its rendering
in the reader's language; at most two more distinct quotes; abstention when the articles are silent."""

from __future__ import annotations

import pytest

from retrieval.answer.confidence import AbstainParams
from retrieval.answer.extractive import arrange, extractive_answer
from retrieval.engine import QuestionError
from retrieval.models import Chunk, Hit, Sentence
from retrieval.question.analysis import analyse

SHOIGU_DATE = ("Hãng thông tấn trung ương Triều Tiên (KCNA) cho biết, ngày 27/7 trong cuộc gặp tại Bình Nhưỡng, Bộ "
               "trưởng Quốc phòng Nga ông Sergei Shoigu đã trao cho nhà lãnh đạo Kim Jong-un một bức thư.")


def hit(*sentences: str, language: str = "vi", source: str = "a.txt", at: int = 0, score: float = 1.0,
        title: str = "Title") -> Hit:
    """A window of `sentences` from `source`, starting at file offset `at`."""
    parts, offset = [], 0
    for text in sentences:
        parts.append(Sentence(start=at + offset, end=at + offset + len(text), text=text, offset=offset))
        offset += len(text) + 1
    text = " ".join(sentences)
    chunk = Chunk(id=f"{source}:{at}", article_id=source, position=0, start=at, end=at + len(text), text=text,
                  sentences=parts, title=title, language=language, source=source)
    return Hit(chunk=chunk, quote=text, start=at, end=at + len(text), score=score,
               sentence_scores=[0.0] * len(sentences))


def test_answer_states_the_best_passage_with_its_number(engine) -> None:
    answer = engine.ask("When did Shoigu visit Pyongyang?")
    assert not answer.abstained
    assert answer.mode == "extractive"
    assert [c.n for c in answer.citations] == [1, 2, 3]
    assert f"“{answer.citations[0].quote}” [1]" in answer.answer
    assert answer.citations[0].source == "001_309902524711f206.txt"


def test_a_when_question_in_the_quotes_language_leads_with_the_date(engine) -> None:
    answer = engine.ask("Ông Shoigu đến Bình Nhưỡng ngày nào?")
    assert answer.lead == answer.citations[0].highlight == "ngày 27/7"
    assert answer.answer.startswith("ngày 27/7 — ")
    assert answer.gloss is None


@pytest.mark.parametrize(("question", "gloss"), [
    ("When did Shoigu visit Pyongyang?", "July 27"),
    ("Кога Шойгу посети Пхенян?", "27 юли"),
    ("Когда Шойгу был в Пхеньяне?", "27 июля"),
])
def test_a_date_in_another_language_comes_first_rendered_in_the_readers(engine, question: str, gloss: str) -> None:
    answer = engine.ask(question)
    assert not answer.abstained
    assert "27/7" in answer.citations[0].quote
    assert answer.lead is None and (answer.glossed, answer.gloss) == ("ngày 27/7", gloss)


def test_citation_carries_title_and_published_date(engine) -> None:
    answer = engine.ask("How many foreign leaders attended the parade in Beijing?")
    first = answer.citations[0]
    assert first.source == "002_80e1ee0b42e500dd.txt"
    assert first.published == "2025-09-03"
    assert first.title.startswith("Руският президент Владимир Путин")
    assert "26" in first.quote


def test_asking_for_the_latest_news_quotes_the_opening_of_the_newest_articles(engine) -> None:
    answer = engine.ask("Какие последние новости?")
    newest = [row["id"] for row in engine.latest()]
    assert not answer.abstained and answer.confidence == "answer"
    # the only dated seed (2025-09-03) first, one article per story: its Vietnamese report is named under it
    assert [c.source for c in answer.citations] == newest[: len(answer.citations)]
    assert answer.citations[0].published == "2025-09-03"
    assert [report.source for report in answer.citations[0].also] == ["000_297e5e17ff67e22b.txt"]
    for citation in answer.citations:  # exact slices of the source files
        assert (engine.settings.corpus_dir / citation.source).read_text("utf-8")[citation.start : citation.end] \
            == citation.quote


def test_asking_for_the_latest_news_after_a_date_abstains_when_nothing_is_that_new(engine) -> None:
    assert engine.ask("What's the latest news?", since="2030-01-01").abstained


def test_an_unsure_answer_still_shows_its_passages(engine) -> None:
    question = "When did Shoigu visit Pyongyang?"
    hits = engine.search(question)
    between = AbstainParams(threshold=float("-inf"), answer_at=float("inf"))  # every answer falls between
    answer = extractive_answer(question, hits, between)
    assert answer.confidence == "unsure" and not answer.abstained
    assert [c.quote for c in answer.citations] == [h.quote for h in hits]


def test_answer_carries_the_question_language(engine) -> None:
    assert engine.ask("Когда Шойгу был в Пхеньяне?").language == "ru"
    assert engine.ask("Shoigu đến Bình Nhưỡng vào ngày nào?").language == "vi"


def test_empty_and_overlong_questions_are_refused(engine) -> None:
    with pytest.raises(QuestionError, match="empty"):
        engine.ask("   ")
    with pytest.raises(QuestionError, match="characters long"):
        engine.ask("x" * 20_000)


def test_answer_serialises_to_utf8_json(engine) -> None:
    answer = engine.ask("Кога Шойгу посети Пхенян?")
    text = answer.model_dump_json()
    assert "Кога Шойгу" in text
    assert set(answer.model_dump()) >= {"question", "answer", "abstained", "mode", "citations", "confidence", "kind"}


def test_the_quote_in_the_readers_language_comes_first_when_it_says_the_same() -> None:
    question = analyse("Къде се срещнаха Путин и Ким в Пекин?")
    vietnamese = hit("Putin và Kim đã gặp nhau tại nhà khách cấp nhà nước Diaoyutai sau cuộc duyệt binh.", score=9)
    bulgarian = hit('В началото на срещата, която се състоя в резиденцията в Пекин "Дяоюйтай", Путин благодари на Ким.',
                    language="bg", source="b.txt", score=7)
    assert arrange(question, [vietnamese, bulgarian])[0] is bulgarian


def test_a_quote_already_shown_is_not_first_again_for_a_follow_up_when_another_answers() -> None:
    shown = hit("Ông Shoigu đã trao cho ông Kim một bức thư của ông Putin ngày 27/7 tại Bình Nhưỡng.", score=9)
    other = hit("Ngày 28/7, ông Shoigu dự lễ duyệt binh tại Bình Nhưỡng.", at=500, score=7)
    previous = analyse("And when was he in Pyongyang?")
    follow_up = previous.model_copy(update={"topic": ["Shoigu"], "seen": [("a.txt", shown.start, shown.end)]})
    assert arrange(follow_up, [shown, other])[0] is other
    assert arrange(previous, [shown, other])[0] is shown  # a question on its own gets the best quote


def test_headlines_and_repeated_quotes_are_not_citations() -> None:
    headline = hit("Tổng thống Nga Putin gửi thư cho lãnh đạo Triều Tiên Kim Jong-un",
                   title="Tổng thống Nga Putin gửi thư cho lãnh đạo Triều Tiên Kim Jong-un")
    quote = hit(SHOIGU_DATE, at=300)
    caption = hit(SHOIGU_DATE, source="copy.txt")
    assert arrange(analyse("When did Shoigu visit Pyongyang?"), [headline, quote, caption]) == [quote]


def test_a_quote_in_the_readers_language_is_cut_to_the_sentence_that_answers() -> None:
    window = hit("Ngày 14-9, BelTA cho biết ông Lukashenko sẽ tới Nga và gặp ông Putin vào ngày 15-9.",
                 "Theo đó, lãnh đạo hai nước sẽ thảo luận về tình hình quốc tế.")
    [first] = arrange(analyse("Ông Lukashenko gặp ông Putin vào ngày nào?"), [window])
    assert first.quote == window.chunk.sentences[0].text and first.end == window.chunk.sentences[0].end


def test_a_quote_in_another_language_is_kept_whole() -> None:
    window = hit(SHOIGU_DATE, "Ông Kim cảm ơn ông Putin.")
    assert arrange(analyse("When did Shoigu visit Pyongyang?"), [window])[0].quote == window.quote


def test_no_abstention_when_a_quote_names_what_is_asked_beside_an_answer_of_its_kind() -> None:
    never = AbstainParams(threshold=float("inf"), answer_at=float("inf"))  # the evidence model abstains
    grounded = extractive_answer("Когда Шойгу был в Пхеньяне?", [hit(SHOIGU_DATE)], never)
    silent = extractive_answer("Когда Лавров был в Пхеньяне?", [hit(SHOIGU_DATE)], never)
    assert not grounded.abstained and grounded.confidence == "unsure"
    assert silent.abstained
