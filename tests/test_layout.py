"""The package layout is the pipeline: `retrieval/` in stage rooms, each importing only from the rooms below
it, through their public names; front ends (`bot/`) above everything."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Bottom to top: the ground every room stands on, then the stages, then the facade, then the front ends.
ORDER = ["ground", "index", "question", "answer", "corpus", "generate", "engine", "bot"]
ROOMS = ["index", "question", "answer", "corpus", "generate"]


def room_of(module: str) -> str | None:
    """The room a dotted module name lives in (None for modules outside the project)."""
    parts = module.split(".")
    if parts[0] == "bot":
        return "bot"
    if parts[0] != "retrieval":
        return None
    if len(parts) > 1 and parts[1] in ROOMS:
        return parts[1]
    return "engine" if parts[1:2] == ["engine"] else "ground"


def modules() -> list[tuple[str, Path]]:
    """Every module of the product, by dotted name."""
    found = []
    for folder in ("retrieval", "bot"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found.append((name, path))
    return found


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for every import in a file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
    return found


def crossings() -> list[tuple[str, str, str, list[str], int]]:
    """(importer, its room, imported module, names, line) for imports that leave the importer's room."""
    found = []
    for name, path in modules():
        here = room_of(name)
        for module, names, line in imports(path):
            there = room_of(module)
            if there is not None and there != here:
                found.append((name, here, module, names, line))
    return found


def test_no_room_imports_from_a_room_above_it():
    upward = [
        f"{name}:{line} imports {module}"
        for name, here, module, _, line in crossings()
        if ORDER.index(room_of(module)) > ORDER.index(here)
    ]
    assert upward == []


def test_other_rooms_are_entered_through_their_public_names():
    private = []
    for name, _, module, names, line in crossings():
        room = room_of(module)
        if room not in ROOMS:
            continue
        exported = importlib.import_module(f"retrieval.{room}").__all__
        if module != f"retrieval.{room}" or not set(names) <= set(exported):
            private.append(f"{name}:{line} imports {names or module} from {module}")
    assert private == []


def test_a_room_exports_only_what_the_rooms_above_use():
    used: dict[str, set[str]] = {room: set() for room in ROOMS}
    for _, _, module, names, _ in crossings():
        if room_of(module) in ROOMS:
            used[room_of(module)].update(names)
    unused = {room: sorted(set(importlib.import_module(f"retrieval.{room}").__all__) - used[room]) for room in ROOMS}
    assert unused == {room: [] for room in ROOMS}


@pytest.mark.parametrize("room", ROOMS)
def test_every_public_name_resolves(room):
    package = importlib.import_module(f"retrieval.{room}")
    for name in package.__all__:
        assert getattr(package, name) is not None, name


@pytest.mark.parametrize("room", ROOMS)
def test_entering_a_room_loads_none_of_its_modules(room):
    # Names resolve on first use: `from retrieval.index import cached` must not start Chroma.
    code = (
        f"import sys, retrieval.{room}; "
        f"print(sorted(m for m in sys.modules if m.startswith('retrieval.{room}.') or m == 'chromadb'))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]"


def test_every_room_says_what_it_takes_and_gives():
    for room in ROOMS:
        doc = importlib.import_module(f"retrieval.{room}").__doc__ or ""
        assert "takes" in doc and "gives" in doc, room


@pytest.mark.parametrize("room", ROOMS)
def test_no_public_name_is_hidden_by_a_module_of_the_same_name(room):
    # Once `retrieval.corpus.ingest` were imported, the package attribute `ingest` would be that module,
    # not the function the room exports: a name is a module's name only when it is that module.
    package = importlib.import_module(f"retrieval.{room}")
    modules = {path.stem for path in (ROOT / "retrieval" / room).glob("*.py")}
    hidden = [name for name in package.__all__ if name in modules and package._NAMES[name] != name]
    assert hidden == []
