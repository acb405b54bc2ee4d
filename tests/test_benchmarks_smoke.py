"""The benchmark suite runs end to end at 1k chunks (embedded and server Chroma). Not a timing test:
it checks that every figure RESULTS.md promises is measured and written, never how fast."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODES = ("dense", "lexical", "hybrid", "ask")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """One smoke run of `python -m benchmarks.run`: its RESULTS.md text and raw figures."""
    out = tmp_path_factory.mktemp("bench") / "RESULTS.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "CHROMA_"))}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out.read_text("utf-8"), json.loads(out.with_suffix(".json").read_text("utf-8"))


def test_report_states_the_machine(smoke: tuple[str, dict[str, Any]]) -> None:
    text, figures = smoke
    assert figures["machine"]["cores"] == os.cpu_count()
    assert f"**{os.cpu_count()} cores, {figures['machine']['memory_gb']} GB RAM**" in text
    assert figures["machine"]["memory_gb"] > 0


def test_report_has_every_section_with_a_verdict_for_each_target(smoke: tuple[str, dict[str, Any]]) -> None:
    text, _ = smoke
    for heading in (
        "## 1. Ingestion throughput", "## 2. Re-ingesting the unchanged seeds", "## 3. Query latency on the seeds",
        "## 4. Scale: synthetic corpora", "## 5. Answer quality at scale", "## Closing note",
    ):
        assert heading in text
    assert len(re.findall(r"\*\*(met|missed)\*\*", text)) >= 4


def test_throughput_compares_the_pipeline_with_the_bare_embedder(smoke: tuple[str, dict[str, Any]]) -> None:
    _, figures = smoke
    t = figures["throughput"]
    assert t["embedded"] == t["chunks"] > 0
    assert all(rate > 0 for rate in t["bare_per_s"]) and t["pipeline_per_s"] > 0
    assert t["ratio"] == pytest.approx(t["pipeline_per_s"] / (sum(t["bare_per_s"]) / 2), rel=0.01)


def test_throughput_counts_the_sentences_ingest_embeds_for_search(smoke: tuple[str, dict[str, Any]]) -> None:
    _, figures = smoke
    t = figures["throughput"]
    assert t["sentences"] >= t["chunks"] and t["sentence_cost"] > 1 and t["bare_chunks_only_per_s"] > 0


def test_cold_cli_is_timed_against_a_bare_chromadb_import_and_help(smoke: tuple[str, dict[str, Any]]) -> None:
    text, figures = smoke
    cli = figures["seeds_latency"]["cli"]
    for name in ("import_chromadb", "help"):
        assert 0 < cli[name]["p50_ms"] <= cli[name]["p95_ms"] and cli[name]["cpu_p50_ms"] > 0
    assert cli["ratio_to_import_chromadb"] == pytest.approx(cli["p50_ms"] / cli["import_chromadb"]["p50_ms"], rel=0.01)
    assert "a bare `import chromadb`" in text


def test_a_just_started_bot_answers_a_burst_of_new_users(smoke: tuple[str, dict[str, Any]]) -> None:
    text, figures = smoke
    bot = figures["bot_burst"]
    assert bot["users"] == bot["distinct_questions"] > 1
    assert 0 < bot["p50_ms"] <= bot["p95_ms"] and bot["burst_cpu_s"] > 0
    assert "### 3b. A just-started bot" in text


def test_the_sentence_store_is_measured_with_every_chunk_in_it(smoke: tuple[str, dict[str, Any]]) -> None:
    text, figures = smoke
    store = figures["scale"]["sizes"]["1000"]["embedded"]["ingest"]["sentence_store"]
    assert store["records"] == 1000 and store["sentences"] >= 1000 and store["stored_mb"] > 0
    assert "### The sentence store" in text


def test_unchanged_reingest_makes_no_embedding_call(smoke: tuple[str, dict[str, Any]]) -> None:
    _, figures = smoke
    assert figures["reingest"]["embedding_calls"] == 0
    assert figures["reingest"]["cli_chunks_embedded"] == 0


def test_every_mode_is_measured_on_both_backends_at_1k_chunks(smoke: tuple[str, dict[str, Any]]) -> None:
    _, figures = smoke
    assert set(MODES) | {"cli"} <= set(figures["seeds_latency"])
    entry = figures["scale"]["sizes"]["1000"]
    assert entry["chunks"] == 1000
    for backend in ("embedded", "server"):
        assert entry[backend]["ingest"]["chunks"] == 1000
        assert entry[backend]["ingest"]["real_embedding_calls"] == 0
        for mode in MODES:
            measured = entry[backend][mode]
            assert measured["chunks"] == 1000 and measured["queries"] > 0
            assert 0 < measured["p50_ms"] <= measured["p95_ms"]
            assert measured["peak_rss_mb"] > 0
    assert entry["server"]["server_peak_rss_mb"] > 0


def test_quality_is_measured_with_the_seeds_buried_among_distractors(smoke: tuple[str, dict[str, Any]]) -> None:
    _, figures = smoke
    quality = figures["scale"]["sizes"]["1000"]["quality"]
    assert quality["chunks"] == 1000 and quality["questions"] > 0
    # The seeds keep their file names among the distractors, so their sources can be recognised.
    assert quality["source_hit_at_3"] > 0


def test_a_regenerated_calibration_report_keeps_what_was_written_by_hand(tmp_path: Path) -> None:
    from benchmarks.calibrate import BY_HAND, kept_by_hand

    report = tmp_path / "CALIBRATION.md"
    report.write_text(f"# old figures\n\n{BY_HAND}\n\n## What was tried\n\nA focus cosine; not kept.\n", "utf-8")

    assert kept_by_hand(report) == f"\n{BY_HAND}\n\n## What was tried\n\nA focus cosine; not kept.\n"
    assert kept_by_hand(tmp_path / "missing.md") == ""


def test_the_conversation_benchmark_has_the_shape_the_reader_issue_asks_for() -> None:
    from benchmarks.conversations import FILES, QUESTIONS, SMALLTALK, load

    conversations = load(list(FILES))
    parts = [c["part"] for c in conversations]
    assert len(conversations) >= 12 and parts.count("held-out") * 3 >= len(conversations)
    assert {c["language"] for c in conversations} == {"en", "vi", "bg", "ru"}
    assert all(5 <= len(c["turns"]) <= 8 for c in conversations)
    kinds = [t["kind"] for c in conversations for t in c["turns"]]
    assert set(kinds) <= {*QUESTIONS, *SMALLTALK} and {"followup", "unanswerable", "thanks", "farewell"} <= set(kinds)
    assert all(t.get("expect") for c in conversations for t in c["turns"] if t["kind"] in ("answer", "followup"))


def test_a_reply_is_scored_as_the_reader_sees_it() -> None:
    from benchmarks.conversations import Turn, score

    answered = score(Turn("c", "tuning", "ru", "Когда?", "answer", ["27/7"]), [
        "<b>ngày 27/7</b>\n<blockquote>… ngày <b>27/7</b> tại Bình Nhưỡng.</blockquote>\n<i>[1] T</i>",
        "<blockquote>Khác.</blockquote>\n<i>[2]</i>",
    ])
    assert answered.first_right and answered.any_right and answered.lead == "ngày 27/7" and not answered.lead_wrong
    wrong = score(Turn("c", "tuning", "en", "Where?", "answer", ["Diaoyutai"]),
                  ["<b>Washington</b>\n<blockquote>Lee met in Washington.</blockquote>"])
    assert wrong.lead_wrong and not wrong.first_right
    greeted = score(Turn("c", "tuning", "vi", "cảm ơn nhé", "thanks", []), ["Xin chào! Hãy hỏi tôi về 5 bài báo"])
    thanked = score(Turn("c", "tuning", "vi", "cảm ơn nhé", "thanks", []), ["Không có gì! Bạn cứ hỏi thêm."])
    assert not greeted.smalltalk_right and thanked.smalltalk_right


def test_a_server_answers_many_clients_and_a_cold_ask_through_it(smoke: tuple[str, dict[str, Any]]) -> None:
    text, figures = smoke
    serve = figures["serve"]
    assert serve["answered"] == serve["clients"] == serve["distinct_questions"] > 1
    assert 0 < serve["p50_ms"] <= serve["p95_ms"] and serve["server_burst_cpu_s"] > 0
    cold = serve["cold"]
    for kind in ("ask_server", "ask_server_json", "ask_in_process"):
        assert cold[kind]["ratio_to_python"] == pytest.approx(cold[kind]["p50_ms"] / cold["python_pass"]["p50_ms"],
                                                              abs=0.06)
    assert "### 3c. `newsqa serve`" in text and "× `python -c pass`" in text
