"""What is addressed to the bot, by whom, and whether it reads like a question: allow-lists,
mentions (in text and captions), replies to the bot, commands meant for other bots.
"""

from __future__ import annotations

import re

from telegram import Message
from telegram.constants import ChatType, MessageEntityType
from telegram.ext import filters

from retrieval.settings import Settings

QUESTION_WORDS = 3  # a reply to the bot without a question mark needs this many words to count as one
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(?:@([A-Za-z0-9_]+))?")


def is_allowed(settings: Settings, user_id: int | None, chat_id: int | None) -> bool:
    """Everyone when both allow-lists are empty; otherwise a listed user or a listed chat."""
    if not settings.allowed_user_ids and not settings.allowed_chat_ids:
        return True
    return user_id in settings.allowed_user_ids or chat_id in settings.allowed_chat_ids


def message_text(message: Message) -> str:
    """What a message says: its text, or the caption of a photo or document."""
    return message.text or message.caption or ""


def mentions_bot(message: Message, username: str) -> bool:
    """True when the message (or its caption) @-mentions the bot."""
    if message.caption is not None:
        mentions = message.parse_caption_entities([MessageEntityType.MENTION])
    else:
        mentions = message.parse_entities([MessageEntityType.MENTION])
    return any(text[1:].casefold() == username.casefold() for text in mentions.values())


def replies_to_bot(message: Message, bot_id: int) -> bool:
    """True when the message answers one of the bot's own messages."""
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


def reads_like_question(text: str) -> bool:
    """True unless the text is an acknowledgement such as "ok 👍", "lol" or "thanks": it asks
    (a question mark) or says something (a few words)."""
    words = _WORD.findall(text)
    if not words:
        return False
    return "?" in text or "？" in text or len(words) >= QUESTION_WORDS


def command_target(text: str) -> str | None:
    """The bot a command names (`/help@some_bot` → "some_bot"), or None for a bare command or no command."""
    match = _COMMAND.match(text)
    return match[1] if match else None


def for_another_bot(text: str, username: str) -> bool:
    """True for a command addressed to some other bot by name."""
    target = command_target(text)
    return target is not None and target.casefold() != username.casefold()


def without_mention(text: str, username: str) -> str:
    """The question in a group message, the bot's @-mention taken out."""
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()


def group_question(message: Message) -> str | None:
    """The question a group message asks the bot, or None when it asks nothing: a mention counts
    whatever it says; a reply to the bot only when it reads like a question."""
    bot = message.get_bot()
    text = message_text(message)
    if mentions_bot(message, bot.username):
        return without_mention(text, bot.username)
    if replies_to_bot(message, bot.id) and reads_like_question(text):
        return text
    return None


def is_addressed(message: Message) -> bool:
    """True for messages the bot would answer: anything in private except commands for other bots;
    in groups, its own commands, mentions and question-like replies."""
    bot = message.get_bot()
    text = message_text(message)
    if message.chat.type == ChatType.CHANNEL or for_another_bot(text, bot.username):
        return False
    if message.chat.type == ChatType.PRIVATE:
        return True
    if text.startswith("/"):
        return command_target(text) is not None  # a bare /cmd in a group may be for any bot
    return group_question(message) is not None


class _AddressedToBot(filters.MessageFilter):
    """Group messages meant for the bot: they mention it, or reply to it with a question."""

    def filter(self, message: Message) -> bool:
        return group_question(message) is not None


ADDRESSED = _AddressedToBot(name="AddressedToBot")
