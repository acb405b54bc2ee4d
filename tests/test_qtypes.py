"""Question types and the answer spans they mark, in the four languages users ask in."""

from __future__ import annotations

import pytest

from retrieval.question.qtypes import answer_span, question_type


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When did Shoigu visit Pyongyang?", "when"),
        ("Кога Шойгу посети Пхенян?", "when"),
        ("Когда Шойгу был в Пхеньяне?", "when"),
        ("Shoigu đến Bình Nhưỡng khi nào?", "when"),
        ("How many foreign leaders attended?", "how_many"),
        ("Колко чуждестранни лидери присъстваха?", "how_many"),
        ("Hàn Quốc ước tính bao nhiêu binh sĩ?", "how_many"),
        ("Who led the Chinese delegation?", "who"),
        ("Ai dẫn đầu phái đoàn Trung Quốc?", "who"),
        ("Кто возглавил делегацию?", "who"),
        ("Where did Putin and Kim meet?", "where"),
        ("Къде се срещнаха Путин и Ким?", "where"),
        ("What did Shoigu hand over?", None),
    ],
)
def test_question_type(question: str, expected: str | None) -> None:
    assert question_type(question) == expected


def span(qtype: str, text: str) -> str | None:
    found = answer_span(qtype, text)  # type: ignore[arg-type]
    return text[found[0] : found[1]] if found else None


def test_dates_are_marked() -> None:
    assert span("when", "KCNA cho biết, ngày 27/7 trong cuộc gặp") == "ngày 27/7"
    assert span("when", "Срещата е на 3 септември 2025 г.") == "3 септември 2025"


def test_numbers_are_marked() -> None:
    assert span("how_many", "Hàn Quốc ước tính 15.000 binh sĩ") == "15.000"
    assert span("how_many", "Срещата продължи два часа и половина") == "два"


def test_names_are_marked() -> None:
    assert span("who", "do ông Lý Hồng Trung dẫn đầu") == "Lý Hồng Trung"


def test_no_span_when_the_text_has_none() -> None:
    assert span("when", "Putin và Kim đã gặp nhau") is None
