"""The stage rooms' public names, resolved on first use: importing a room must not import its heavy
modules (`retrieval.index` holds Chroma), so `from retrieval.index import ChunkStore` loads `store` only."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `names[name]` (a submodule) when `name` is asked for;
    a name that is itself a submodule is returned as the module."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(f"{package}.{module}")
        return loaded if module == name else getattr(loaded, name)

    return __getattr__
