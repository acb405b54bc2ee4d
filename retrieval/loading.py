"""Reading the corpus directory: which files are articles, and their text exactly as stored."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIXES = (".txt",)


class CorpusError(Exception):
    """The corpus directory cannot be used; the message says what to do."""


@dataclass(frozen=True)
class RawDocument:
    """A file's decoded text with its stable id (path relative to the corpus directory)."""

    id: str
    path: Path
    text: str

    @property
    def fingerprint(self) -> str:
        """A content hash: the same text always gives the same fingerprint."""
        return hashlib.sha1(self.text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Skipped:
    """A file that was passed over, and why."""

    path: Path
    reason: str


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The article files under `corpus_dir`, sorted; raises CorpusError when there are none."""
    if not corpus_dir.exists():
        raise CorpusError(f"corpus directory {corpus_dir} does not exist; pass --corpus DIR or set NEWSQA_CORPUS_DIR")
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir} is not a directory; pass --corpus DIR with the article files")
    files = sorted(p for p in corpus_dir.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        kinds = ", ".join(SUFFIXES)
        raise CorpusError(f"no {kinds} files in {corpus_dir}; put the articles there or pass --corpus DIR")
    return files


def read_document(path: Path, corpus_dir: Path) -> RawDocument | Skipped:
    """Decode one file as UTF-8, refusing binary files rather than indexing garbage."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(path, f"cannot be read ({exc.strerror or exc})")
    if b"\x00" in data[:8192]:
        return Skipped(path, "looks binary (contains NUL bytes)")
    try:
        # newline="" semantics: keep \r\n as is so offsets match the file byte-for-character.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(path, f"is not UTF-8 (byte {exc.start}); convert it with iconv")
    if not text.strip():
        return Skipped(path, "is empty")
    return RawDocument(id=path.relative_to(corpus_dir).as_posix(), path=path, text=text)


def iter_documents(corpus_dir: Path) -> Iterator[RawDocument | Skipped]:
    """Every article file of the corpus, one at a time, so large corpora stream."""
    for path in corpus_files(corpus_dir):
        yield read_document(path, corpus_dir)
