"""The user cache of data that costs more to build than to read (retrieval/index/cache.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.index import cache
from retrieval.question import language


def save_json(value: object, folder: Path) -> None:
    (folder / "value.json").write_text(json.dumps(value))


def load_json(folder: Path) -> object:
    return json.loads((folder / "value.json").read_text())


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "newsqa"


def test_a_second_process_reads_what_the_first_built(cache_home: Path) -> None:
    builds: list[int] = []

    def build() -> dict[str, int]:
        builds.append(1)
        return {"answer": 42}

    first = cache.cached("entry", build, save_json, load_json)
    second = cache.cached("entry", build, save_json, load_json)
    assert first == second == {"answer": 42}
    assert len(builds) == 1
    assert (cache_home / "entry" / "value.json").exists()


def test_a_damaged_entry_is_built_again(cache_home: Path) -> None:
    (cache_home / "entry").mkdir(parents=True)
    (cache_home / "entry" / "value.json").write_text("{not json")
    assert cache.cached("entry", lambda: [1, 2], save_json, load_json) == [1, 2]


def test_an_unwritable_cache_still_gives_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert cache.cached("entry", lambda: "built", save_json, load_json) == "built"


def test_entry_names_change_with_what_they_are_built_from() -> None:
    assert cache.entry_name("model", "1.0", 10) == cache.entry_name("model", "1.0", 10)
    assert cache.entry_name("model", "1.0", 10) != cache.entry_name("model", "1.1", 10)


def test_the_cached_language_model_classifies_as_py3langid_does(cache_home: Path) -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    reference.set_languages(["en", "vi", "bg", "ru"])
    language._model.cache_clear()
    try:
        built = language.identifier(["en", "vi", "bg", "ru"], norm_probs=True)  # decompressed and saved
        language._model.cache_clear()
        mapped = language.identifier(["en", "vi", "bg", "ru"], norm_probs=True)  # read back from the cache
    finally:
        language._model.cache_clear()
    assert any(cache_home.glob("py3langid-*/nextmove.npy"))
    for text in ("When did Shoigu visit Pyongyang?", "Кога Шойгу посети Пхенян?", "Ông Shoigu thăm Bình Nhưỡng"):
        expected = reference.classify(text)
        for identifier in (built, mapped):
            code, probability = identifier.classify(text)
            assert code == expected[0]
            assert probability == pytest.approx(expected[1])
