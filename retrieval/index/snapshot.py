"""Readers answer from a private snapshot of an embedded index; the index itself is only read.

Embedded Chroma (1.x, Rust) writes whenever it is used: every open inserts a row into its
`acquire_write` table, and every read first replays the collection's log inside a write transaction
and rewrites the HNSW segment files. There is no read-only client (chroma-core/chroma#1438). A
read-only SQLite URI (`mode=ro`, `immutable=1`) is honoured by Chroma's SQLite, but then that first
insert fails ("attempt to write a readonly database"). So a reader copies `chroma/` into a scratch
directory of its own and lets Chroma write there: the database through SQLite's online backup (a
consistent snapshot, even while an ingest writes), the segment files byte for byte. That works for
another user's index, a read-only mount and an index on a full disk alike, and no byte of the index
changes. The cost is a copy of the index per process (the bot makes it once); a process reuses its
snapshot while the index is unchanged. Snapshots are removed on exit, and a killed process's are
removed by the next reader.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "newsqa-reader-"
# Room a snapshot needs beyond the index's own size (SQLite's journal, Chroma's rewrites).
HEADROOM = 1.2


class SnapshotError(OSError):
    """No scratch directory has room for a snapshot; the message names where it looked."""


def snapshot(chroma_dir: Path, database_name: str) -> Path:
    """A private copy of `chroma_dir` for this process, made now or reused while the index is unchanged."""
    source = chroma_dir.resolve()
    signature = _signature(source)
    made = _made.get(source)
    if made is not None and made[0] == signature:
        return made[1]
    if not _made:
        _sweep()
    size = sum(entry[1] for entry in signature)
    tried = []
    for scratch in scratch_dirs():
        if shutil.disk_usage(scratch).free < size * HEADROOM:
            tried.append(f"{scratch} (full)")
            continue
        folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=scratch))
        atexit.register(shutil.rmtree, folder, True)
        copy = folder / "chroma"
        try:
            _copy(source, copy, database_name)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise
            tried.append(f"{scratch} ({exc.strerror})")
            continue
        _made[source] = (signature, copy)
        log.debug("reading the index at %s from a private snapshot in %s", source, copy)
        return copy
    raise SnapshotError(
        errno.ENOSPC,
        f"no space left for a private snapshot of the index ({size / 1e6:.1f} MB) in {', '.join(tried)}; "
        "free some space there or set TMPDIR to a directory with room",
    )


def current(chroma_dir: Path) -> Path | None:
    """The snapshot this process reads `chroma_dir` from now (None when it made none)."""
    made = _made.get(chroma_dir.resolve())
    return made[1] if made else None


def discard(copy: Path) -> None:
    """Remove a snapshot no reader uses any more (a long-running bot makes one per refresh that changed the
    index; each would stay until it exits)."""
    for source, (_, path) in list(_made.items()):
        if path == copy:
            del _made[source]
    shutil.rmtree(copy.parent, ignore_errors=True)


def scratch_dirs() -> list[Path]:
    """Where snapshots go, memory-backed first: the user's runtime directory, /dev/shm, then the temp dir."""
    candidates = [os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm", tempfile.gettempdir()]
    found: list[Path] = []
    for candidate in candidates:
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            path = Path(candidate).resolve()
            if path not in found:
                found.append(path)
    return found


# Snapshots this process made: index directory → (its files' signature then, the copy).
_made: dict[Path, tuple[tuple[tuple[str, int, int], ...], Path]] = {}


def _signature(source: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime) of every file of the index: changes whenever an ingest writes."""
    entries = []
    for root, _, names in os.walk(source):
        for name in names:
            stat = os.stat(os.path.join(root, name))
            entries.append((os.path.relpath(os.path.join(root, name), source), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


def _copy(source: Path, target: Path, database_name: str) -> None:
    """Copy the index: its database by SQLite's backup (consistent), every other file as it is."""
    for root, _, names in os.walk(source):
        here = target / Path(root).relative_to(source)
        here.mkdir(parents=True, exist_ok=True)
        for name in names:
            if Path(root) == source and name.startswith(database_name):
                continue  # the database (and any journal) goes through SQLite below
            # Contents only: a copy of a read-only file must stay writable, for Chroma and for removal.
            shutil.copyfile(os.path.join(root, name), here / name)
    with (source / database_name).open("rb"):
        pass  # an unreadable database is a PermissionError naming it, not SQLite's "unable to open"
    reader = sqlite3.connect(f"{(source / database_name).as_uri()}?mode=ro", uri=True)
    writer = sqlite3.connect(target / database_name)
    try:
        reader.backup(writer)
    except sqlite3.OperationalError as exc:
        if "full" in str(exc).lower():  # SQLite's words for ENOSPC
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from exc
        raise
    finally:
        writer.close()
        reader.close()


def _sweep() -> None:
    """Remove the snapshots of this user's processes that are gone (killed before their exit handler)."""
    for scratch in scratch_dirs():
        for folder in scratch.glob(f"{PREFIX}*"):
            try:
                pid = int(folder.name.removeprefix(PREFIX).split("-", 1)[0])
                if folder.stat().st_uid != os.getuid() or _alive(pid):
                    continue
            except (ValueError, OSError):
                continue
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
