"""A running bot keeps its corpus fresh: a feed entry published after it started is answered, with outlet,
date and link, after its JobQueue's refresh; questions are answered during a refresh; a failed refresh is one
log line and the next one tries again."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application, running
from bot.refresh import refresh_now
from retrieval.corpus.ingestion import ingest
from retrieval.corpus.locking import ingest_lock
from retrieval.engine import Engine
from retrieval.settings import Settings
from tests.fakes.news_site import BRIDGE, LIGHTHOUSE, SITE_NAME, NewsSite
from tests.fakes.telegram_server import FakeTelegram, private_chat, user

pytestmark = pytest.mark.slow

READER = user(7100, "Reader")


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite([BRIDGE]) as running_site:
        yield running_site


@pytest.fixture
def fed_index(site: NewsSite, tmp_path: Path, embedder: Any) -> Settings:
    """An index of one local article file and the site's feed, as `newsqa ingest` builds it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "weather.txt").write_text("Heavy rain in Sofia\n\nHeavy rain flooded three streets in Sofia on Sunday "
                                        "evening; the fire brigade pumped water from forty cellars.\n", "utf-8")
    settings = Settings(_env_file=None, corpus_dir=corpus, index_dir=tmp_path / "index", allow_private_urls=True,
                        fetch_delay_seconds=0.0, feeds=[site.url("/feed.xml")], refresh_seconds=10)
    ingest(settings, embedder)
    return settings


async def test_a_feed_entry_published_after_the_bot_started_is_answered_with_outlet_date_and_link(
    telegram: FakeTelegram, site: NewsSite, fed_index: Settings, embedder: Any
) -> None:
    app = build_application(telegram.settings_for(fed_index), Engine(fed_index, embedder=embedder))
    async with running(app, poll_timeout=0.5):
        state = app.bot_data["newsqa"]
        site.add(LIGHTHOUSE)
        # The JobQueue's refresh, at most NEWSQA_REFRESH_SECONDS (10) after the start, then the ingest's time.
        await asyncio.wait_for(_until(lambda: site.url("/news/lighthouse") in state.engine.articles), 240)
        [reply] = await telegram.ask(private_chat(READER), READER, "How far does the Kaliakra lighthouse beam reach?")
    assert "27 nautical miles" in reply.text
    assert f'<a href="{site.url("/news/lighthouse")}">' in reply.html
    assert SITE_NAME in reply.text and "2025-09-04" in reply.text


async def test_questions_are_answered_while_a_refresh_runs(
    telegram: FakeTelegram, site: NewsSite, fed_index: Settings, embedder: Any
) -> None:
    engine = Engine(fed_index, embedder=embedder)
    app = build_application(telegram.settings_for(fed_index, refresh_seconds=3600), engine)
    async with running(app, poll_timeout=0.5):
        state = app.bot_data["newsqa"]
        old = state.engine
        site.add(LIGHTHOUSE)
        site.held["lighthouse"] = threading.Event()  # the refresh waits for the new page until the answer is in
        refreshing = asyncio.create_task(refresh_now(state))
        await _until(lambda: state.refreshing)
        [reply] = await telegram.ask(private_chat(READER), READER, "How long is the new bridge over the Danube?")
        answered_during_refresh = state.refreshing
        site.held["lighthouse"].set()
        assert await refreshing
    assert "1,400 metres" in reply.text and answered_during_refresh
    assert state.engine is not old and state.retired == [old]


async def test_a_failed_refresh_is_one_log_line_and_the_next_one_succeeds(
    telegram: FakeTelegram, site: NewsSite, fed_index: Settings, embedder: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(fed_index, embedder=embedder)
    app = build_application(telegram.settings_for(fed_index, refresh_seconds=3600), engine)
    async with running(app, poll_timeout=0.5):
        state = app.bot_data["newsqa"]
        site.add(LIGHTHOUSE)
        caplog.set_level(logging.INFO, logger="bot.refresh")
        with ingest_lock(fed_index.index_dir):  # another writer holds the index
            assert not await refresh_now(state)
        failed = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(failed) == 1 and "refresh failed (IngestBusyError" in failed[0].getMessage()
        assert "\n" not in failed[0].getMessage()
        assert site.url("/news/lighthouse") not in state.engine.articles
        assert await refresh_now(state)
        assert site.url("/news/lighthouse") in state.engine.articles


async def _until(predicate: Any, every: float = 0.2) -> None:
    while not predicate():
        await asyncio.sleep(every)
