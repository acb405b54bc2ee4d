"""The Telegram front end: `build_application()` wires python-telegram-bot's Application to an
opened Engine; the handlers below are short verbs that answer with `bot.formatting` HTML.

The Engine is synchronous and CPU-bound, so every retrieval call runs in a worker thread; updates
are processed concurrently, so one slow question never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from aiolimiter import AsyncLimiter
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageEntityType, ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import formatting as fmt
from retrieval.engine import QuestionError
from retrieval.messages import safe_url, strip_credentials
from retrieval.models import Answer
from retrieval.settings import Settings
from retrieval.store import StoreError

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.generation import History

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
COMMANDS = [
    BotCommand("start", "What I know, with example questions"),
    BotCommand("ask", "Ask a question (in groups)"),
    BotCommand("sources", "The articles I have read"),
    BotCommand("help", "How to ask"),
]
RATE_LIMIT_RETRIES = 3  # RetryAfter (429) answers waited out per request before giving up
STREAM_EDIT_INTERVAL = 1.0  # seconds between edits of a streaming reply (Telegram allows ~1/s per chat)
TYPING_REFRESH = 4.5  # Telegram shows "typing…" for 5 seconds per chat action
CALLBACK_DATA = re.compile(r"^x:(\d+):([^:]+):(\d+):(\d+)$")  # expand citation n: chunk id, quote start/end


class StartupError(RuntimeError):
    """The bot cannot start; the message says what to fix (and never contains the token)."""


# --- shared state ------------------------------------------------------------------------------


class QuestionLimits:
    """At most N questions per user per minute: one aiolimiter leaky bucket per user."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[int, AsyncLimiter] = {}

    async def admit(self, user_id: int) -> bool:
        """Take one question from the user's allowance; False when it is used up."""
        if self.per_minute <= 0:
            return True
        if len(self._buckets) > 4096:
            # forget users whose bucket has drained completely
            self._buckets = {k: b for k, b in self._buckets.items() if not b.has_capacity(b.max_rate)}
        bucket = self._buckets.setdefault(user_id, AsyncLimiter(self.per_minute, 60))
        if not bucket.has_capacity():
            return False
        await bucket.acquire()  # returns at once: there is capacity
        return True

    @property
    def wait_seconds(self) -> int:
        """An upper bound on how long until the next question is admitted."""
        return math.ceil(60 / self.per_minute) if self.per_minute > 0 else 0


@dataclass
class Shared:
    """What every handler needs, kept in `bot_data`: opened once at start-up."""

    engine: Engine
    settings: Settings
    limits: QuestionLimits


def shared(context: ContextTypes.DEFAULT_TYPE) -> Shared:
    """The application's shared objects."""
    return context.bot_data["newsqa"]


# --- who may ask, and what is addressed to the bot -------------------------------------------


def is_allowed(settings: Settings, user_id: int | None, chat_id: int | None) -> bool:
    """Everyone when both allow-lists are empty; otherwise a listed user or a listed chat."""
    if not settings.allowed_user_ids and not settings.allowed_chat_ids:
        return True
    return user_id in settings.allowed_user_ids or chat_id in settings.allowed_chat_ids


def mentions_bot(message: Message, username: str) -> bool:
    """True when the message @-mentions the bot."""
    mentions = message.parse_entities([MessageEntityType.MENTION])
    return any(text[1:].casefold() == username.casefold() for text in mentions.values())


def replies_to_bot(message: Message, bot_id: int) -> bool:
    """True when the message answers one of the bot's own messages."""
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


class _AddressedToBot(filters.MessageFilter):
    """Group messages meant for the bot: they mention it or reply to one of its messages."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        return replies_to_bot(message, bot.id) or mentions_bot(message, bot.username)


ADDRESSED = _AddressedToBot(name="AddressedToBot")


def without_mention(text: str, username: str) -> str:
    """The question in a group message, the bot's @-mention taken out."""
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()


def question_problem(text: str, settings: Settings) -> str | None:
    """What is wrong with a question, as the HTML reply to send, or None when it can be asked."""
    example = fmt.escape(settings.example_questions[0]) if settings.example_questions else "Who met Kim?"
    stripped = text.strip()
    if not stripped:
        return fmt.EMPTY.format(example=example)
    if len(stripped) > settings.max_question_chars:
        return fmt.TOO_LONG.format(length=len(stripped), limit=settings.max_question_chars)
    if not any(ch.isalnum() for ch in stripped):
        return fmt.NOT_A_QUESTION.format(example=example)
    return None


def store_is_down(exc: BaseException) -> bool:
    """True for failures of the vector store or its connection (worth a "try again"), not bugs."""
    seen: BaseException | None = exc
    while seen is not None:
        module = type(seen).__module__.split(".")[0]
        if isinstance(seen, (StoreError, ConnectionError, TimeoutError)) or module in {"chromadb", "httpx",
                                                                                        "httpcore"}:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# --- replying ----------------------------------------------------------------------------------


def citation_keyboard(answer: Answer) -> InlineKeyboardMarkup | None:
    """One "Expand [n]" button per citation (Telegram caps callback data at 64 bytes)."""
    buttons = []
    for citation in answer.citations:
        data = f"x:{citation.n}:{citation.chunk_id}:{citation.start}:{citation.end}"
        if citation.chunk_id and len(data.encode()) <= 64:
            buttons.append(InlineKeyboardButton(f"Expand [{citation.n}]", callback_data=data))
    return InlineKeyboardMarkup([buttons]) if buttons else None


@dataclass
class Shown:
    """A message already on screen (a streaming reply) and the HTML it shows."""

    message: Message
    html: str


async def send_html(message: Message, html: str, markup: InlineKeyboardMarkup | None = None,
                    placeholder: Shown | None = None) -> list[Message]:
    """Reply to `message` with HTML split under Telegram's limit (the keyboard under the last part);
    the first part replaces `placeholder` when given."""
    parts = fmt.split_html(html)
    sent: list[Message] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        keyboard = markup if last else None
        if i == 0 and placeholder is not None:
            if part == placeholder.html and keyboard is None:
                sent.append(placeholder.message)  # already shown; Telegram refuses a no-op edit
                continue
            edited = await placeholder.message.edit_text(part, reply_markup=keyboard)
            sent.append(edited if isinstance(edited, Message) else placeholder.message)
            continue
        reply_to = ReplyParameters(message.message_id, allow_sending_without_reply=True) if i == 0 else None
        sent.append(await message.get_bot().send_message(
            message.chat_id, part, reply_parameters=reply_to, reply_markup=keyboard,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
        ))
    return sent


async def send_answer(message: Message, answer: Answer, placeholder: Shown | None = None) -> list[Message]:
    """Reply with the rendered answer, its citations and one expand button per citation."""
    return await send_html(message, fmt.render_answer(answer), citation_keyboard(answer), placeholder)


async def stream_answer(message: Message, pieces: AsyncIterator[str | Answer],
                        interval: float = STREAM_EDIT_INTERVAL) -> Answer | None:
    """Show a generated answer as it arrives: one reply, edited at most once per `interval` seconds,
    then replaced by the final Answer with its citations. Returns that Answer."""
    loop = asyncio.get_running_loop()
    text, shown, shown_html, last_edit = "", None, "", 0.0
    final: Answer | None = None
    async for piece in pieces:
        if isinstance(piece, Answer):
            final = piece
            break
        text += piece
        html = fmt.split_html(fmt.render_partial(text))[0]
        if html == shown_html or (shown is not None and loop.time() - last_edit < interval):
            continue
        if shown is None:
            shown = (await send_html(message, html))[0]
        else:
            await shown.edit_text(html)
        shown_html, last_edit = html, loop.time()
    if final is not None:
        if shown is not None and loop.time() - last_edit < interval:
            await asyncio.sleep(interval - (loop.time() - last_edit))
        await send_answer(message, final, placeholder=Shown(shown, shown_html) if shown else None)
    return final


@asynccontextmanager
async def typing(message: Message) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends."""

    async def keep_typing() -> None:
        while True:
            with suppress(TelegramError):
                await message.get_bot().send_chat_action(
                    message.chat_id, ChatAction.TYPING,
                    message_thread_id=message.message_thread_id if message.is_topic_message else None,
                )
            await asyncio.sleep(TYPING_REFRESH)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def chat_history(context: ContextTypes.DEFAULT_TYPE) -> History:
    """The recent turns of this chat, so a generated answer can read a follow-up in context."""
    from retrieval.generation import History

    if "history" not in context.chat_data:
        context.chat_data["history"] = History.from_settings(shared(context).settings)
    return context.chat_data["history"]


def sender_id(message: Message) -> int:
    """Whom the per-user limit counts: the person, or the channel a message was posted as."""
    if message.sender_chat:
        return message.sender_chat.id
    return message.from_user.id if message.from_user else message.chat_id


async def answer_question(message: Message, text: str, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Check the question and the sender's allowance, then answer it with citations."""
    state = shared(context)
    problem = question_problem(text, state.settings)
    if problem:
        await message.reply_html(problem, do_quote=True)
        return
    if not await state.limits.admit(sender_id(message)):
        limit, wait = state.limits.per_minute, state.limits.wait_seconds
        await message.reply_html(fmt.SLOW_DOWN.format(limit=limit, wait=wait), do_quote=True)
        return
    question = text.strip()
    async with typing(message):
        try:
            if state.engine.answer_mode() == "llm":
                history = chat_history(context)
                answer = await stream_answer(message, state.engine.astream(question, history=history))
                if answer is not None:
                    history.add(answer)
                return
            answer = await asyncio.to_thread(state.engine.ask, question)
        except QuestionError as exc:
            await message.reply_html(fmt.escape(str(exc)), do_quote=True)
            return
        await send_answer(message, answer)


# --- handlers ----------------------------------------------------------------------------------


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop updates from people and chats outside the allow-lists, refusing politely when addressed."""
    user, chat = update.effective_user, update.effective_chat
    if is_allowed(shared(context).settings, user.id if user else None, chat.id if chat else None):
        return
    log.info("update %s refused: user %s in chat %s is not allowed", update.update_id,
             user.id if user else None, chat.id if chat else None)
    if update.callback_query:
        await update.callback_query.answer(fmt.REFUSED, show_alert=True)
    elif (message := update.effective_message) and is_addressed(message):
        await message.reply_html(fmt.REFUSED, do_quote=True)
    raise ApplicationHandlerStop


def is_addressed(message: Message) -> bool:
    """True for messages the bot would answer: anything in private, commands or mentions in groups."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    if message.chat.type == ChatType.CHANNEL:
        return False
    bot = message.get_bot()
    command = bool(message.text and message.text.startswith("/"))
    return command or replies_to_bot(message, bot.id) or mentions_bot(message, bot.username)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot knows: how many articles in which languages, and two example questions."""
    state = shared(context)
    rows = await asyncio.to_thread(state.engine.sources)
    html = fmt.render_welcome(rows, state.settings.example_questions, context.bot.username)
    await send_html(update.effective_message, html)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask."""
    await send_html(update.effective_message, fmt.render_help(context.bot.username))


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the indexed articles: number, title, language, date."""
    rows = await asyncio.to_thread(shared(context).engine.sources)
    await send_html(update.effective_message, fmt.render_sources(rows))


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the question after /ask, or show how to use it."""
    message = update.effective_message
    question = " ".join(context.args or [])
    if not question:
        settings = shared(context).settings
        example = settings.example_questions[0] if settings.example_questions else "Who met Kim?"
        await message.reply_html(fmt.ASK_USAGE.format(example=fmt.escape(example)), do_quote=True)
        return
    await answer_question(message, question, context)


async def private_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message in a private chat."""
    message = update.effective_message
    await answer_question(message, message.text or "", context)


async def group_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a group message that mentions the bot or replies to it."""
    message = update.effective_message
    await answer_question(message, without_mention(message.text or "", context.bot.username), context)


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for a text question when sent a sticker, photo, voice note or file."""
    await update.effective_message.reply_html(fmt.NOT_TEXT, do_quote=True)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point at /help for a command the bot does not have (in groups only when it names this bot)."""
    message = update.effective_message
    command = (message.text or "").split()[0]
    if message.chat.type != ChatType.PRIVATE and not command.casefold().endswith(
        f"@{context.bot.username}".casefold()
    ):
        return
    await message.reply_html(fmt.UNKNOWN_COMMAND, do_quote=True)


async def expand(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the passage around a cited quote when its "Expand [n]" button is pressed."""
    query = update.callback_query
    match = CALLBACK_DATA.match(query.data or "")
    if not match or query.message is None:
        await query.answer()
        return
    n, chunk_id, start_at, end_at = int(match[1]), match[2], int(match[3]), int(match[4])
    passage = await asyncio.to_thread(find_passage, shared(context).engine, chunk_id, start_at, end_at)
    if passage is None:
        await query.answer(fmt.PASSAGE_GONE, show_alert=True)
        return
    await query.answer()
    chat_id, answer_id = query.message.chat.id, query.message.message_id
    parts = fmt.split_html(fmt.render_passage(n, passage))
    for i, part in enumerate(parts):
        reply_to = ReplyParameters(answer_id, allow_sending_without_reply=True) if i == 0 else None
        await context.bot.send_message(chat_id, part, reply_parameters=reply_to)


def find_passage(engine: Engine, chunk_id: str, start: int, end: int) -> fmt.Passage | None:
    """The stored chunk around a quote, with the quote's place in it; None when it is gone."""
    found = engine.store.get_chunks([chunk_id])
    if chunk_id not in found:
        return None
    chunk, _ = found[chunk_id]
    inside = [s for s in chunk.sentences if s.start >= start and s.end <= end]
    if inside:
        first, last = inside[0], inside[-1]
        span: tuple[int | None, int | None] = (first.offset, last.offset + len(last.text))
    else:
        span = (None, None)
    return fmt.Passage(title=chunk.title, source=chunk.source, text=chunk.text, quote_start=span[0],
                       quote_end=span[1])


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failed update's id with the error, and tell the user: try again (the index is down)
    or something went wrong."""
    update_id = update.update_id if isinstance(update, Update) else None
    error = context.error
    if isinstance(error, Forbidden):
        # e.g. the user blocked the bot: there is no one to tell
        log.warning("update %s: Telegram refused the reply: %s", update_id, error)
        return
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        # Telegram did not answer (in time): the reply may have arrived, so sending more could duplicate it
        log.warning("update %s: Bot API call failed: %s: %s", update_id, type(error).__name__, error)
        return
    if error is not None and store_is_down(error):
        log.warning("update %s: the index is unavailable (%s: %s)", update_id, type(error).__name__, error)
        text = fmt.UNAVAILABLE
    else:
        log.error("update %s failed", update_id, exc_info=error)
        text = fmt.FAILED
    chat = update.effective_chat if isinstance(update, Update) else None
    if not isinstance(update, Update) or chat is None or chat.type == ChatType.CHANNEL:
        return
    with suppress(TelegramError):
        if update.callback_query:
            await update.callback_query.answer(text, show_alert=True)
        else:
            await context.bot.send_message(chat.id, text)


async def post_init(application: Application) -> None:
    """Register the command menu once the bot knows who it is."""
    await application.bot.set_my_commands(COMMANDS)
    state: Shared = application.bot_data["newsqa"]
    log.info("started as @%s with %d indexed chunks; Bot API at %s", application.bot.username,
             state.engine.store.count(), safe_url(state.settings.telegram_base_url))


# --- wiring ------------------------------------------------------------------------------------


def bot_token(settings: Settings) -> str:
    """The bot token, or StartupError when it is not configured."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if not token.strip():
        raise StartupError("TELEGRAM_BOT_TOKEN is not set; get one from @BotFather and put it in .env")
    return token.strip()


def build_application(settings: Settings, engine: Engine) -> Application:
    """The bot: python-telegram-bot's Application with the handlers, rate limiter and shared engine."""
    timeout = settings.telegram_timeout
    defaults = Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
    application = (
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
        .build()
    )
    limits = QuestionLimits(settings.rate_limit_per_minute)
    application.bot_data["newsqa"] = Shared(engine, settings, limits)

    messages = filters.UpdateType.MESSAGES
    private, groups, status = filters.ChatType.PRIVATE, filters.ChatType.GROUPS, filters.StatusUpdate.ALL
    application.add_handler(TypeHandler(Update, gate), group=-1)
    application.add_handlers([
        CommandHandler("start", start),
        CommandHandler("help", help_command),
        CommandHandler("sources", sources),
        CommandHandler("ask", ask_command),
        MessageHandler(messages & filters.COMMAND, unknown_command),
        MessageHandler(messages & private & filters.TEXT, private_question),
        MessageHandler(messages & groups & filters.TEXT & ADDRESSED, group_question),
        MessageHandler(messages & (private | (groups & ADDRESSED)) & ~filters.TEXT & ~status, not_text),
        CallbackQueryHandler(expand, pattern=CALLBACK_DATA),
    ])
    application.add_error_handler(on_error)
    return application


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


# --- logging -----------------------------------------------------------------------------------


class Redact(logging.Filter):
    """Replace secrets (the bot token) in every log record, its arguments and its traceback."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return strip_credentials(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = self._clean(record.getMessage()), None
        except Exception:  # a malformed record: let logging report it as usual
            return True
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def configure_logging(settings: Settings, verbose: bool = False) -> None:
    """Log to stderr with the bot token redacted; httpx's per-request lines (URLs carry the token)
    only in verbose mode."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    for handler in logging.getLogger().handlers:
        handler.addFilter(Redact([token]))
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
