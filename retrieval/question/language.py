"""Language identification with py3langid's bundled model (no download).

The model ships LZMA-compressed: decompressing it took 0.5 s of CPU, a quarter of a cold `newsqa ask`.
It is read once per process and kept uncompressed in the user's cache (retrieval/index/cache.py), where the
next process maps it instead (about 0.05 s); every identifier here shares that one copy.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

Model = tuple[Any, Any, list[str], Any, Any, list[int]]  # (ptc, pc, classes, nextmove, row, output)


@lru_cache(maxsize=1)
def _model() -> Model:
    """py3langid's bundled model, as its `from_model_file` reads it."""
    import py3langid
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    from retrieval.index import cached, entry_name

    path = MODEL_DIR / MODEL_FILE
    stat = path.stat()
    name = entry_name("py3langid", getattr(py3langid, "__version__", ""), path, stat.st_size, stat.st_mtime_ns)
    return cached(name, _read_model, _save_model, _load_model)


def _read_model() -> Model:
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    from py3langid.modelio import load_model

    return load_model(MODEL_DIR / MODEL_FILE)


def _save_model(model: Model, folder: Path) -> None:
    import numpy as np

    ptc, pc, classes, nextmove, row, output = model
    np.save(folder / "ptc.npy", np.asarray(ptc))
    np.save(folder / "pc.npy", np.asarray(pc))
    np.save(folder / "nextmove.npy", np.frombuffer(nextmove, dtype=f"u{nextmove.itemsize}"))
    np.save(folder / "row.npy", np.frombuffer(row, dtype=f"u{row.itemsize}"))
    np.save(folder / "output.npy", np.asarray(output, dtype=np.int32))
    (folder / "classes.json").write_text(json.dumps(classes), "utf-8")


def _load_model(folder: Path) -> Model:
    import numpy as np

    def table(name: str) -> memoryview:
        # The walk over the model's automaton reads these one byte of text at a time: a memoryview of
        # the mapped file indexes like py3langid's own array, and nothing is copied.
        array = np.load(folder / name, mmap_mode="r")
        return memoryview(array).cast("B").cast(array.dtype.char)

    classes = json.loads((folder / "classes.json").read_text("utf-8"))
    ptc = np.load(folder / "ptc.npy", mmap_mode="r")
    output = np.load(folder / "output.npy").tolist()
    return ptc, np.load(folder / "pc.npy"), classes, table("nextmove.npy"), table("row.npy"), output


def identifier(languages: list[str] | None = None, norm_probs: bool = False) -> LanguageIdentifier:
    """A py3langid identifier over the shared model, restricted to `languages` (all when None)."""
    from py3langid.langid import LanguageIdentifier

    ptc, pc, classes, nextmove, row, output = _model()
    found = LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=norm_probs, tk_row=row)
    if languages is not None:
        found.set_languages([code for code in languages if code in classes])
    return found


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language ("und" when there is too little text to tell)."""
    sample = text[:4000].strip()
    if len(sample) < 3:
        return "und"
    code, _ = _every_language().classify(sample)
    return str(code)


@lru_cache(maxsize=1)
def _every_language() -> LanguageIdentifier:
    return identifier()


# Languages a question is told apart among: widely used ones plus the index's own. py3langid over all
# 97 of its languages calls "When did Shoigu visit Pyongyang?" Bikol; a short list does far better.
COMMON_LANGUAGES = ("en", "ru", "bg", "uk", "vi", "de", "fr", "es", "it", "pt", "nl", "pl", "cs", "ro", "el", "tr",
                    "ar", "hi", "zh", "ja", "ko", "th", "id", "sv")


def short_text_language(text: str, extra: tuple[str, ...] = (), min_probability: float = 0.5) -> str | None:
    """The language of a short text (a question, a generated answer) among the common languages and
    `extra`, or None when the guess is weaker than `min_probability`."""
    languages = tuple(sorted(set(COMMON_LANGUAGES) | {code for code in extra if code and code != "und"}))
    if len(text.strip()) < 3:
        return None
    code, probability = _short_text_identifier(languages).classify(text)
    return str(code) if probability >= min_probability else None


@lru_cache(maxsize=16)
def _short_text_identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    return identifier(list(languages), norm_probs=True)


QUESTION_LANGUAGES = ("en", "vi", "bg", "ru")
MIN_LETTERS = 8  # fewer letters than this ("ok", "lol") cannot be told apart

# Short Cyrillic questions are where the identifier errs most (it reads "Кога Шойгу посети Пхенян?" as
# Russian); their question words and a few letters (ы э ё only in Russian, ъ mostly in Bulgarian) tell
# the two apart.
_RUSSIAN = frozenset(["когда", "что", "где", "кто", "почему", "сколько", "какой", "какая", "какие", "зачем"])
_BULGARIAN = frozenset(["кога", "какво", "къде", "кой", "коя", "кое", "кои", "защо", "колко", "какъв", "каква"])


@lru_cache(maxsize=1)
def _question_identifier() -> LanguageIdentifier:
    return identifier(list(QUESTION_LANGUAGES))


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
