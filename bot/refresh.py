"""The bot keeps its corpus fresh: every NEWSQA_REFRESH_SECONDS python-telegram-bot's JobQueue runs the ingest
of the corpus directory and the feeds (NEWSQA_FEEDS) in a worker thread, the bot being the index's only writer.
Questions keep being answered meanwhile from the engine in use; when the ingest changed the index a new engine
is opened (on an embedded index, from a new private snapshot) and takes over, and the one it replaced is
closed at the next refresh, when no answer can still be using it. A refresh that fails is one log line, and
the next one tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from telegram.ext import ContextTypes

from bot.handlers import Shared, list_sources, shared
from retrieval.messages import first_line, shown_path

if TYPE_CHECKING:
    from retrieval.corpus import IngestReport
    from retrieval.engine import Engine

log = logging.getLogger(__name__)


def ingest_and_reopen(state: Shared) -> tuple[IngestReport, Engine | None]:
    """Run the ingest, then open the index anew when it changed (None when it did not)."""
    from retrieval.corpus import ingest
    from retrieval.engine import Engine

    report = ingest(state.settings, state.engine.embedder)
    # Also what another writer changed since this engine opened the index (a `newsqa ingest` beside the bot).
    if not report.changed and report.revision == state.engine.store.registry.revision:
        return report, None
    return report, Engine(state.settings, embedder=state.engine.embedder)


async def refresh(context: ContextTypes.DEFAULT_TYPE) -> None:
    """One refresh (a JobQueue callback): ingest, then answer from the new index."""
    await refresh_now(shared(context))


async def refresh_now(state: Shared) -> bool:
    """Ingest the corpus and feeds and swap in the new index; False when it failed or one is already running."""
    if state.refreshing:
        log.info("refresh skipped: the previous one is still running")
        return False
    state.refreshing = True
    started = time.perf_counter()
    try:
        report, engine = await asyncio.to_thread(ingest_and_reopen, state)
    except Exception as exc:  # the bot goes on answering from what it has; the next refresh tries again
        log.warning("refresh failed (%s: %s); answering from the index as it was, trying again in %ds",
                    type(exc).__name__, first_line(exc), state.settings.refresh_seconds)
        return False
    finally:
        state.refreshing = False
    for line in report.fetched.warnings:
        log.warning("refresh: %s", line)
    for skipped in report.skipped:
        log.warning("refresh: skipped %s: %s", shown_path(skipped.path), skipped.reason)
    for old in state.retired:
        old.close()
    state.retired = []
    if engine is not None:
        state.retired.append(state.engine)
        state.engine = engine
        await list_sources(state)
    log.info("refresh: %d added, %d updated, %d removed, %d pages fetched in %.1fs%s", len(report.added),
             len(report.updated), len(report.removed), len(report.fetched.stored), time.perf_counter() - started,
             "; answering from the new index" if engine is not None else "")
    return True
