"""Where a cold `newsqa ask` spends its CPU: one fresh process walks the command's own path stage by stage.

    python -m benchmarks.coldstart --index-dir DIR     # prints CPU and wall seconds per stage as JSON

The stages are those of `newsqa ask --json`, in its order: the interpreter's start, the command line
(typer), the settings (pydantic-settings), chromadb (imported by the store), the rest of newsqa's
modules, opening the index (Chroma's client, the derived indexes, the embedder), the first answer
(the question's vector, search, ranking, language) and a second one, for what is left once warm.
"""

from __future__ import annotations

import time

STARTED_CPU = time.process_time()  # the interpreter's start-up and site imports, before this module ran

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

QUESTIONS = ("When did Shoigu visit Pyongyang?", "Кога Шойгу посети Пхенян?")


def stages(index_dir: Path) -> dict[str, dict[str, float]]:
    """CPU and wall seconds of each stage of a cold answer, in this (fresh) process."""
    marks: list[tuple[str, float, float]] = [("python start-up", STARTED_CPU, 0.0)]
    cpu, wall = time.process_time(), time.perf_counter()

    def mark(name: str) -> None:
        nonlocal cpu, wall
        now_cpu, now_wall = time.process_time(), time.perf_counter()
        marks.append((name, now_cpu - cpu, now_wall - wall))
        cpu, wall = now_cpu, now_wall

    import bot.cli  # noqa: F401 - typer and the command definitions

    mark("command line (typer, bot.cli)")
    from retrieval.settings import get_settings

    settings = get_settings().model_copy(update={"index_dir": index_dir, "llm": "none"})
    mark("settings (pydantic-settings)")
    import chromadb  # noqa: F401

    mark("import chromadb")
    from retrieval.engine import Engine

    mark("newsqa's modules")
    engine = Engine(settings)
    mark("open the index (Chroma client, derived indexes, embedder)")
    answer = engine.ask(QUESTIONS[0], mode="extractive")
    answer.model_dump_json()
    mark("first answer")
    engine.ask(QUESTIONS[1], mode="extractive")
    mark("a second answer (warm)")
    return {name: {"cpu_s": round(c, 3), "wall_s": round(w, 3)} for name, c, w in marks}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coldstart", description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    print(json.dumps(stages(parser.parse_args().index_dir)))


if __name__ == "__main__":
    main()
