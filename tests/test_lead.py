"""The lead: the span of a quote that answers, shown in bold only when it clearly does, and the rendering in
the reader's language of a quote's span written in another one."""

from __future__ import annotations

import pytest

from retrieval.answer.lead import grounds, lead, rendered
from retrieval.models import Chunk, Hit, Sentence
from retrieval.question.analysis import analyse

LUKASHENKO = ("Ngày 14-9, Hãng thông tấn Belarus BelTA cho biết Tổng thống Alexander Lukashenko sẽ tới Nga và gặp "
              "gỡ Tổng thống Putin vào ngày 15-9.")
SHOIGU_VI = ("Hãng thông tấn trung ương Triều Tiên (KCNA) cho biết, ngày 27/7 trong cuộc gặp tại Bình Nhưỡng, Bộ "
             "trưởng Quốc phòng Nga ông Sergei Shoigu đã trao cho nhà lãnh đạo Kim Jong-un một bức thư.")
LEADERS_BG = ("Путин и Ким бяха основните чуждестранни гости на събитието по случай 80-ата годишнина от победата "
              "срещу милитаристична Япония, на което са присъствали общо 26 чуждестранни лидери.")


def hit(*sentences: str, language: str = "vi", scores: list[float] | None = None) -> Hit:
    """A window of `sentences` in one chunk, as the search returns it."""
    parts, at = [], 0
    for text in sentences:
        parts.append(Sentence(start=at, end=at + len(text), text=text, offset=at))
        at += len(text) + 1
    text = " ".join(sentences)
    chunk = Chunk(id="c", article_id="a", position=0, start=0, end=len(text), text=text, sentences=parts,
                  title="Title", language=language, source="a.txt")
    return Hit(chunk=chunk, quote=text, start=0, end=len(text), score=1.0,
               sentence_scores=scores or [0.0] * len(sentences))


def test_the_date_beside_the_question_words_leads() -> None:
    question = analyse("Ông Lukashenko gặp ông Putin vào ngày nào?")
    assert lead(question, hit(LUKASHENKO)) == "ngày 15-9"  # not the report's date, 14-9


def test_a_quote_in_another_language_has_no_lead() -> None:
    assert lead(analyse("When did Lukashenko meet Putin?"), hit(LUKASHENKO)) is None


def test_the_person_a_question_asks_about_is_never_the_answer() -> None:
    question = analyse("Who did Shoigu meet in Pyongyang?")
    quote = hit("Defence Minister Sergei Shoigu met the leader Kim Jong Un in Pyongyang.", language="en")
    assert lead(question, quote) == "Kim Jong Un"


def test_a_sentence_that_does_not_say_what_is_asked_has_no_lead() -> None:
    question = analyse("Кой министър на външните работи придружаваше Ким в Пекин?")
    headline = hit("Руският президент Владимир Путин и държавният ръководител Ким Чен-ун проведоха разговори в Пекин.",
                   language="bg")
    assert lead(question, headline) is None  # names Kim and Beijing, says nothing of a foreign minister


def test_an_ordinal_is_no_count() -> None:
    assert lead(analyse("Колко чуждестранни лидери присъстваха на парада?"), hit(LEADERS_BG, language="bg")) == "26"


def test_how_long_asks_for_a_span_of_time() -> None:
    quote = hit("Срещата продължи два часа и половина, съобщи ТАСС.", language="bg")
    assert lead(analyse("Колко продължи срещата?"), quote) == "два часа и половина"


def test_where_someone_went_is_not_who_went_with_them() -> None:
    question = analyse("Ai đi cùng ông Kim đến Bắc Kinh?")
    quote = hit("Ông Kim đến Bắc Kinh cùng các quan chức cấp cao, bao gồm Bộ trưởng Ngoại giao Choe Son-hui, đi cùng "
                "trong chuyến đi.")
    assert lead(question, quote) == "Choe Son-hui"


def test_who_someone_is_is_described_not_named() -> None:
    quote = hit("Говорителят на Кремъл Дмитрий Песков каза, че Путин приема поканата.", language="bg")
    assert lead(analyse("Кой е Песков?"), quote) is None
    assert grounds(analyse("Кой е Песков?"), quote)  # ...but the passage does speak of him


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Когда Шойгу был в Пхеньяне?", "27 июля"),
        ("Кога Шойгу посети Пхенян?", "27 юли"),
        ("When did Shoigu visit Pyongyang?", "July 27"),
    ],
)
def test_a_date_in_another_language_is_rendered_in_the_readers(question: str, expected: str) -> None:
    assert rendered(analyse(question), hit(SHOIGU_VI)) == ("ngày 27/7", expected)


def test_a_number_is_written_as_the_reader_writes_numbers() -> None:
    quote = hit("Hàn Quốc ước tính 15.000 binh sĩ Triều Tiên đã được gửi đến Nga kể từ năm ngoái.")
    assert rendered(analyse("How many soldiers did North Korea send to Russia?"), quote) == ("15.000", "15,000")


def test_two_spans_of_the_asked_kind_are_not_rendered() -> None:
    # Which of 14-9 and 15-9 answers cannot be told across languages: nothing is put forward.
    assert rendered(analyse("When did Lukashenko meet Putin?"), hit(LUKASHENKO)) is None


def test_a_span_already_in_the_readers_language_is_not_rendered() -> None:
    assert rendered(analyse("Ông Shoigu đến Bình Nhưỡng ngày nào?"), hit(SHOIGU_VI)) is None
