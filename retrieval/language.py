"""Language identification with py3langid's bundled model (no download)."""

from __future__ import annotations

import re
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


# Languages a question is told apart among: widely used ones plus the index's own. py3langid over all
# 97 of its languages calls "When did Shoigu visit Pyongyang?" Bikol; a short list does far better.
COMMON_LANGUAGES = ("en", "ru", "bg", "uk", "vi", "de", "fr", "es", "it", "pt", "nl", "pl", "cs", "ro", "el", "tr",
                    "ar", "hi", "zh", "ja", "ko", "th", "id", "sv")
_IDENTIFIERS: dict[tuple[str, ...], object] = {}


def short_text_language(text: str, extra: tuple[str, ...] = (), min_probability: float = 0.5) -> str | None:
    """The language of a short text (a question, a generated answer) among the common languages and
    `extra`, or None when the guess is weaker than `min_probability`."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    languages = tuple(sorted(set(COMMON_LANGUAGES) | {code for code in extra if code and code != "und"}))
    identifier = _IDENTIFIERS.get(languages)
    if identifier is None:
        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        identifier.set_languages([code for code in languages if code in identifier.nb_classes])
        _IDENTIFIERS[languages] = identifier
    if len(text.strip()) < 3:
        return None
    code, probability = identifier.classify(text)  # type: ignore[attr-defined]
    return str(code) if probability >= min_probability else None


QUESTION_LANGUAGES = ("en", "vi", "bg", "ru")
MIN_LETTERS = 8  # fewer letters than this ("ok", "lol") cannot be told apart

# Short Cyrillic questions are where the identifier errs most (it reads "Кога Шойгу посети Пхенян?" as
# Russian); their question words and a few letters (ы э ё only in Russian, ъ mostly in Bulgarian) tell
# the two apart.
_RUSSIAN = frozenset(["когда", "что", "где", "кто", "почему", "сколько", "какой", "какая", "какие", "зачем"])
_BULGARIAN = frozenset(["кога", "какво", "къде", "кой", "коя", "кое", "кои", "защо", "колко", "какъв", "каква"])


@lru_cache(maxsize=1)
def _question_identifier() -> LanguageIdentifier:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(QUESTION_LANGUAGES))
    return identifier


def _cyrillic_cue(text: str) -> str | None:
    folded = text.casefold()
    words = set(re.findall(r"[^\W\d_]+", folded))
    if words & _RUSSIAN or any(ch in folded for ch in "ыэё"):
        return "ru"
    if words & _BULGARIAN or "ъ" in folded:
        return "bg"
    return None


def guess_question_language(text: str) -> str | None:
    """Which of the languages newsqa is asked in (en, vi, bg, ru) a question is written in, or None
    when it is too short to tell ("ok", "lol")."""
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return None
    return question_language(text)


def question_language(text: str) -> str:
    """Which of en, vi, bg, ru a question is most likely written in, however short."""
    cue = _cyrillic_cue(text)
    if cue:
        return cue
    code, _ = _question_identifier().classify(text[:4000])
    return str(code)
