"""The message catalogue: every text the bot and the CLI write exists in en/vi/bg/ru, with the same
placeholders and valid Telegram HTML, and the template matches the messages in the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import formatting as fmt
from bot.i18n import LANGUAGES, LOCALES, catalogue_path, choose, supported, translations
from tests.fakes.telegram_server import parse_html

BOT = Path(__file__).resolve().parent.parent / "bot"
TRANSLATED = [code for code in LANGUAGES if code != "en"]
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def code_messages() -> set[str]:
    """The messages marked in bot/ (what `pybabel extract` finds), singular ids."""
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(BOT)):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalogue(path: Path) -> Catalog:
    with path.open("rb") as po:
        return read_po(po)


def test_the_template_holds_exactly_the_messages_in_the_code() -> None:
    template = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalogue(LOCALES / "newsqa.pot") if m.id}
    assert template == code_messages()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    messages = {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in catalogue(catalogue_path(language)) if m.id}
    assert set(messages) == code_messages()
    for msgid, message in messages.items():
        assert "fuzzy" not in message.flags, msgid
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            assert string.strip(), msgid
            assert set(PLACEHOLDER.findall(string)) == wanted, (msgid, string)


@pytest.mark.parametrize("language", LANGUAGES)
def test_translated_replies_are_valid_telegram_html(language: str) -> None:
    tr = translations(language)
    about = fmt.Holdings(12, ("vi", "bg"), "Кога <Шойгу> посети Пхенян?")
    texts = [
        fmt.render_help("newsqa_bot", tr),
        fmt.render_welcome(about, ["A & B?"], "newsqa_bot", tr),
        *(fmt.render_smalltalk(kind, about, tr) for kind in ("greeting", *fmt.SMALLTALK)),
        fmt.render_slow_down(10, 21, tr),
        fmt.render_text(fmt.ASK_USAGE, tr, example="<x>"),
        fmt.render_text(fmt.TOO_LONG, tr, length=5000, limit=2000),
    ]
    for text in texts:
        assert parse_html(text).strip()


def test_a_language_is_chosen_from_the_question_then_the_user_then_english() -> None:
    assert choose("vi", "ru", "bg") == "vi"
    assert choose(None, "ru-RU", "bg") == "ru"
    assert choose("mk", None, "pt-BR") == "en"
    assert supported("bg_BG") == "bg" and supported("") is None


def test_each_language_says_the_rate_limit_in_its_own_words() -> None:
    said = {code: fmt.render_slow_down(10, 21, translations(code)) for code in LANGUAGES}
    assert said["en"] == "Slow down, please: at most 10 questions in any 60 seconds. You can ask again in 21 seconds."
    assert said["ru"].endswith("через 21 секунду.")  # Russian plural forms: 21 takes the singular
    assert len(set(said.values())) == len(LANGUAGES)
