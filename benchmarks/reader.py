"""What a reader meets, before and after, in one run: the conversation benchmark (both parts) through the real
`newsqa bot`, and `newsqa eval` on the seed fixture and XQuAD dev (en, ru), for this checkout and a baseline
checkout side by side. Each checkout ingests its own indexes (their pipelines may differ).

    git worktree add /tmp/base <landed commit>
    python -m benchmarks.reader --baseline /tmp/base --work /tmp/reader --out benchmarks/READER.md

Writes the Markdown report (figures, then every held-out exchange as the reader saw it) and READER.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from benchmarks.conversations import FILES, load, report, run, scorecard

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EVAL_METRICS = (
    ("source hit@1", "source_hit_at_1"),
    ("answer in first quote", "answer_in_first_quote"),
    ("answer in any quote", "answer_in_any_quote"),
    ("correct abstention", "correct_abstention"),
    ("false abstention", "false_abstention"),
)


def xquad_dir() -> Path:
    """The shared XQuAD folder: NEWSQA_XQUAD, else beside the checkout."""
    given = os.environ.get("NEWSQA_XQUAD")
    for candidate in ([Path(given)] if given else []) + [ROOT.parent / "shared" / "xquad"]:
        if candidate.exists():
            return candidate
    raise SystemExit("XQuAD not found: set NEWSQA_XQUAD or put ../shared/xquad beside the checkout")


def newsqa(checkout: Path, *args: str) -> None:
    """`newsqa ARGS` run from `checkout`'s code, no settings of the caller's, failing loudly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "CHROMA_", "OPENAI_"))}
    env.update(PYTHONPATH=str(checkout), NEWSQA_LLM="none")
    done = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=checkout, env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"newsqa {' '.join(args)} failed in {checkout}:\n{done.stderr[-3000:]}")


def evaluate(checkout: Path, work: Path, label: str) -> dict[str, dict[str, Any]]:
    """Ingest the seeds and XQuAD with this checkout's code, then its `newsqa eval` scorecards."""
    xquad = xquad_dir()
    seeds, xq = work / label / "seeds", work / label / "xquad"
    newsqa(checkout, "ingest", "--corpus", str(ROOT / "seeds"), "--index-dir", str(seeds))
    newsqa(checkout, "ingest", "--corpus", str(xquad / "corpus"), "--index-dir", str(xq))
    runs = {
        "fixture": (seeds, ROOT / "tests" / "fixtures" / "questions.yaml"),
        "XQuAD dev en": (xq, xquad / "questions.dev.en.yaml"),
        "XQuAD dev ru": (xq, xquad / "questions.dev.ru.yaml"),
    }
    cards = {}
    for name, (index, questions) in runs.items():
        out = work / label / f"eval-{name.replace(' ', '_')}.json"
        newsqa(checkout, "eval", "--questions", str(questions), "--index-dir", str(index), "--json", str(out))
        cards[name] = json.loads(out.read_text("utf-8"))["scorecard"]
    return cards


def _figure(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def write(out: Path, figures: dict[str, Any], held_out: list[Any], started: float) -> None:
    """The report: conversation scorecards (both parts, both checkouts), eval scorecards, held-out exchanges."""
    labels = ("baseline", "this checkout")
    lines = [
        "# What a reader meets: before and after",
        "",
        f"One run of `python -m benchmarks.reader` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores, "
        f"{time.time() - started:.0f} s): the baseline is `{figures['baseline commit']}`, this checkout "
        f"`{figures['this commit']}`. No model. Each checkout ingested its own indexes.",
        "",
        "## Conversation benchmark (through `newsqa bot` on the fake Bot API)",
        "",
        "| figure | tuning: baseline | tuning: now | held-out: baseline | held-out: now |",
        "|---|---|---|---|---|",
    ]
    cards = figures["conversations"]
    for name in cards["baseline"]["tuning"]:
        row = [cards[label][part][name] for part in ("tuning", "held-out") for label in labels]
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "## `newsqa eval`", "", "| set | figure | baseline | now |", "|---|---|---|---|"]
    for name in figures["eval"]["baseline"]:
        for label, key in EVAL_METRICS:
            values = [figures["eval"][who][name].get(key) for who in labels]
            if any(v is not None for v in values):
                lines.append(f"| {name} | {label} | " + " | ".join(_figure(v) for v in values) + " |")
    lines += ["", "## The held-out conversations as the reader saw them (this checkout)", ""]
    lines.append(report(held_out, ["held-out"]).split("## held-out", 1)[1].strip())
    out.write_text("\n".join(lines) + "\n", "utf-8")


def commit(checkout: Path) -> str:
    return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def main(
    baseline: Annotated[Path, typer.Option("--baseline", help="A checkout of the landed code to compare with.")],
    work: Annotated[Path, typer.Option("--work", help="A scratch folder for the indexes.")] = Path("/tmp/reader"),
    out: Annotated[Path, typer.Option("--out", help="The Markdown report.")] = HERE / "READER.md",
) -> None:
    """Measure the reader's figures of this checkout and a baseline checkout in one run."""
    started = time.time()
    checkouts = {"baseline": baseline.resolve(), "this checkout": ROOT}
    figures: dict[str, Any] = {"baseline commit": commit(baseline), "this commit": commit(ROOT), "eval": {},
                               "conversations": {}}
    conversations = load(list(FILES))
    held_out: list[Any] = []
    for label, checkout in checkouts.items():
        figures["eval"][label] = evaluate(checkout, work, label)
        turns = asyncio.run(run(work / label / "seeds", conversations, None if label != "baseline" else checkout))
        figures["conversations"][label] = {part: scorecard([t for t in turns if t.part == part]) for part in FILES}
        if label == "this checkout":
            held_out = [t for t in turns if t.part == "held-out"]
        print(f"{label}: measured ({time.time() - started:.0f} s)", flush=True)
    write(out, figures, held_out, started)
    out.with_suffix(".json").write_text(json.dumps(figures, indent=1, ensure_ascii=False), "utf-8")
    print(out.read_text("utf-8").split("## The held-out")[0])


if __name__ == "__main__":
    typer.run(main)
