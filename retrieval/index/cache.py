"""Data that costs more to build than to read, kept between processes in the user's cache directory.

A cold `newsqa ask` spent about half a second decompressing py3langid's model and another fifth
building the place-name gazetteer from Babel and pycountry; both are the same in every process.
Entries live under `$XDG_CACHE_HOME/newsqa` (default `~/.cache/newsqa`), named by everything they
are built from (library versions, the building module's source), so a new version never reads an old
entry. Nothing here is needed: an entry that cannot be written or read is built again in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/newsqa`, else `~/.cache/newsqa`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsqa"


def entry_name(kind: str, *parts: object) -> str:
    """A cache entry's directory name: `kind` and a digest of what the entry is built from."""
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]
    return f"{kind}-{digest}"


def source_digest(path: str | Path) -> str:
    """A digest of a source file, so that editing the code that builds an entry invalidates it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cached(name: str, build: Callable[[], T], save: Callable[[T, Path], None], load: Callable[[Path], T]) -> T:
    """The entry `name`, loaded from its directory when another process saved it, else built (and
    saved for the next process). Saving is atomic: a directory is written aside, then renamed."""
    folder = cache_root() / name
    if folder.is_dir():
        try:
            return load(folder)
        except Exception as exc:  # a damaged entry is only a slower start
            log.warning("ignoring the cache entry %s (%s: %s)", folder, type(exc).__name__, exc)
            return build()
    value = build()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
        try:
            save(value, scratch)
            os.rename(scratch, folder)  # fails when another process was first: its entry is as good
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except OSError as exc:
        log.debug("could not cache %s in %s: %s", name, folder.parent, exc)
    return value
