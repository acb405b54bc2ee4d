"""Finding article files in a corpus tree and reading each one's text (no index involved)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrieval.corpus.loading import CorpusError, RawDocument, Skipped, corpus_files, read_document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED = sorted(SEEDS.glob("*.txt"))[0]

PAGE = """<html><head><title>Putin meets Kim | World news</title>
<meta property="article:published_time" content="2025-09-03"></head>
<body><nav><a href="/">Home</a> | <a href="/world">World</a> | <a href="/sport">Sport</a></nav>
<article><h1>Putin and Kim meet at the Diaoyutai guesthouse</h1>
<p>Russian President Vladimir Putin and North Korean leader Kim Jong Un met on Wednesday after
attending a Chinese military parade marking the end of World War II.</p>
<p>The two leaders travelled together to the bilateral talks in the same car, the Kremlin said.</p>
</article><footer>Subscribe to our newsletter. Copyright 2025 Example News.</footer>
<script>var tracking = "do not index";</script></body></html>"""


def test_corpus_files_walks_subdirectories_for_txt_md_and_html(tmp_path: Path) -> None:
    (tmp_path / "2025" / "09").mkdir(parents=True)
    shutil.copy(SEED, tmp_path / "2025" / "09" / "a.txt")
    (tmp_path / "b.md").write_text("# Heading\n\nSome text.\n", "utf-8")
    (tmp_path / "2025" / "c.html").write_text(PAGE, "utf-8")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")

    found = [p.relative_to(tmp_path).as_posix() for p in corpus_files(tmp_path)]

    assert found == ["2025/09/a.txt", "2025/c.html", "b.md"]


def test_corpus_files_skips_hidden_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    shutil.copy(SEED, tmp_path / ".git" / "inside.txt")
    shutil.copy(SEED, tmp_path / ".draft.txt")
    shutil.copy(SEED, tmp_path / "kept.txt")

    assert [p.name for p in corpus_files(tmp_path)] == ["kept.txt"]


def test_missing_corpus_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"does not exist; pass --corpus"):
        corpus_files(tmp_path / "nowhere")


def test_directory_without_article_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(CorpusError, match=r"no \.txt, .* files in"):
        corpus_files(tmp_path)


def test_text_file_is_read_exactly_with_its_relative_path_as_id(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / SEED.name
    shutil.copy(SEED, target)

    document = read_document(target, tmp_path)

    assert isinstance(document, RawDocument)
    assert document.id == f"sub/{SEED.name}"
    assert document.text == SEED.read_text("utf-8")


def test_windows_line_ends_are_kept_so_offsets_match_the_file(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"First line of the article.\r\nSecond line of it.\r\n")

    document = read_document(path, tmp_path)

    assert isinstance(document, RawDocument)
    assert document.text == "First line of the article.\r\nSecond line of it.\r\n"


def test_fingerprint_follows_the_content(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    shutil.copy(SEED, path)
    before = read_document(path, tmp_path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\nMột câu mới.")
    after = read_document(path, tmp_path)

    assert isinstance(before, RawDocument) and isinstance(after, RawDocument)
    assert before.fingerprint == read_document(SEED, SEEDS).fingerprint
    assert before.fingerprint != after.fingerprint


def test_binary_file_is_skipped_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "scan.txt"
    path.write_bytes(b"\x00\x01\x02binary" * 50)

    result = read_document(path, tmp_path)

    assert isinstance(result, Skipped)
    assert result.path == path and "binary" in result.reason


def test_non_utf8_file_is_skipped_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "cp1251.txt"
    path.write_bytes("Министърът посети Пхенян.".encode("cp1251"))

    result = read_document(path, tmp_path)

    assert isinstance(result, Skipped)
    assert "not UTF-8" in result.reason and "iconv" in result.reason


def test_markdown_is_read_as_stored(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("# Putin meets Kim\n\nThe two leaders met on *Wednesday* in Beijing.\n", "utf-8")

    document = read_document(path, tmp_path)

    assert isinstance(document, RawDocument)
    assert document.text == path.read_text("utf-8")


def test_html_keeps_headline_date_and_paragraphs_but_not_navigation_or_scripts(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(PAGE, "utf-8")

    document = read_document(path, tmp_path)

    assert isinstance(document, RawDocument)
    assert document.text.splitlines()[0] == "date 2025-09-03"
    assert "Putin and Kim meet at the Diaoyutai guesthouse" in document.text
    assert "travelled together to the bilateral talks in the same car" in document.text
    for debris in ("Home", "Sport", "newsletter", "tracking"):
        assert debris not in document.text


def test_html_without_article_text_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><head><title>Loading…</title></head><body><script>app()</script></body></html>", "utf-8")

    result = read_document(path, tmp_path)

    assert isinstance(result, Skipped)
    assert "no article text" in result.reason
