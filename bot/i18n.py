"""The message catalogue: every text newsqa's front ends write themselves, in English, Vietnamese,
Bulgarian and Russian, as gettext `.po` files under bot/locales/ read with Babel.

English is the source language (the messages as written in code, marked with `N_`); the other
languages are `bot/locales/<lang>/LC_MESSAGES/newsqa.po`. Regenerate the template after changing a
message: `pybabel extract -o bot/locales/newsqa.pot bot/` then `pybabel update -i bot/locales/newsqa.pot
-d bot/locales -D newsqa` (tests/test_i18n.py checks that nothing is missing or untranslated).
"""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("en", "vi", "bg", "ru")
DEFAULT_LANGUAGE = "en"
DOMAIN = "newsqa"
LOCALES = Path(__file__).with_name("locales")

Translations = gettext.NullTranslations


def N_(message: str) -> str:
    """Mark a message for the catalogue where it is defined; it is translated where it is shown."""
    return message


def catalogue_path(language: str) -> Path:
    """Where a language's `.po` file lives."""
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str | None) -> Translations:
    """The catalogue for a language; English (and anything unsupported) is the messages as written."""
    code = supported(language)
    if code is None or code == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()  # without importing Babel: English answers print sooner
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with catalogue_path(code).open("rb") as po:
        catalog = read_po(po, locale=code, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, so an unreviewed guess is never shown
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def supported(code: str | None) -> str | None:
    """The supported language a code names ("pt-BR" → None, "ru-RU" → "ru"), or None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def choose(*candidates: str | None) -> str:
    """The first supported language among the candidates (question language, the user's last one,
    Telegram's language_code), else English."""
    for code in candidates:
        if found := supported(code):
            return found
    return DEFAULT_LANGUAGE


def language_name(code: str, language: str) -> str:
    """A language's name in another language ("bg" in Vietnamese: "Tiếng Bulgaria"), via Babel's CLDR data."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(language).languages.get(code)
    except (UnknownLocaleError, ValueError):
        name = None
    return name or code
