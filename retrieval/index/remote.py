"""Failures of the vector store as one line a user can act on: a Chroma server that cannot be reached or
refuses the credentials, an index file that is damaged or not Chroma's."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from retrieval.messages import first_line, safe_url
from retrieval.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


class StoreError(Exception):
    """The index cannot be opened or written; the message says what to do."""


class IndexMissingError(StoreError):
    """There is no index yet."""


def server_address(settings: Settings) -> str:
    """The Chroma server as a URL (no credentials), for messages."""
    scheme = "https" if settings.chroma_ssl else "http"
    return safe_url(f"{scheme}://{settings.chroma_host}:{settings.chroma_port}")


def _is_connection_error(exc: BaseException) -> bool:
    import httpx

    # chromadb turns a refused first connection into a bare ValueError with this text.
    return isinstance(exc, httpx.TransportError) or (
        isinstance(exc, ValueError) and "could not connect to a chroma server" in str(exc).lower()
    )


def server_error(exc: BaseException, address: str, doing: str) -> StoreError | None:
    """One actionable line for a failure to talk to a Chroma server, or None when it is not one."""
    from chromadb.errors import AuthorizationError, ChromaAuthError

    if _is_connection_error(exc):
        return StoreError(
            f"cannot reach the Chroma server at {address} while {doing} ({exc.__class__.__name__}); "
            "start it (chroma run --host HOST --port PORT) or unset CHROMA_HOST"
        )
    if isinstance(exc, (AuthorizationError, ChromaAuthError)):
        return StoreError(
            f"the Chroma server at {address} refused the credentials while {doing}; "
            "check CHROMA_AUTH_TOKEN and CHROMA_AUTH_TOKEN_TRANSPORT_HEADER"
        )
    return None


# What SQLite says (through Chroma) about a file that is cut short, overwritten or another program's.
_DAMAGE_SIGNS = ("malformed", "not a database", "disk image", "file is encrypted", "no such table", "no such column")


def looks_damaged(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) or any(sign in str(exc).lower() for sign in _DAMAGE_SIGNS)


def damaged_error(database: Path, exc: BaseException | str) -> StoreError:
    """One line naming a damaged or foreign index file, and the fix."""
    reason = exc if isinstance(exc, str) else first_line(exc)
    return StoreError(
        f"the index file {database} is damaged or not a newsqa index ({reason}); "
        "rebuild it with `newsqa ingest --reset` (this removes only what newsqa created in the index directory)"
    )


def check_database(database: Path) -> None:
    """Refuse a `chroma.sqlite3` that SQLite cannot read or that has no Chroma tables, before Chroma
    opens it (Chroma would run its migrations in a foreign database, or fail with a traceback)."""
    if not database.exists():
        return
    try:
        # Read-only: looking must not change the file, and must work on a read-only index.
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return  # cannot be opened to look (e.g. locked): let Chroma say what it finds
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc).lower() or "unable to open" in str(exc).lower():
            return
        raise damaged_error(database, exc) from exc
    except sqlite3.DatabaseError as exc:
        raise damaged_error(database, exc) from exc
    finally:
        connection.close()
    if not {"collections", "embeddings", "segments"} <= tables:
        raise damaged_error(database, "it has no Chroma tables")


def remote(doing: str) -> Callable[[F], F]:
    """Report a lost or refusing Chroma server, or a damaged index file, as one StoreError line (the
    decorated method's object has `address`, the server's URL or None, and `database`, the index file)."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except StoreError:
                raise
            except Exception as exc:
                if self.address:
                    error = server_error(exc, self.address, doing)
                elif looks_damaged(exc):
                    error = damaged_error(self.database, exc)
                else:
                    error = None
                if error is None:
                    raise
                raise error from exc

        return wrapper  # type: ignore[return-value]

    return decorate
