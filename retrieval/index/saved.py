"""Reading back what newsqa saved beside the index (bm25s files, centroids): a file that is there but
cannot be used as it is, whether unreadable, of the wrong shape or for other vectors, is DamagedIndex."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from retrieval.messages import first_line

M = TypeVar("M", bound=BaseModel)


class DamagedIndex(ValueError):
    """A saved derived index cannot be used; the message names the file and what is wrong with it."""


def damaged(path: Path, exc: BaseException | str) -> DamagedIndex:
    """DamagedIndex naming `path` and the first thing wrong (a schema error by its field)."""
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(map(str, error["loc"])) or "the top level"
        reason = f"{where}: {error['msg']}"
    elif isinstance(exc, BaseException):
        reason = f"{type(exc).__name__}: {first_line(exc)}"
    else:
        reason = exc
    return DamagedIndex(f"{path} ({reason})")


def read_model(path: Path, model: type[M]) -> M:
    """The JSON file at `path` validated as `model`, or DamagedIndex."""
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise damaged(path, exc) from exc
