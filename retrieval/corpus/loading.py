"""Reading the corpus directory tree: which files are articles, and the text each one contributes.

`.txt` and `.md` files are indexed exactly as stored, so every quote is a slice of the file.
`.html` pages are reduced to their main text by trafilatura (menus, footers and scripts go);
quotes from them are slices of that extracted text.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.messages import first_line, shown_path

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES


class CorpusError(Exception):
    """The corpus directory cannot be used; the message says what to do."""


@dataclass(frozen=True)
class RawDocument:
    """A file's text with its stable id (path relative to the corpus directory)."""

    id: str
    path: Path
    text: str
    digest: str | None = None  # hash of the file's bytes, when read from disk

    @property
    def fingerprint(self) -> str:
        """A content hash: the same file always gives the same fingerprint."""
        return self.digest or digest_bytes(self.text.encode("utf-8"))


@dataclass(frozen=True)
class Skipped:
    """A file that was passed over, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class FileBytes:
    """The bytes read from a file: all of them, or its first `limit` when it is larger (`size` says how large)."""

    data: bytes
    size: int

    @property
    def cut(self) -> bool:
        """True when the file holds more than was read."""
        return self.size > len(self.data)


# How a file becomes chunks. Bump it (b"2", ...) when cleaning or chunking changes what an unchanged file
# yields: an index ingested under another revision then re-reads every article once (an upgrade re-chunks).
# Empty is the first revision, whose fingerprints are the plain hash of the bytes. 2: Markdown heading
# marks left out of titles and quotes. 3: a title is never a sentence cut off by the scrape.
PIPELINE_REVISION = b"3"


def digest_bytes(data: bytes) -> str:
    """The fingerprint of a file's bytes under this pipeline revision."""
    prefix = PIPELINE_REVISION + b"\0" if PIPELINE_REVISION else b""
    return hashlib.sha1(prefix + data).hexdigest()[:16]


def document_id(path: Path, corpus_dir: Path) -> str:
    """An article's id: its path below the corpus directory, with forward slashes."""
    return path.relative_to(corpus_dir).as_posix()


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The article files anywhere under `corpus_dir` (hidden ones skipped), in a stable order;
    raises CorpusError when there are none."""
    return walk_corpus(corpus_dir)[0]


def walk_corpus(corpus_dir: Path) -> tuple[list[Path], list[Skipped]]:
    """The regular article files under `corpus_dir` in a stable order, and the ones passed over: a name
    that is not UTF-8, or something that is not a regular file (a FIFO would block the reader forever).
    Raises CorpusError when there is no file to read."""
    if not corpus_dir.exists():
        raise CorpusError(
            f"corpus directory {corpus_dir} does not exist; pass --corpus DIR or set NEWSQA_CORPUS_DIR"
        )
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir} is not a directory; pass --corpus DIR with the article files")
    files: list[Path] = []
    skipped: list[Skipped] = []
    unreadable: list[OSError] = []
    for root, dirs, names in os.walk(corpus_dir, onerror=unreadable.append):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            path = Path(root, name)
            passed = _not_an_article_file(path, corpus_dir)
            if passed:
                skipped.append(passed)
            else:
                files.append(path)
    for error in unreadable:
        folder = Path(str(error.filename))
        if folder == corpus_dir:
            raise CorpusError(f"cannot read the corpus directory {folder} ({error.strerror}); check its permissions")
        skipped.append(Skipped(folder, f"cannot be read ({error.strerror}); nothing in it is indexed"))
    if not files:
        kinds = ", ".join(SUFFIXES)
        passed = ""
        if skipped:
            passed = f" ({len(skipped)} passed over, e.g. {shown_path(skipped[0].path)}: it {skipped[0].reason})"
        raise CorpusError(f"no {kinds} files in {corpus_dir}{passed}; put the articles there or pass --corpus DIR")
    return sorted(files, key=lambda p: document_id(p, corpus_dir)), skipped


def _not_an_article_file(path: Path, corpus_dir: Path) -> Skipped | None:
    """Why a file found by its name cannot be an article, or None when it can be read."""
    try:
        document_id(path, corpus_dir).encode("utf-8")
    except UnicodeEncodeError:
        # os.walk hands undecodable bytes back as surrogates, which no later stage can store.
        return Skipped(path, "has a name that is not UTF-8; rename it, e.g. convmv -f latin1 -t utf8 --notest")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # a broken or looping link: reading it says so
    return None if stat.S_ISREG(mode) else Skipped(path, _not_regular(mode))


def _not_regular(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a directory"))
    kind = next((name for test, name in kinds if test(mode)), "not a file")
    return f"is {kind}, not a regular file; only regular files are read"


def read_bytes(path: Path, limit: int | None = None) -> FileBytes | Skipped:
    """A file's bytes (its first `limit` when it is larger; the rest is never read), or Skipped when
    it cannot be read or is not a regular file."""
    try:
        # Non-blocking: opening a FIFO must not wait for a writer. It changes nothing for a regular file.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return Skipped(path, f"cannot be read ({exc.strerror or exc})")
    with os.fdopen(descriptor, "rb") as handle:
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):  # swapped in after the walk looked
                return Skipped(path, _not_regular(status.st_mode))
            data = handle.read() if limit is None else handle.read(limit)
        except OSError as exc:
            return Skipped(path, f"cannot be read ({exc.strerror or exc})")
    return FileBytes(_whole_characters(data) if len(data) < status.st_size else data, max(status.st_size, len(data)))


def _whole_characters(data: bytes) -> bytes:
    """A cut file's bytes without a UTF-8 character cut in two at the end."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return data  # not UTF-8 at all: decoding says so
    pending = len(decoder.getstate()[0])
    return data[: len(data) - pending]


def outside_corpus(path: Path, corpus_dir: Path) -> Skipped | None:
    """Skipped when `path` is a symlink (or lies under one) that leads out of the corpus directory:
    a file outside it must never be quoted to someone who can only see the corpus."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling or looping link
        return Skipped(path, "is a broken symlink")
    root = corpus_dir.resolve()
    if target == root or root in target.parents:
        return None
    return Skipped(
        path, f"is a symlink to {target}, outside the corpus; set NEWSQA_ALLOW_EXTERNAL_SYMLINKS=true to index it"
    )


def read_document(path: Path, corpus_dir: Path, allow_external: bool = False) -> RawDocument | Skipped:
    """Read and decode one article file."""
    outside = None if allow_external else outside_corpus(path, corpus_dir)
    if outside is not None:
        return outside
    read = read_bytes(path)
    return read if isinstance(read, Skipped) else decode_document(path, corpus_dir, read.data)


def decode_document(path: Path, corpus_dir: Path, data: bytes) -> RawDocument | Skipped:
    """Turn a file's bytes into its article text, refusing binary or undecodable files."""
    if b"\x00" in data[:8192]:
        return Skipped(path, "looks binary (contains NUL bytes)")
    if path.suffix.lower() in HTML_SUFFIXES:
        try:
            text = html_main_text(data)
        except Exception as exc:  # a parser bug or a missing dependency costs this file, not the run
            return Skipped(path, f"could not be parsed as HTML ({type(exc).__name__}: {first_line(exc)})")
        if text is None:
            return Skipped(path, "has no article text that could be extracted from the HTML")
    else:
        try:
            # Line ends stay as they are so that offsets match the file character for character.
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return Skipped(path, f"is not UTF-8 (byte {exc.start}); convert it with iconv")
    if not text.strip():
        return Skipped(path, "is empty")
    return RawDocument(id=document_id(path, corpus_dir), path=path, text=text, digest=digest_bytes(data))


def html_main_text(data: bytes) -> str | None:
    """The headline, publication date and main text of an HTML page (None when it has none)."""
    import trafilatura

    extracted = trafilatura.bare_extraction(
        data, with_metadata=True, include_comments=False, include_tables=False, include_images=False
    )
    if extracted is None or not (extracted.text or "").strip():
        return None
    body = extracted.text.strip()
    title = (extracted.title or "").strip()
    lines = []
    if extracted.date:
        # First line, where the cleaning rules read a date (and then drop the line from the body).
        lines.append(f"date {extracted.date[:10]}")
    if title and not body.startswith(title):
        lines.append(title)
    return "\n".join([*lines, body])


def iter_documents(corpus_dir: Path, allow_external: bool = False) -> Iterator[RawDocument | Skipped]:
    """Every article file of the corpus, one at a time, so large corpora stream."""
    for path in corpus_files(corpus_dir):
        yield read_document(path, corpus_dir, allow_external)
