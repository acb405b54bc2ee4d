"""Sending replies: HTML split under Telegram's limit into the message's topic, answers with their
expand buttons, streamed answers edited as they arrive, the "typing…" indicator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot import formatting as fmt
from bot.i18n import Translations
from retrieval.models import Answer

STREAM_EDIT_INTERVAL = 1.0  # seconds between edits of a streaming reply (Telegram allows ~1/s per chat)
TYPING_REFRESH = 4.5  # Telegram shows "typing…" for 5 seconds per chat action


def topic(message: Message) -> int | None:
    """The forum topic a message is in, so replies go there too (None outside forum topics)."""
    return message.message_thread_id if message.is_topic_message else None


def citation_keyboard(answer: Answer, tr: Translations = fmt.ENGLISH,
                      vote_id: int | None = None) -> InlineKeyboardMarkup | None:
    """One "Expand [n]" button per citation (Telegram caps callback data at 64 bytes), and 👍 / 👎 under a
    recorded answer."""
    buttons = []
    for citation in answer.citations:
        data = f"x:{citation.n}:{citation.chunk_id}:{citation.start}:{citation.end}"
        if citation.chunk_id and len(data.encode()) <= 64:
            label = tr.gettext(fmt.EXPAND).format(n=citation.n)
            buttons.append(InlineKeyboardButton(label, callback_data=data))
    rows = [buttons] if buttons else []
    if vote_id is not None:
        rows.append([InlineKeyboardButton("👍", callback_data=f"v:{vote_id}:u"),
                     InlineKeyboardButton("👎", callback_data=f"v:{vote_id}:d")])
    return InlineKeyboardMarkup(rows) if rows else None


def pages_keyboard(page: fmt.Page, tr: Translations = fmt.ENGLISH) -> InlineKeyboardMarkup | None:
    """"Previous / next" buttons under a page of /sources (none when everything fits on one page)."""
    buttons = []
    if page.number > 0:
        buttons.append(InlineKeyboardButton(tr.gettext(fmt.PREVIOUS_PAGE), callback_data=f"s:{page.number - 1}"))
    if page.number < page.pages - 1:
        buttons.append(InlineKeyboardButton(tr.gettext(fmt.NEXT_PAGE), callback_data=f"s:{page.number + 1}"))
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
            message.chat_id, part, reply_parameters=reply_to, reply_markup=keyboard, message_thread_id=topic(message),
        ))
    return sent


async def send_answer(message: Message, answer: Answer, tr: Translations = fmt.ENGLISH,
                      about: fmt.Holdings | None = None, placeholder: Shown | None = None,
                      vote_id: int | None = None) -> list[Message]:
    """Reply with the rendered answer, its citations, one expand button per citation and, for a recorded
    answer, 👍 / 👎."""
    html = fmt.render_answer(answer, tr, about)
    return await send_html(message, html, citation_keyboard(answer, tr, vote_id), placeholder)


async def stream_answer(message: Message, pieces: AsyncIterator[str | Answer], tr: Translations = fmt.ENGLISH,
                        interval: float = STREAM_EDIT_INTERVAL, about: fmt.Holdings | None = None,
                        vote: Callable[[Answer], Awaitable[int | None]] | None = None) -> Answer | None:
    """Show a generated answer as it arrives: one reply, edited at most once per `interval` seconds,
    then replaced by the final Answer with its citations (and 👍 / 👎 when `vote` records it). Returns that
    Answer."""
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
        vote_id = await vote(final) if vote is not None else None
        await send_answer(message, final, tr, about, placeholder=Shown(shown, shown_html) if shown else None,
                          vote_id=vote_id)
    return final


@asynccontextmanager
async def typing(message: Message) -> AsyncIterator[None]:
    """Show "typing…" in the chat (and topic) until the block ends."""

    async def keep_typing() -> None:
        while True:
            with suppress(TelegramError):
                await message.get_bot().send_chat_action(message.chat_id, ChatAction.TYPING,
                                                         message_thread_id=topic(message))
            await asyncio.sleep(TYPING_REFRESH)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
