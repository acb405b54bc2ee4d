"""One ingest at a time per index: a `filelock` lock file in the index directory.

The lock is an OS-level `flock`, so the kernel drops it when its holder dies, even by SIGKILL: a
killed ingest never leaves the index locked. Readers only probe it (with a read-only descriptor,
so a read-only index can still be probed) to explain an index that is being rebuilt.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = "ingest.lock"


class IngestLockError(Exception):
    """The index's ingest lock cannot be taken; the message says why and what to do."""


class IngestBusyError(IngestLockError):
    """Another ingest holds the index; the message names its process."""


@dataclass(frozen=True)
class Holder:
    """The ingest holding an index's lock: its process, and whether it is rebuilding from scratch."""

    pid: str
    rebuilding: bool

    def __str__(self) -> str:
        return f"pid {self.pid}" if self.pid.isdigit() else "another process"


def lock_path(index_dir: Path) -> Path:
    """The lock file of the index in `index_dir`."""
    return index_dir / LOCK_NAME


@contextmanager
def ingest_lock(index_dir: Path, rebuilding: bool = False) -> Iterator[None]:
    """Hold the index's ingest lock for the block, or raise IngestBusyError at once. `rebuilding` tells
    readers that the index is being rebuilt from scratch (so what they would find is partial)."""
    from filelock import FileLock, Timeout

    path = lock_path(index_dir)
    lock = FileLock(str(path), timeout=0)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise IngestBusyError(
            f"another `newsqa ingest` ({_holder(path)}) is writing the index at {index_dir}; "
            "wait for it to finish, or stop it and run this again"
        ) from None
    except OSError as exc:
        raise IngestLockError(
            f"cannot create the lock file {path} ({exc.strerror or exc}); pass --index-dir to a writable directory"
        ) from exc
    try:
        # The holder's pid, for the messages of those who find the lock taken (the lock is the flock,
        # not this content, so a stale pid after a crash misleads no one: it is only read while held).
        path.write_text(f"{os.getpid()} {'rebuilding' if rebuilding else 'updating'}\n", "utf-8")
        yield
    finally:
        lock.release()


def ingest_running(index_dir: Path) -> Holder | None:
    """The ingest holding the index, or None when none is running."""
    path = lock_path(index_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # no lock file: no ingest has run here
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(path)
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _holder(path: Path) -> Holder:
    try:
        words = path.read_text("utf-8").split()
    except OSError:
        words = []
    return Holder(pid=words[0] if words else "", rebuilding="rebuilding" in words)
