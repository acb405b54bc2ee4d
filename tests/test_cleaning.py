"""Cleaning keeps the article body whole and drops the web debris, on the real seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.corpus.cleaning import clean
from retrieval.corpus.loading import RawDocument, read_document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def article(name: str):
    document = read_document(SEEDS / name, SEEDS)
    assert isinstance(document, RawDocument)
    return clean(document)


def body_text(name: str) -> str:
    a = article(name)
    return "\n".join(a.span_text(s) for s in a.body)


def test_form_and_menu_lines_are_dropped() -> None:
    text = body_text("001_309902524711f206.txt")
    for debris in ("Nhập thông tin", "Gửi bình luận thành công", "Gửi liên hệ thành công", "Email không hợp lệ"):
        assert debris not in text
    assert "\nĐóng\n" not in f"\n{text}\n"


def test_publisher_blurb_is_dropped_but_the_lead_is_kept() -> None:
    text = body_text("000_297e5e17ff67e22b.txt")
    assert "SeaPRwire" not in text
    assert "thông cáo báo chí" not in text
    assert text.startswith("và nhà lãnh đạo Triều Tiên Kim Jong Un")


def test_related_news_teasers_are_dropped() -> None:
    text = body_text("003_eeb12da565d72501.txt")
    assert "Tin liên quan" not in text
    assert "Đối đầu lưỡng đảng Mỹ" not in text
    assert "Venezuela truy tố" not in text
    assert "Vostochny" in text


def test_comment_box_footer_is_dropped() -> None:
    text = body_text("004_3363fd75c75f2601.txt")
    assert "Tối đa: 1500 ký tự" not in text
    assert "chưa có bình luận" not in text
    assert text.rstrip().endswith("ở Ba Lan.")


def test_photo_captions_that_repeat_the_body_are_dropped() -> None:
    a = article("001_309902524711f206.txt")
    lines = [a.span_text(s) for s in a.body]
    assert not any("Ảnh: KCNA/Yonhap" in line for line in lines)
    # The sentence the caption repeated is still in the body, once.
    lead = "Bộ trưởng Quốc phòng Nga Sergei Shoigu đã gặp nhà lãnh đạo Triều Tiên trong cuộc gặp mặt ở Bình Nhưỡng."
    assert sum(lead in line for line in lines) == 1


def test_bylines_are_dropped() -> None:
    text = body_text("001_309902524711f206.txt")
    assert "Như Quỳnh" not in text
    assert "(DS&PL)" not in text


def test_every_body_span_points_into_the_file() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        a = article(path.name)
        raw = path.read_text("utf-8")
        for span in a.body:
            assert a.span_text(span) == raw[span.start : span.end]
            assert a.span_text(span).strip() == a.span_text(span)


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("001_309902524711f206.txt", "Tổng thống Nga Putin gửi thư cho lãnh đạo Triều Tiên Kim Jong-un"),
        ("004_3363fd75c75f2601.txt", "Theo phát ngôn viên Điện Kremlin Dmitry Peskov"),
    ],
)
def test_title_is_the_headline_or_the_lead_sentence(name: str, title: str) -> None:
    assert article(name).title.startswith(title)


def test_language_is_detected() -> None:
    assert article("002_80e1ee0b42e500dd.txt").language == "bg"
    assert article("003_eeb12da565d72501.txt").language == "vi"


def test_published_date_is_read_when_stated() -> None:
    assert article("002_80e1ee0b42e500dd.txt").published == "2025-09-03"
    assert article("001_309902524711f206.txt").published is None
    assert not body_text("002_80e1ee0b42e500dd.txt").startswith("date")


def test_a_page_of_nothing_but_debris_gives_no_article(tmp_path: Path) -> None:
    page = tmp_path / "menu.txt"
    page.write_text("Nhập thông tin\nĐóng\nThông báo\n", "utf-8")
    document = read_document(page, tmp_path)
    assert isinstance(document, RawDocument)
    assert clean(document) is None


def test_a_markdown_headline_is_the_title_and_text_without_its_marks(tmp_path: Path) -> None:
    page = tmp_path / "pact.md"
    page.write_text("# Russia and North Korea sign a trade pact\n\nMoscow and Pyongyang signed a trade pact on "
                    "Monday, officials said. It covers grain and oil.\n", "utf-8")
    document = read_document(page, tmp_path)
    assert isinstance(document, RawDocument)

    article = clean(document)

    assert article is not None and article.title == "Russia and North Korea sign a trade pact"
    assert all(not article.span_text(span).startswith("#") for span in article.body)
