"""Language identification with py3langid's bundled model (no download)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language ("und" when there is too little text to tell)."""
    import py3langid  # loads its model on first use, so imported only when needed

    sample = text[:4000].strip()
    if len(sample) < 3:
        return "und"
    code, _ = py3langid.classify(sample)
    return str(code)


QUESTION_LANGUAGES = ("en", "vi", "bg", "ru")


@lru_cache(maxsize=1)
def _question_identifier() -> LanguageIdentifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(QUESTION_LANGUAGES))
    return identifier


def question_language(text: str) -> str:
    """Which of the languages newsqa is asked in (en, vi, bg, ru) a question is written in: a short
    Cyrillic question would otherwise often read as Macedonian or Serbian."""
    code, _ = _question_identifier().classify(text[:4000])
    return str(code)
