"""Telling which language a question or an article is written in."""

import pytest

from retrieval.question.language import detect_language, guess_question_language, question_language


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("When did Shoigu visit Pyongyang?", "en"),
        ("Shoigu đến Bình Nhưỡng vào ngày nào?", "vi"),
        ("Кога Шойгу посети Пхенян?", "bg"),
        ("Когда Шойгу посетил Пхеньян?", "ru"),
        ("Къде се срещнаха Путин и Ким?", "bg"),
        ("Где встретились Путин и Ким?", "ru"),
    ],
)
def test_a_question_is_told_among_the_four_languages_newsqa_is_asked_in(question: str, language: str) -> None:
    assert question_language(question) == language


def test_a_short_bulgarian_question_is_not_read_as_russian() -> None:
    # Without the Cyrillic cues py3langid calls this Russian, and the answer is labelled in the wrong language.
    assert guess_question_language("Кога Шойгу посети Пхенян?") == "bg"


def test_too_little_text_has_no_guessed_language() -> None:
    assert guess_question_language("ok 👍") is None


def test_an_article_language_comes_from_its_text() -> None:
    text = "Bộ trưởng Quốc phòng Nga Sergei Shoigu đã tới Bình Nhưỡng để dự lễ kỷ niệm 70 năm đình chiến."
    assert detect_language(text) == "vi"
