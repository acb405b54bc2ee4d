"""Conversations: one short history per user per chat (a user's thread in a group is theirs), kept
in PTB's chat_data so persistence carries it over a restart, and bounded in size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from retrieval.models import Answer, Turn
from retrieval.settings import Settings

if TYPE_CHECKING:
    from retrieval.question import History

THREADS_PER_CHAT = 200  # users whose threads a chat keeps; the least recently active are dropped
EXPANDED_PER_CHAT = 500  # expanded citations remembered per chat (so a second press does not repost)


@dataclass
class Thread:
    """One user's conversation in one chat, as plain turns (dicts of `Turn`'s fields), and when they last
    asked. Plain data, so a state file outlives changes to the History class."""

    turns: list[dict[str, Any]] = field(default_factory=list)
    used: float = field(default_factory=time.time)


def _turn(data: Any) -> Turn | None:
    """A kept turn read back; a (question, answer) pair from an older state file still counts."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return Turn(question=str(data[0]), answer=str(data[1]))
    try:
        return Turn.model_validate(data)
    except ValueError:
        return None


def _threads(chat_data: dict[str, Any]) -> dict[int, Thread]:
    return chat_data.setdefault("threads", {})


def history(chat_data: dict[str, Any], user_id: int, settings: Settings, now: float | None = None) -> History:
    """The user's conversation in this chat; a new one after NEWSQA_BOT_CONVERSATION_IDLE_MINUTES of silence."""
    from retrieval.question import History

    now = time.time() if now is None else now
    threads = _threads(chat_data)
    idle = settings.bot_conversation_idle_minutes * 60
    thread = threads.get(user_id)
    if thread is None or now - thread.used > idle:
        thread = threads[user_id] = Thread(used=now)
    thread.used = now
    for stale in [uid for uid, t in threads.items() if now - t.used > idle]:
        del threads[stale]
    while len(threads) > THREADS_PER_CHAT:
        del threads[min(threads, key=lambda uid: threads[uid].used)]
    conversation = History.from_settings(settings)
    for data in thread.turns:
        if (turn := _turn(data)) is not None:
            conversation.add(turn)
    return conversation


def save(chat_data: dict[str, Any], user_id: int, conversation: History) -> None:
    """Keep the conversation's turns as the user's thread in this chat."""
    _threads(chat_data).setdefault(user_id, Thread()).turns = [turn.model_dump() for turn in conversation.turns]


def as_read(answer: Answer, asked: str) -> Answer:
    """The answer saying how the question was read: a generator that rewrote a follow-up into
    `answer.question` without setting `read_as` gets it set, and the question back as asked."""
    read_as = answer.read_as or (answer.question if answer.question.strip() != asked.strip() else None)
    if read_as is None or read_as.strip() == asked.strip():
        return answer
    # The generator answers the standalone question and names it in both fields: show it as asked.
    return answer.model_copy(update={"question": asked, "read_as": read_as})


def remember(conversation: History, answer: Answer) -> None:
    """Add the answer's turn (small talk too: a follow-up never leans on it), so the next question is
    read against it."""
    conversation.add(answer)


def forget(chat_data: dict[str, Any], user_id: int) -> bool:
    """Drop the user's conversation in this chat; True when there was one."""
    return _threads(chat_data).pop(user_id, None) is not None


def first_expansion(chat_data: dict[str, Any], message_id: int, n: int) -> bool:
    """True the first time citation n of an answer is expanded in this chat (and remember it)."""
    expanded: dict[tuple[int, int], None] = chat_data.setdefault("expanded", {})
    if (message_id, n) in expanded:
        return False
    expanded[(message_id, n)] = None
    while len(expanded) > EXPANDED_PER_CHAT:
        del expanded[next(iter(expanded))]
    return True


def remembered_language(user_data: dict[str, Any]) -> str | None:
    """The language the user last asked in (a per-user setting that survives restarts)."""
    return user_data.get("language")


def remember_language(user_data: dict[str, Any], language: str | None) -> None:
    """Keep the language of the user's latest question whose language could be told."""
    if language:
        user_data["language"] = language
