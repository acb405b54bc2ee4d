"""Wiring and running the Telegram bot: one builder makes python-telegram-bot's Application (handlers,
rate limiter, persistence), the engine is warmed up before the first update is taken, then the bot
polls or serves a webhook.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    PersistenceInput,
    PicklePersistence,
    TypeHandler,
    filters,
)

from bot import handlers as on
from bot.addressing import ADDRESSED
from bot.feedback import FeedbackStore
from bot.i18n import LANGUAGES, N_, translations
from bot.limits import QuestionLimits
from bot.refresh import refresh
from retrieval.messages import safe_url
from retrieval.settings import Settings

if TYPE_CHECKING:
    from retrieval.engine import Engine

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
COMMANDS = [
    ("start", N_("What I know, with example questions")),
    ("ask", N_("Ask a question (in groups)")),
    ("new", N_("Start a new conversation")),
    ("sources", N_("The articles I have read")),
    ("latest", N_("The newest articles")),
    ("help", N_("How to ask")),
]
RATE_LIMIT_RETRIES = 3  # RetryAfter (429) answers waited out per request before giving up
# How often PTB writes changed state on its own (and on shutdown); a conversation is also written after every
# answer, so a crash loses no turn.
STATE_FLUSH_SECONDS = 30


class StartupError(RuntimeError):
    """The bot cannot start; the message says what to fix (and never contains the token)."""


def bot_token(settings: Settings) -> str:
    """The bot token, or StartupError when it is not configured."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if not token.strip():
        raise StartupError("TELEGRAM_BOT_TOKEN is not set; get one from @BotFather and put it in .env")
    return token.strip()


class SafePicklePersistence(PicklePersistence):
    """PTB's pickle persistence, written to a temporary file and moved into place: a process killed in the
    middle of a write leaves the previous state whole (PTB writes the file in place)."""

    def _dump_singlefile(self) -> None:
        final = self.filepath
        partial = final.with_name(final.name + ".partial")
        # PTB writes to self.filepath; it calls this from the event loop only, so the swap is not shared.
        self.filepath = partial
        try:
            super()._dump_singlefile()
            with partial.open("rb") as written:
                os.fsync(written.fileno())
            os.replace(partial, final)
        finally:
            self.filepath = final


def persistence(settings: Settings) -> PicklePersistence | None:
    """PTB's pickle persistence for chat and user data, or None (with a warning) when the state file
    cannot be written: the bot then runs, but forgets conversations on restart."""
    path = settings.state_file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.with_name(path.name + ".probe")
        probe.write_bytes(b"")
        probe.unlink()
        if path.exists():
            with path.open("r+b") as existing:
                pickle.load(existing)
    except OSError as exc:
        log.warning("cannot write the bot's state file %s (%s); conversations will not survive a restart "
                    "(set NEWSQA_BOT_STATE_FILE to a writable path)", path, exc.strerror or exc)
        return None
    except Exception as exc:  # not a pickle we wrote: keep it for inspection, start afresh
        aside = path.with_name(path.name + ".unreadable")
        log.warning("the bot's state file %s is unreadable (%s); moved to %s, starting afresh", path,
                    type(exc).__name__, aside)
        path.replace(aside)
    keep = PersistenceInput(bot_data=False, chat_data=True, user_data=True, callback_data=False)
    return SafePicklePersistence(path, store_data=keep, update_interval=STATE_FLUSH_SECONDS)


def build_application(settings: Settings, engine: Engine) -> Application:
    """The bot: python-telegram-bot's Application with the handlers, rate limiter, persistence and
    shared engine."""
    timeout = settings.telegram_timeout
    defaults = Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
    builder = (
        ApplicationBuilder()
        .token(bot_token(settings))
        .base_url(settings.telegram_base_url)
        .defaults(defaults)
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .concurrent_updates(True)
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout)
        .post_init(post_init)
    )
    if (store := persistence(settings)) is not None:
        builder = builder.persistence(store)
    application = builder.build()
    application.bot_data["newsqa"] = on.Shared(
        engine, settings, QuestionLimits(settings.rate_limit_per_minute), searching=searching_threads(engine),
        feedback=FeedbackStore(settings.feedback_path),
    )
    # The bot is the index's only writer: it re-reads the corpus and the feeds itself, answering meanwhile.
    if application.job_queue is not None:
        interval = settings.refresh_seconds
        application.job_queue.run_repeating(refresh, interval=interval, first=interval, name="refresh")
    else:  # python-telegram-bot without its job-queue extra
        log.warning("the corpus is not refreshed while the bot runs: install python-telegram-bot[job-queue]")

    messages = filters.UpdateType.MESSAGES
    private, groups, status = filters.ChatType.PRIVATE, filters.ChatType.GROUPS, filters.StatusUpdate.ALL
    said = filters.TEXT | filters.CAPTION
    application.add_handler(TypeHandler(Update, on.gate), group=-1)
    application.add_handlers([
        CommandHandler("start", on.start),
        CommandHandler("help", on.help_command),
        CommandHandler(["new", "reset"], on.new_conversation),
        CommandHandler("sources", on.sources),
        CommandHandler("latest", on.latest),
        CommandHandler("ask", on.ask_command),
        MessageHandler(messages & filters.COMMAND, on.unknown_command),
        MessageHandler(messages & private & said, on.private_question),
        MessageHandler(messages & groups & said & ADDRESSED, on.group_message),
        MessageHandler(messages & private & ~said & ~status, on.not_text),
        CallbackQueryHandler(on.expand, pattern=on.EXPAND_DATA),
        CallbackQueryHandler(on.turn_page, pattern=on.PAGE_DATA),
        CallbackQueryHandler(on.vote, pattern=on.VOTE_DATA),
        CallbackQueryHandler(on.unknown_button),
    ])
    application.add_error_handler(on.on_error)
    return application


def searching_threads(engine: Engine) -> ThreadPoolExecutor | None:
    """The threads questions are answered in. An extractive answer is CPU work: one thread per usable
    core takes a burst of questions in arrival order, so the first asked are answered first; the
    loop's default pool (six threads on two cores) interleaved them, so every reply came later
    (`benchmarks/bot_load.py`). A model's answer mostly waits on the network: the default pool."""
    if engine.answer_mode() == "llm":
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return ThreadPoolExecutor(max_workers=max(cores, 1), thread_name_prefix="newsqa-search")


def warm_up(state: on.Shared) -> float:
    """Load everything the first question needs before any update is taken (`Engine.warm_up`, and the
    message catalogues). Returns the seconds it took."""
    started = time.perf_counter()
    state.engine.warm_up()
    for language in LANGUAGES:
        translations(language)
    from retrieval.question import History  # noqa: F401 - conversations hold it: imported before the first question

    return time.perf_counter() - started


async def post_init(application: Application) -> None:
    """Warm up, then register the command menu in every language once the bot knows who it is."""
    state: on.Shared = application.bot_data["newsqa"]
    seconds = await asyncio.to_thread(warm_up, state)
    await on.list_sources(state)
    for language in LANGUAGES:
        tr = translations(language)
        commands = [BotCommand(name, tr.gettext(description)) for name, description in COMMANDS]
        await application.bot.set_my_commands(commands, language_code=None if language == "en" else language)
    log.info("started as @%s with %d indexed chunks (warmed up in %.1fs); Bot API at %s; refreshing the corpus "
             "every %ds; readers' votes in %s", application.bot.username, state.engine.store.count(), seconds,
             safe_url(state.settings.telegram_base_url), state.settings.refresh_seconds, state.settings.feedback_path)


@asynccontextmanager
async def running(
    application: Application, poll_timeout: float = 10.0, webhook: dict[str, Any] | None = None
) -> AsyncIterator[Application]:
    """Run the bot inside the caller's event loop (tests, embedding): long polling, or the webhook
    server described by `webhook_options()`."""
    async with application:
        await post_init(application)
        if webhook:
            await application.updater.start_webhook(**webhook)
        else:
            await application.updater.start_polling(timeout=poll_timeout, allowed_updates=ALLOWED_UPDATES)
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


def webhook_options(settings: Settings, webhook_url: str, listen: str, port: int) -> dict[str, Any]:
    """How PTB's webhook server is started: it serves the URL's path and checks the secret header."""
    secret = settings.telegram_webhook_secret
    return {
        "listen": listen,
        "port": port,
        "url_path": urlparse(webhook_url).path.lstrip("/"),
        "webhook_url": webhook_url,
        "secret_token": secret.get_secret_value() if secret else None,
        "allowed_updates": ALLOWED_UPDATES,
    }


def run(
    application: Application, webhook_url: str | None = None, listen: str = "0.0.0.0", port: int = 8443
) -> None:
    """Run the bot until interrupted: long polling, or a webhook server when `webhook_url` is given."""
    settings: Settings = application.bot_data["newsqa"].settings
    try:
        if webhook_url:
            application.run_webhook(**webhook_options(settings, webhook_url, listen, port))
        else:
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken as exc:
        raise StartupError("Telegram refused the bot token; check TELEGRAM_BOT_TOKEN") from exc
    except NetworkError as exc:
        raise StartupError(
            f"cannot reach the Bot API at {safe_url(settings.telegram_base_url)} ({type(exc).__name__}); "
            "check the network or TELEGRAM_BASE_URL"
        ) from exc
