"""The bot's handlers: short verbs that answer commands, questions and button presses in the
reader's language (the question's, else the user's last one, else Telegram's language_code).

The Engine is synchronous and CPU-bound, so every retrieval call runs in a worker thread (`Shared.run`);
updates are processed concurrently, so one slow question never holds up the others.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import Message, ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import conversation
from bot import formatting as fmt
from bot.addressing import (
    for_another_bot,
    group_question,
    is_addressed,
    is_allowed,
    mentions_bot,
    message_text,
)
from bot.feedback import FeedbackError, FeedbackStore
from bot.i18n import Translations, choose, translations
from bot.limits import QuestionLimits
from bot.replying import pages_keyboard, send_answer, send_html, stream_answer, topic, typing
from retrieval.engine import QuestionError
from retrieval.index import StoreError
from retrieval.models import Answer
from retrieval.question import guess_question_language
from retrieval.settings import Settings

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.question import History

log = logging.getLogger(__name__)
T = TypeVar("T")

EXPAND_DATA = re.compile(r"^x:(\d+):([^:]+):(\d+):(\d+)$")  # expand citation n: chunk id, quote start/end
PAGE_DATA = re.compile(r"^s:(\d+)$")  # a page of /sources
VOTE_DATA = re.compile(r"^v:(\d+):([ud])$")  # 👍 (u) or 👎 (d) on a recorded answer
LATEST_COUNT = 10  # articles /latest lists


@dataclass
class Shared:
    """What every handler needs, kept in `bot_data`: opened once at start-up."""

    engine: Engine
    settings: Settings
    limits: QuestionLimits
    about: fmt.Holdings | None = None  # what the index holds, refreshed whenever the articles are listed
    searching: Executor | None = None  # the threads questions are answered in (None: the loop's default)
    feedback: FeedbackStore | None = None  # readers' votes (None: no buttons)
    retired: list[Engine] = field(default_factory=list)  # engines a refresh replaced, closed at the next one
    refreshing: bool = False

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` in a worker thread, so the event loop keeps taking updates meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self.searching, functools.partial(call, *args))


def shared(context: ContextTypes.DEFAULT_TYPE) -> Shared:
    """The application's shared objects."""
    return context.bot_data["newsqa"]


# --- language ----------------------------------------------------------------------------------


def reader(update: Update, context: ContextTypes.DEFAULT_TYPE, question_lang: str | None = None) -> Translations:
    """The catalogue for whoever sent the update: the question's language, else the language they
    last asked in, else their Telegram language_code, else English."""
    user = update.effective_user
    remembered = conversation.remembered_language(context.user_data) if context.user_data is not None else None
    return translations(choose(question_lang, remembered, user.language_code if user else None))


def example(settings: Settings, tr: Translations) -> str:
    """An example question for usage hints (the configured one, else the catalogue's)."""
    return settings.example_questions[0] if settings.example_questions else tr.gettext(fmt.DEFAULT_EXAMPLE)


def question_problem(text: str, settings: Settings, tr: Translations = fmt.ENGLISH) -> str | None:
    """What is wrong with a question, as the HTML reply to send, or None when it can be asked."""
    hint = example(settings, tr)
    stripped = text.strip()
    if not stripped:
        return fmt.render_text(fmt.EMPTY, tr, example=hint)
    if len(stripped) > settings.max_question_chars:
        return fmt.render_text(fmt.TOO_LONG, tr, length=len(stripped), limit=settings.max_question_chars)
    if not any(ch.isalnum() for ch in stripped):
        return fmt.render_text(fmt.NOT_A_QUESTION, tr, example=hint)
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


def sender_id(message: Message) -> int:
    """Whom the per-user limit and the conversation belong to: the person, or the channel a message
    was posted as."""
    if message.sender_chat:
        return message.sender_chat.id
    return message.from_user.id if message.from_user else message.chat_id


async def list_sources(state: Shared) -> list[dict[str, Any]]:
    """The indexed articles (read in a worker thread); what the index holds is noted on the way."""
    rows = await state.run(state.engine.sources)
    state.about = fmt.holdings(rows, state.settings.example_questions)
    return rows


# --- questions ---------------------------------------------------------------------------------


async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str,
                          quiet_smalltalk: bool = False) -> None:
    """Check the question and the sender's allowance, then answer it with citations, read against
    the sender's conversation in this chat. `quiet_smalltalk`: say nothing to a greeting or thanks."""
    state, message = shared(context), update.effective_message
    asked_in = guess_question_language(text)
    tr = reader(update, context, asked_in)
    problem = question_problem(text, state.settings, tr)
    if problem:
        await message.reply_html(problem, do_quote=True)
        return
    if wait := state.limits.admit(sender_id(message)):
        await message.reply_html(fmt.render_slow_down(state.limits.per_minute, wait, tr), do_quote=True)
        return
    history = conversation.history(context.chat_data, sender_id(message), state.settings)
    # a model's answer streams into the chat as it is written; a group reply that may turn out to be
    # small talk is answered whole, so nothing is shown before it is known to deserve a reply
    streamed = state.engine.answer_mode() == "llm" and not quiet_smalltalk
    async with typing(message):
        try:
            answer = await consult(state, message, text.strip(), history, tr if streamed else None)
        except QuestionError as exc:
            await message.reply_html(fmt.escape(str(exc)), do_quote=True)
            return
    if answer is None:
        return
    conversation.remember(history, answer)
    conversation.save(context.chat_data, sender_id(message), history)
    if context.user_data is not None:
        conversation.remember_language(context.user_data, answer.language or asked_in)
    # Written now, not at the next flush: a bot killed a second after answering still has the thread.
    await keep_state(update, context)
    if streamed or (answer.kind == "smalltalk" and quiet_smalltalk):
        return
    await send_answer(message, answer, reader(update, context, answer.language or asked_in), state.about,
                      vote_id=await record_answer(state, message.chat_id, answer))


async def record_answer(state: Shared, chat_id: int, answer: Answer) -> int | None:
    """Keep a sent answer for readers' votes; its id for the 👍/👎 buttons, or None (small talk, no store, or
    a store that cannot be written: logged, and the answer goes out without buttons)."""
    if state.feedback is None or answer.kind == "smalltalk":
        return None
    try:
        return await state.run(state.feedback.record, chat_id, answer)
    except FeedbackError as exc:
        log.warning("%s", exc)
        return None


async def keep_state(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Write the update's chat and user data to the state file now (when there is one); a failure is
    logged, not raised."""
    application = context.application
    if application.persistence is None:
        return
    # PTB marks an update's chat and user for writing only after its handler returns.
    chat, user = update.effective_chat, update.effective_user
    application.mark_data_for_update_persistence(chat_ids=chat.id if chat else None, user_ids=user.id if user else None)
    try:
        await application.update_persistence()
    except Exception as exc:  # the answer is sent either way; the periodic flush retries
        log.warning("could not write the bot's state file: %s: %s", type(exc).__name__, exc)


async def consult(state: Shared, message: Message, question: str, history: History,
                  stream_to: Translations | None) -> Answer | None:
    """The engine's answer to a question read against the conversation, saying how it was read;
    with `stream_to`, a generated answer is shown in the chat as it arrives (in that language)."""
    if stream_to is None:
        answer = await state.run(state.engine.ask, question, None, None, history)
        return conversation.as_read(answer, question)

    async def pieces() -> AsyncIterator[str | Answer]:
        async for piece in state.engine.astream(question, history=history):
            yield conversation.as_read(piece, question) if isinstance(piece, Answer) else piece

    return await stream_answer(message, pieces(), stream_to, about=state.about,
                               vote=lambda answer: record_answer(state, message.chat_id, answer))


async def private_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message (or a captioned photo or document) in a private chat."""
    await answer_question(update, context, message_text(update.effective_message))


async def group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a group message that mentions the bot, or replies to it with a question."""
    message = update.effective_message
    question = group_question(message)
    if question is not None:
        mentioned = mentions_bot(message, context.bot.username)
        await answer_question(update, context, question, quiet_smalltalk=not mentioned)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the question after /ask, or show how to use it."""
    question = " ".join(context.args or [])
    if not question:
        tr = reader(update, context)
        usage = fmt.render_text(fmt.ASK_USAGE, tr, example=example(shared(context).settings, tr))
        await update.effective_message.reply_html(usage, do_quote=True)
        return
    await answer_question(update, context, question)


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for a text question when sent a sticker, voice note or an uncaptioned photo or file."""
    await update.effective_message.reply_html(fmt.render_text(fmt.NOT_TEXT, reader(update, context)), do_quote=True)


# --- commands ----------------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot knows: how many articles in which languages, and two example questions."""
    state = shared(context)
    await list_sources(state)
    html = fmt.render_welcome(state.about, state.settings.example_questions, context.bot.username,
                              reader(update, context))
    await send_html(update.effective_message, html)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask."""
    await send_html(update.effective_message, fmt.render_help(context.bot.username, reader(update, context)))


async def new_conversation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget the sender's conversation in this chat and say so."""
    message = update.effective_message
    conversation.forget(context.chat_data, sender_id(message))
    await keep_state(update, context)
    await message.reply_html(fmt.render_text(fmt.NEW_CONVERSATION, reader(update, context)), do_quote=True)


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the indexed articles, a page at a time with previous/next buttons."""
    state, tr = shared(context), reader(update, context)
    rows = await list_sources(state)
    page = fmt.page_of(rows, 0, state.settings.sources_page_size)
    await send_html(update.effective_message, fmt.render_sources(rows, page, tr), pages_keyboard(page, tr))


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the newest articles, one per story, with their outlet, date and link."""
    state, tr = shared(context), reader(update, context)
    rows = await state.run(state.engine.latest, LATEST_COUNT)
    await send_html(update.effective_message, fmt.render_latest(rows, tr))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point at /help for a command the bot does not have, when it is meant for this bot."""
    message = update.effective_message
    text = message_text(message)
    if for_another_bot(text, context.bot.username):
        return
    if message.chat.type != ChatType.PRIVATE and "@" not in text.split()[0]:
        return  # a bare command in a group may be for another bot
    await message.reply_html(fmt.render_text(fmt.UNKNOWN_COMMAND, reader(update, context)), do_quote=True)


# --- buttons -----------------------------------------------------------------------------------


async def expand(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the passage around a cited quote when its "Expand [n]" button is pressed (once)."""
    query, tr = update.callback_query, reader(update, context)
    match = EXPAND_DATA.match(query.data or "")
    answer_message = query.message
    if not match or not isinstance(answer_message, Message):
        await query.answer(tr.gettext(fmt.UNKNOWN_BUTTON), show_alert=True)
        return
    n, chunk_id, start_at, end_at = int(match[1]), match[2], int(match[3]), int(match[4])
    if not conversation.first_expansion(context.chat_data, answer_message.message_id, n):
        await query.answer(tr.gettext(fmt.ALREADY_SHOWN))
        return
    state = shared(context)
    passage = await state.run(find_passage, state.engine, chunk_id, start_at, end_at)
    if passage is None:
        await query.answer(tr.gettext(fmt.PASSAGE_GONE), show_alert=True)
        return
    await query.answer()
    parts = fmt.split_html(fmt.render_passage(n, passage))
    for i, part in enumerate(parts):
        reply_to = ReplyParameters(answer_message.message_id, allow_sending_without_reply=True) if i == 0 else None
        await context.bot.send_message(answer_message.chat.id, part, reply_parameters=reply_to,
                                       message_thread_id=topic(answer_message))


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


async def turn_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show another page of /sources in the same message."""
    query, state, tr = update.callback_query, shared(context), reader(update, context)
    match = PAGE_DATA.match(query.data or "")
    if not match or not isinstance(query.message, Message):
        await query.answer(tr.gettext(fmt.UNKNOWN_BUTTON), show_alert=True)
        return
    rows = await list_sources(state)
    page = fmt.page_of(rows, int(match[1]), state.settings.sources_page_size)
    await query.answer()
    with suppress(BadRequest):  # the same page again (a double tap): Telegram refuses a no-op edit
        await query.message.edit_text(fmt.render_sources(rows, page, tr), reply_markup=pages_keyboard(page, tr))


async def vote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Keep a reader's 👍 or 👎 on an answer (one per reader and answer; a second press replaces the first)."""
    query, state, tr = update.callback_query, shared(context), reader(update, context)
    match = VOTE_DATA.match(query.data or "")
    if not match or state.feedback is None or query.from_user is None:
        await query.answer(tr.gettext(fmt.UNKNOWN_BUTTON), show_alert=True)
        return
    try:
        known = await state.run(state.feedback.vote, int(match[1]), query.from_user.id,
                                "up" if match[2] == "u" else "down")
    except FeedbackError as exc:
        log.warning("%s", exc)
        known = False
    await query.answer(tr.gettext(fmt.VOTED if known else fmt.UNKNOWN_BUTTON), show_alert=not known)


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a press of a button this bot does not know, so the client stops waiting."""
    await update.callback_query.answer(reader(update, context).gettext(fmt.UNKNOWN_BUTTON), show_alert=True)


# --- gate and errors ---------------------------------------------------------------------------


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop updates from people and chats outside the allow-lists, refusing politely when addressed."""
    user, chat = update.effective_user, update.effective_chat
    if is_allowed(shared(context).settings, user.id if user else None, chat.id if chat else None):
        return
    log.info("update %s refused: user %s in chat %s is not allowed", update.update_id,
             user.id if user else None, chat.id if chat else None)
    refusal = reader(update, context).gettext(fmt.REFUSED)
    if update.callback_query:
        await update.callback_query.answer(refusal, show_alert=True)
    elif (message := update.effective_message) and is_addressed(message):
        await message.reply_html(fmt.escape(refusal), do_quote=True)
    raise ApplicationHandlerStop


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failed update's id with the error, and tell the user (in the message's topic): try
    again (the index is down) or something went wrong."""
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
    text = reader(update, context).gettext(text)
    with suppress(TelegramError):
        if update.callback_query:
            await update.callback_query.answer(text, show_alert=True)
        else:
            message = update.effective_message
            await context.bot.send_message(chat.id, fmt.escape(text),
                                           message_thread_id=topic(message) if message else None)
