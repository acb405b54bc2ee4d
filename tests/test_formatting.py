"""Answers as Telegram HTML: escaped, cited, and split into valid messages under Telegram's limit.

Every rendered message is checked with the fake Bot API server's HTML parser, which refuses what
Telegram refuses (unknown tags, unbalanced tags, bare `<` or `&`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.formatting import (
    MESSAGE_LIMIT,
    MORE_QUOTE_CHARS,
    NO_ANSWER,
    UNSURE,
    Holdings,
    Passage,
    escape,
    holdings,
    page_of,
    render_answer,
    render_citation,
    render_passage,
    render_sources,
    render_welcome,
    shorten,
    split_html,
    utf16_len,
)
from bot.i18n import translations
from retrieval.models import Answer, Citation
from tests.fakes.telegram_server import HTMLError, parse_html

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SHOIGU = SEEDS / "001_309902524711f206.txt"


def seed_text(path: Path = SHOIGU) -> str:
    return path.read_text("utf-8")


def citation_at(n: int, path: Path, needle: str, highlight: str | None = None) -> Citation:
    """A citation quoting the paragraph of a seed file that contains `needle`, offsets included."""
    text = seed_text(path)
    at = text.index(needle)
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    title = text.split("\n\n")[6].strip() if path == SHOIGU else path.stem
    return Citation(n=n, source=path.name, title=title, quote=text[start:end], score=1.0,
                    start=start, end=end, highlight=highlight)


def words(text: str) -> str:
    """Text with all whitespace removed: what must survive splitting unchanged."""
    return "".join(text.split())


def test_escape_makes_markup_characters_literal() -> None:
    assert parse_html(escape("(DS&PL) <b>not bold</b> 3 > 2")) == "(DS&PL) <b>not bold</b> 3 > 2"


def test_citation_quote_is_exact_source_text_in_a_blockquote() -> None:
    citation = citation_at(1, SHOIGU, "ngày 27/7", highlight="ngày 27/7")
    html = render_citation(citation)
    assert "<blockquote>" in html
    assert citation.quote in parse_html(html)
    assert seed_text()[citation.start : citation.end] in parse_html(html)


def test_citation_marks_the_answering_span_bold() -> None:
    html = render_citation(citation_at(1, SHOIGU, "ngày 27/7", highlight="ngày 27/7"))
    quote = re.search(r"<blockquote>(.*)</blockquote>", html, re.S).group(1)
    assert "<b>ngày 27/7</b>" in quote


def test_a_citation_says_which_article_under_its_quote() -> None:
    citation = citation_at(2, SHOIGU, "Đáp lại")
    text = parse_html(render_citation(citation))
    assert text.startswith(citation.quote)
    assert text.endswith("\n[2] Tổng thống Nga Putin gửi thư cho lãnh…")
    assert parse_html(render_citation(citation, title=False)).endswith("\n[2]")


def test_source_text_with_ampersand_and_angle_brackets_still_parses() -> None:
    text = seed_text()
    at = text.index("(DS&PL)")
    citation = Citation(n=1, source="a<b>&c.txt", title="Tom & Jerry <script>", quote=text[at : at + 60],
                        score=1.0, start=at, end=at + 60, highlight="&PL")
    rendered = parse_html(render_citation(citation))
    assert "(DS&PL)" in rendered
    assert "Tom & Jerry <script>" in rendered


def test_an_answer_leads_with_its_span_then_the_whole_first_quote_then_the_others_begun() -> None:
    first = citation_at(1, SHOIGU, "ngày 27/7", highlight="ngày 27/7")
    second = citation_at(2, SHOIGU, "KCNA cho hay")
    answer = Answer(question="Ông Shoigu đến Bình Nhưỡng ngày nào?", answer=f"ngày 27/7 — “{first.quote}” [1]",
                    abstained=False, citations=[first, second], lead="ngày 27/7")
    html = render_answer(answer)
    text = parse_html(html)
    assert html.startswith("<b>ngày 27/7</b>\n<blockquote>")
    assert text.count(first.quote) == 1  # the answering sentence once
    assert text.index("[1] ") < text.index("[2]")
    assert len(second.quote) > MORE_QUOTE_CHARS and second.quote not in text
    assert shorten(second.quote, MORE_QUOTE_CHARS) in text  # begun; Expand [2] shows it whole
    assert "[2]\n" not in text and text.endswith("[2]")  # same article: its title is not said twice


def test_a_quote_in_another_language_has_its_answering_span_rendered_under_it() -> None:
    first = citation_at(1, SHOIGU, "ngày 27/7")
    answer = Answer(question="Когда Шойгу был в Пхеньяне?", answer="x", abstained=False, citations=[first],
                    glossed="ngày 27/7", gloss="27 июля")
    text = parse_html(render_answer(answer, translations("ru")))
    assert text.startswith(first.quote) and text.endswith("ngày 27/7 → 27 июля")


def test_abstention_is_italic_without_citations_in_the_readers_language() -> None:
    answer = Answer(question="Кой спечели през 1998?", answer="The sources don't say.", abstained=True)
    assert render_answer(answer) == f"<i>{NO_ANSWER}</i>"
    assert render_answer(answer, translations("bg")) == f"<i>{translations('bg').gettext(NO_ANSWER)}</i>"


def test_an_unsure_answer_warns_and_still_shows_the_passages() -> None:
    first = citation_at(1, SHOIGU, "ngày 27/7", highlight="ngày 27/7")
    answer = Answer(question="When did Shoigu visit Pyongyang?", answer="x", abstained=False, citations=[first],
                    confidence="unsure")
    text = parse_html(render_answer(answer, translations("ru")))
    assert translations("ru").gettext(UNSURE) in text
    assert text.index(translations("ru").gettext(UNSURE)) < text.index("[1] ") and first.quote in text


def test_a_follow_up_names_what_it_was_read_as_being_about() -> None:
    first = citation_at(1, SHOIGU, "ngày 27/7", highlight="ngày 27/7")
    answer = Answer(question="và khi nào?", answer="x", abstained=False, citations=[first], lead="ngày 27/7",
                    topic=["Shoigu", "Bình Nhưỡng"])
    text = parse_html(render_answer(answer, translations("vi")))
    assert text.startswith("Về: Shoigu, Bình Nhưỡng\nngày 27/7\n")


def test_a_model_rewritten_follow_up_says_how_it_was_read() -> None:
    answer = Answer(question="và khi nào?", answer="Ngày 27/7 [1].", abstained=False, mode="llm",
                    citations=[citation_at(1, SHOIGU, "ngày 27/7")], read_as="Ông Shoigu đến Bình Nhưỡng khi nào?")
    text = parse_html(render_answer(answer, translations("vi")))
    assert text.startswith("Hiểu là: Ông Shoigu đến Bình Nhưỡng khi nào?\nNgày 27/7 [1].")


def test_a_greeting_is_answered_with_what_the_index_holds() -> None:
    answer = Answer(question="Здравей!", answer="Hello! ...", abstained=False, confidence="none", kind="smalltalk",
                    smalltalk="greeting")
    about = Holdings(5, ("vi", "bg", "ru"), "Кога Шойгу посети Пхенян?")
    text = parse_html(render_answer(answer, translations("bg"), about))
    assert text.startswith("Здравейте!") and "5 новинарски статии" in text
    assert "виетнамски, български, руски" in text and "Кога Шойгу посети Пхенян?" in text


@pytest.mark.parametrize(("kind", "language", "opening"), [
    ("thanks", "vi", "Không có gì!"),
    ("farewell", "en", "Goodbye!"),
    ("thanks", "ru", "Пожалуйста!"),
    ("complaint", "bg", "Съжалявам."),
    ("praise", "en", "Glad it helped!"),
])
def test_thanks_goodbyes_and_verdicts_get_their_own_reply_not_a_greeting(kind: str, language: str,
                                                                         opening: str) -> None:
    answer = Answer(question="...", answer="...", abstained=False, confidence="none", kind="smalltalk",
                    smalltalk=kind)
    text = parse_html(render_answer(answer, translations(language), Holdings(5, ("vi",), "Who met Kim?")))
    assert text.startswith(opening)


def test_note_is_shown_under_the_answer() -> None:
    note = "model timed out; extractive answer shown"
    answer = Answer(question="q", answer="a", abstained=False, note=note)
    assert parse_html(render_answer(answer)) == f"a\n{note}"


def test_user_text_in_an_answer_is_escaped() -> None:
    answer = Answer(question="<i>", answer="x < y & <b>z</b>", abstained=False, mode="llm")
    assert parse_html(render_answer(answer)) == "x < y & <b>z</b>"


def test_short_message_is_not_split() -> None:
    html = render_citation(citation_at(1, SHOIGU, "ngày 27/7"))
    assert split_html(html) == [html]


def all_seed_paragraphs() -> list[str]:
    texts = [seed_text(path) for path in sorted(SEEDS.glob("*.txt"))]
    return [p.strip() for text in texts for p in text.split("\n\n") if p.strip()]


def test_long_message_splits_on_paragraphs_into_valid_parts() -> None:
    paragraphs = all_seed_paragraphs()
    html = "\n\n".join(f"<b>{i}.</b> <blockquote>{escape(p)}</blockquote>" for i, p in enumerate(paragraphs))
    assert utf16_len(parse_html(html)) > 2 * MESSAGE_LIMIT
    parts = split_html(html)
    assert len(parts) >= 3
    for part in parts:
        assert utf16_len(part) <= MESSAGE_LIMIT
        parse_html(part)
    assert words("".join(parse_html(p) for p in parts)) == words(parse_html(html))
    # each cut falls between paragraphs: no part ends inside a paragraph's text
    for part in parts[:-1]:
        assert part.endswith("</blockquote>")


def test_one_huge_quote_splits_at_sentence_ends_with_tags_reopened() -> None:
    article = " ".join(" ".join(p.split()) for p in all_seed_paragraphs() if len(p) > 150)
    html = f"<b>[1]</b> <b>Everything</b>\n<blockquote>{escape(article)}</blockquote>"
    parts = split_html(html)
    assert len(parts) >= 3
    for part in parts:
        assert utf16_len(part) <= MESSAGE_LIMIT
        parse_html(part)
    for part in parts[1:]:
        assert part.startswith("<blockquote>")
    for part in parts[:-1]:
        assert re.search(r"[.!?…][\"”»)]*</blockquote>$", part), part[-80:]
    assert words("".join(parse_html(p) for p in parts)) == words(parse_html(html))


def test_text_without_spaces_is_cut_hard_but_still_valid() -> None:
    html = f"<code>{'x' * 10_000}</code>"
    parts = split_html(html)
    assert all(utf16_len(p) <= MESSAGE_LIMIT and parse_html(p) for p in parts)
    assert "".join(parse_html(p) for p in parts) == "x" * 10_000


def test_limit_counts_emoji_as_two_units() -> None:
    html = "<b>" + "😀 " * 2000 + "</b>"
    assert len(html) < MESSAGE_LIMIT < utf16_len(html)
    parts = split_html(html)
    assert len(parts) == 2
    assert all(utf16_len(parse_html(p)) <= MESSAGE_LIMIT for p in parts)


@pytest.mark.parametrize("limit", [200, 777, 4096])
def test_every_part_is_valid_at_any_limit(limit: int) -> None:
    rows = [{"id": f"{i:03d}_{'&<>'[i % 3]}.txt", "title": p[:150], "language": "vi", "published": None}
            for i, p in enumerate(all_seed_paragraphs())]
    parts = split_html(render_sources(rows), limit)
    for part in parts:
        assert utf16_len(part) <= limit
        parse_html(part)
    assert words("".join(parse_html(p) for p in parts)) == words(parse_html(render_sources(rows)))


def test_checker_rejects_broken_html() -> None:
    # the fake server's parser is the oracle for the tests above; it must actually refuse bad HTML
    for bad in ("<b>open", "a & b", "<b><i>x</b></i>", "<div>x</div>", "1 < 2"):
        with pytest.raises(HTMLError):
            parse_html(bad)


def test_sources_lists_number_title_language_and_date() -> None:
    rows = [
        {"id": "002_80e1ee0b42e500dd.txt", "title": "Путин и Ким Чен-ун проведоха разговори",
         "language": "bg", "published": "2025-09-03"},
        {"id": "001_309902524711f206.txt", "title": "Tổng thống Nga Putin gửi thư", "language": "vi",
         "published": None},
    ]
    text = parse_html(render_sources(rows))
    assert "1. Путин и Ким Чен-ун проведоха разговори\n    bg · 2025-09-03 · 002_80e1ee0b42e500dd.txt" in text
    assert "2. Tổng thống Nga Putin gửi thư\n    vi · undated · 001_309902524711f206.txt" in text


def test_welcome_counts_articles_and_names_languages() -> None:
    rows = [{"language": "vi"}, {"language": "bg"}, {"language": "vi"}]
    examples = ["When did Shoigu visit Pyongyang?", "Кога?", "third"]
    text = parse_html(render_welcome(holdings(rows, examples), examples, "newsqa_bot"))
    assert "3 news articles in Vietnamese, Bulgarian" in text
    assert "When did Shoigu visit Pyongyang?" in text and "Кога?" in text
    assert "third" not in text


def test_passage_bolds_the_quoted_sentences() -> None:
    passage = Passage(title="T & T", source="s.txt", text="Before. The quote <here>. After.", quote_start=8,
                      quote_end=25)
    html = render_passage(3, passage)
    assert "<b>The quote &lt;here&gt;.</b>" in html
    assert parse_html(html) == "[3] T & T\ns.txt\nBefore. The quote <here>. After."


def test_shorten_cuts_long_titles_on_a_word() -> None:
    title = "Руският президент Владимир Путин и севернокорейският държавен ръководител Ким Чен-ун проведоха"
    short = shorten(title, 40)
    assert len(short) <= 40 and short.endswith("…")
    assert title.startswith(short[:-1])
    assert shorten("Short title") == "Short title"


def test_pages_hold_the_rows_in_order_and_clamp_the_page_number() -> None:
    rows = [{"id": f"{n:03}.txt"} for n in range(1, 33)]
    pages = [page_of(rows, number, 15) for number in range(3)]
    assert [p.pages for p in pages] == [3, 3, 3]
    assert [n for p in pages for n, _ in p.rows] == list(range(1, 33))
    assert page_of(rows, 99, 15).number == 2 and page_of(rows, -1, 15).number == 0
    text = parse_html(render_sources(rows, pages[1]))
    assert "Page 2 of 3" in text and "16. 016.txt" in text and "015.txt" not in text


def test_a_fetched_article_s_title_is_a_link_with_its_outlet_and_date_beside_it() -> None:
    from retrieval.models import Report

    citation = Citation(n=1, source="https://example.org/a", title="Putin and Kim meet in Beijing after the parade",
                        published="2025-09-03", quote="They met on Wednesday.", score=1.0, start=0, end=22,
                        url="https://example.org/a?x=1&y=2", outlet="BTA",
                        also=[Report(source="b.txt", title="Путин и Ким", outlet="Dân Việt", url="https://e.vn/b")])
    html = render_citation(citation)
    assert '<a href="https://example.org/a?x=1&amp;y=2">Putin and Kim meet in Beijing…</a> · BTA · 2025-09-03' in html
    assert 'also reported by <a href="https://e.vn/b">Dân Việt</a>' in html
    parse_html(html)  # Telegram takes it


def test_the_outlet_takes_its_room_from_the_title_so_the_label_line_does_not_grow() -> None:
    from bot.formatting import CITED_TITLE_CHARS

    citation = Citation(n=1, source="a", title="Putin and Kim meet in Beijing after the parade of the year", quote="q",
                        score=1.0, start=0, end=1, published="2025-09-03", outlet="Loopback Gazette",
                        url="https://example.org/a")
    label = parse_html(render_citation(citation)).splitlines()[-1]
    assert len(label) <= len("[1] ") + CITED_TITLE_CHARS + len(" · 2025-09-03") and "Loopback Gazette" in label
