"""Conversation state kept in PTB's chat_data: per user per chat, bounded, expiring, plain data."""

from __future__ import annotations

import pickle

from bot import conversation
from bot.addressing import for_another_bot, reads_like_question
from retrieval.models import Answer
from retrieval.settings import Settings

SETTINGS = Settings(_env_file=None, bot_conversation_idle_minutes=60)


def asked(question: str, read_as: str | None = None) -> Answer:
    return Answer(question=question, answer=f"about {question}", abstained=False, read_as=read_as)


def test_a_thread_keeps_turns_as_understood_and_survives_pickling() -> None:
    chat: dict = {}
    history = conversation.history(chat, 7, SETTINGS, now=0)
    conversation.remember(history, asked("and there?", read_as="and there? (Shoigu Pyongyang)"))
    conversation.save(chat, 7, history)
    restored = pickle.loads(pickle.dumps(chat))
    assert conversation.history(restored, 7, SETTINGS, now=60).recent()[0][0] == "and there? (Shoigu Pyongyang)"
    assert conversation.history(restored, 8, SETTINGS, now=60).recent() == []  # another user's thread is empty


def test_an_idle_thread_starts_over() -> None:
    chat: dict = {}
    history = conversation.history(chat, 7, SETTINGS, now=0)
    conversation.remember(history, asked("Who met Kim?"))
    conversation.save(chat, 7, history)
    assert conversation.history(chat, 7, SETTINGS, now=59 * 60).recent()
    assert conversation.history(chat, 7, SETTINGS, now=59 * 60 + 3601).recent() == []


def test_a_chat_keeps_the_most_recently_active_threads_only() -> None:
    chat: dict = {}
    for user_id in range(conversation.THREADS_PER_CHAT + 5):
        conversation.history(chat, user_id, SETTINGS, now=float(user_id))
    assert len(chat["threads"]) == conversation.THREADS_PER_CHAT
    assert 0 not in chat["threads"] and conversation.THREADS_PER_CHAT + 4 in chat["threads"]


def test_smalltalk_is_not_a_turn_and_forget_drops_the_thread() -> None:
    chat: dict = {}
    history = conversation.history(chat, 7, SETTINGS, now=0)
    conversation.remember(history, Answer(question="thanks", answer="You're welcome", abstained=False,
                                          confidence="none", kind="smalltalk"))
    assert history.recent() == []
    assert conversation.forget(chat, 7) and not conversation.forget(chat, 7)


def test_a_citation_is_expanded_once_per_answer() -> None:
    chat: dict = {}
    assert conversation.first_expansion(chat, 10, 1)
    assert not conversation.first_expansion(chat, 10, 1)
    assert conversation.first_expansion(chat, 10, 2) and conversation.first_expansion(chat, 11, 1)


def test_a_rewritten_question_is_shown_as_read() -> None:
    rewritten = asked("Who did Shoigu meet in Pyongyang?")
    shown = conversation.as_read(rewritten, "and who did he meet there?")
    assert (shown.question, shown.read_as) == ("and who did he meet there?", "Who did Shoigu meet in Pyongyang?")
    assert conversation.as_read(asked("Who met Kim?"), "Who met Kim?").read_as is None


def test_acknowledgements_do_not_read_like_questions() -> None:
    for chatter in ("ok 👍", "lol", "thanks", "👍", "ok!", "спасибо", "cảm ơn"):
        assert not reads_like_question(chatter), chatter
    for question in ("why?", "and who did he meet there", "Кога Шойгу посети Пхенян?"):
        assert reads_like_question(question), question


def test_commands_naming_another_bot_are_for_it() -> None:
    assert for_another_bot("/help@other_bot", "newsqa_bot")
    assert not for_another_bot("/help@NewsQA_bot", "newsqa_bot")
    assert not for_another_bot("/help", "newsqa_bot") and not for_another_bot("hello", "newsqa_bot")
