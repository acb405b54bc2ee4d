"""The Telegram bot, handler by handler: the real PTB Application and the real Engine over the seed
index, talking HTTP to a fake Bot API server on 127.0.0.1 (tests/fakes/telegram_server.py).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from telegram.ext import Application

from bot import formatting as fmt
from bot.addressing import is_allowed, without_mention
from bot.handlers import question_problem, store_is_down
from bot.limits import QuestionLimits
from bot.logs import Redact
from retrieval.index.store import StoreError
from retrieval.settings import Settings
from tests.fakes.telegram_server import (
    BOT_USER,
    FakeTelegram,
    channel_chat,
    group_chat,
    parse_html,
    private_chat,
    user,
)

SHOIGU = "When did Shoigu visit Pyongyang?"
ALICE = user(1001, "Alice")
BOB = user(1002, "Bob")
BOT = f"@{BOT_USER['username']}"


# --- pure helpers ------------------------------------------------------------------------------


def test_everyone_is_allowed_when_no_list_is_set() -> None:
    assert is_allowed(Settings(_env_file=None), 5, 5)


def test_allow_lists_admit_listed_users_or_listed_chats() -> None:
    settings = Settings(_env_file=None, allowed_user_ids=[1], allowed_chat_ids=[-100])
    assert is_allowed(settings, 1, 77)
    assert is_allowed(settings, 2, -100)
    assert not is_allowed(settings, 2, 77)
    assert not is_allowed(settings, None, None)


def test_mention_is_taken_out_of_a_group_question() -> None:
    name = "newsqa_test_bot"
    assert without_mention("@NewsQA_test_bot  when did Shoigu come?", name) == "when did Shoigu come?"
    assert without_mention("Who met @newsqa_test_bot_fan?", name) == "Who met @newsqa_test_bot_fan?"


@pytest.mark.parametrize(("text", "reply"), [
    ("", "The question is empty"),
    ("   \n ", "The question is empty"),
    ("😀🙈🔥", "doesn't look like a question"),
    ("x" * 10_000, "10000 characters long"),
])
def test_bad_questions_get_an_explanation(text: str, reply: str) -> None:
    problem = question_problem(text, Settings(_env_file=None))
    assert problem is not None and reply in problem
    parse_html(problem)


def test_a_real_question_has_no_problem() -> None:
    assert question_problem("Кога Шойгу посети Пхенян?", Settings(_env_file=None)) is None


def test_store_failures_are_told_apart_from_bugs() -> None:
    import httpx

    assert store_is_down(StoreError("cannot reach the Chroma server"))
    assert store_is_down(httpx.ConnectError("All connection attempts failed"))
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as inner:
            raise ValueError("wrapped") from inner
    except ValueError as outer:
        assert store_is_down(outer)
    assert not store_is_down(KeyError("bug"))


def test_rate_limit_admits_n_questions_in_any_minute_then_says_how_long_to_wait() -> None:
    now = [1000.0]
    limits = QuestionLimits(per_minute=3, clock=lambda: now[0])
    waits = []
    for _ in range(4):
        waits.append(limits.admit(7))
        now[0] += 10
    assert waits == [0, 0, 0, 30]  # the first question leaves the window 60 s after it was asked
    assert limits.admit(8) == 0  # another user has an allowance of their own
    now[0] = 1060.0
    assert limits.admit(7) == 0  # the first question has left the window


def test_redact_removes_the_token_from_messages_and_tracebacks() -> None:
    token = "123456:SECRET-token"
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{token}/getMe failed")
    except RuntimeError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "url %s", (f"bot{token}/x",),
                                   (type(exc), exc, exc.__traceback__))
    assert Redact([token]).filter(record)
    text = logging.Formatter().format(record)
    assert token not in text
    assert "bot<redacted>/x" in text and "bot<redacted>/getMe" in text


# --- commands ----------------------------------------------------------------------------------


async def test_commands_are_registered_in_the_menu(telegram: FakeTelegram, bot: Application) -> None:
    assert [c["command"] for c in telegram.commands] == ["start", "ask", "new", "sources", "latest", "help"]
    assert telegram.localized_commands["vi"][2]["description"] == "Bắt đầu cuộc trò chuyện mới"


async def test_start_says_how_many_articles_in_which_languages(telegram: FakeTelegram, bot: Application,
                                                               engine: Any) -> None:
    [reply] = await telegram.ask(private_chat(ALICE), ALICE, "/start")
    assert f"{len(engine.sources())} news articles in Vietnamese, Bulgarian" in reply.text
    assert SHOIGU in reply.text  # one of the two example questions


async def test_help_explains_how_to_ask_in_groups(telegram: FakeTelegram, bot: Application) -> None:
    [reply] = await telegram.ask(private_chat(ALICE), ALICE, "/help")
    assert f"{BOT} question" in reply.text and "/ask question" in reply.text


async def test_sources_lists_every_indexed_article(telegram: FakeTelegram, bot: Application,
                                                   engine: Any) -> None:
    [reply] = await telegram.ask(private_chat(ALICE), ALICE, "/sources")
    rows = engine.sources()
    assert f"Indexed articles ({len(rows)})" in reply.text
    for n, row in enumerate(rows, start=1):
        assert f"{n}. " in reply.text and row["id"] in reply.text


async def test_ask_without_a_question_shows_usage(telegram: FakeTelegram, bot: Application) -> None:
    [reply] = await telegram.ask(private_chat(ALICE), ALICE, "/ask")
    assert reply.text.startswith("Usage: /ask your question")


async def test_unknown_command_points_to_help(telegram: FakeTelegram, bot: Application) -> None:
    [reply] = await telegram.ask(private_chat(ALICE), ALICE, "/weather Hanoi")
    assert reply.text == "I don't know that command. Try /help."


# --- questions ---------------------------------------------------------------------------------


async def test_private_question_gets_the_engines_cited_answer(telegram: FakeTelegram, bot: Application,
                                                              engine: Any) -> None:
    chat = private_chat(ALICE)
    question = telegram.message(chat, ALICE, SHOIGU)
    [reply] = await telegram.wait_replies(chat["id"])
    expected = engine.ask(SHOIGU)
    assert reply.html == fmt.render_answer(expected)
    assert reply.reply_to == question["message_id"]
    assert [b["text"] for b in reply.buttons] == [f"Expand [{c.n}]" for c in expected.citations] + ["👍", "👎"]
    assert (chat["id"], "typing") in telegram.actions


async def test_ask_command_answers_like_a_plain_question(telegram: FakeTelegram, bot: Application,
                                                         engine: Any) -> None:
    [reply] = await telegram.ask(private_chat(BOB), BOB, f"/ask {SHOIGU}")
    assert reply.html == fmt.render_answer(engine.ask(SHOIGU))


async def test_group_answers_mentions_and_ignores_chatter(telegram: FakeTelegram, bot: Application,
                                                          engine: Any) -> None:
    group = group_chat()
    telegram.message(group, BOB, "Anyone for lunch? Shoigu visited Pyongyang, by the way.")
    [reply] = await telegram.ask(group, ALICE, f"{BOT} {SHOIGU}")
    await telegram.settle(bot)
    assert telegram.replies(group["id"]) == [reply]
    assert reply.html == fmt.render_answer(engine.ask(SHOIGU))


async def test_group_reply_to_the_bot_is_a_question(telegram: FakeTelegram, bot: Application,
                                                    engine: Any) -> None:
    group = group_chat()
    [first] = await telegram.ask(group, ALICE, f"/ask@{BOT_USER['username']} {SHOIGU}")
    question = "Where did Putin and Kim meet after the military parade in Beijing?"
    [second] = await telegram.ask(group, BOB, question, reply_to=telegram.messages[(group["id"],
                                                                                       first.message_id)])
    assert second.html == fmt.render_answer(engine.ask(question))


async def test_group_ignores_commands_for_other_bots(telegram: FakeTelegram, bot: Application) -> None:
    group = group_chat()
    telegram.message(group, ALICE, "/weather@other_weather_bot Hanoi")
    telegram.message(group, ALICE, "/start@other_weather_bot")
    [reply] = await telegram.ask(group, ALICE, f"/help@{BOT_USER['username']}")
    await telegram.settle(bot)
    assert telegram.replies(group["id"]) == [reply]


async def test_edited_question_is_answered_again(telegram: FakeTelegram, bot: Application,
                                                 engine: Any) -> None:
    chat = private_chat(ALICE)
    original = telegram.message(chat, ALICE, "When did Shoigu visit?")
    await telegram.wait_replies(chat["id"], 1)
    telegram.edit(original, SHOIGU)
    replies = await telegram.wait_replies(chat["id"], 2)
    assert replies[1].html == fmt.render_answer(engine.ask(SHOIGU))
    assert replies[1].reply_to == original["message_id"]


@pytest.mark.parametrize("attachment", [
    {"sticker": {"file_id": "s", "file_unique_id": "s1", "type": "regular", "width": 512, "height": 512,
                 "is_animated": False, "is_video": False}},
    {"photo": [{"file_id": "p", "file_unique_id": "p1", "width": 90, "height": 90}]},
    {"voice": {"file_id": "v", "file_unique_id": "v1", "duration": 3}},
    {"document": {"file_id": "d", "file_unique_id": "d1", "file_name": "question.pdf"}},
])
async def test_non_text_messages_get_asked_for_text(telegram: FakeTelegram, bot: Application,
                                                    attachment: dict[str, Any]) -> None:
    [reply] = await telegram.ask(private_chat(ALICE), ALICE, None, **attachment)
    assert reply.text == fmt.NOT_TEXT


@pytest.mark.parametrize(("text", "expected"), [
    ("🤔🤔🤔", "doesn't look like a question"),
    ("Shoigu " * 1500, "characters long; please keep questions under 2000"),
    (BOT, "The question is empty"),
])
async def test_bad_input_is_answered_with_what_to_do(telegram: FakeTelegram, bot: Application, text: str,
                                                     expected: str) -> None:
    chat = group_chat() if text == BOT else private_chat(ALICE)
    [reply] = await telegram.ask(chat, ALICE, text)
    assert expected in reply.text


async def test_channel_posts_are_ignored(telegram: FakeTelegram, bot: Application) -> None:
    channel = channel_chat()
    telegram.channel_post(channel, f"{BOT} {SHOIGU}")
    telegram.channel_post(channel, "/start")
    await telegram.ask(private_chat(ALICE), ALICE, "/help")  # the bot is still alive afterwards
    await telegram.settle(bot)
    assert telegram.replies(channel["id"]) == []


async def test_group_message_sent_as_a_channel_is_answered(telegram: FakeTelegram, bot: Application) -> None:
    group = group_chat()
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
    [reply] = await telegram.ask(group, anonymous, f"{BOT} {SHOIGU}", sender_chat=group)
    assert reply.buttons


# --- allow-lists and rate limits ---------------------------------------------------------------


async def test_allow_list_refuses_others_politely_and_nothing_else(telegram: FakeTelegram,
                                                                   start_bot: Any) -> None:
    async with start_bot(allowed_user_ids=[ALICE["id"]]) as app:
        [refusal] = await telegram.ask(private_chat(BOB), BOB, SHOIGU)
        [answer] = await telegram.ask(private_chat(ALICE), ALICE, SHOIGU)
        telegram.message(group_chat(), BOB, "just chatting")
        await telegram.settle(app)
    assert refusal.text == fmt.REFUSED
    assert answer.buttons
    assert telegram.replies(group_chat()["id"]) == []
    assert (BOB["id"], "typing") not in telegram.actions


async def test_allowed_chat_lets_everyone_in_it_ask(telegram: FakeTelegram, start_bot: Any) -> None:
    group = group_chat()
    async with start_bot(allowed_user_ids=[ALICE["id"]], allowed_chat_ids=[group["id"]]):
        [answer] = await telegram.ask(group, BOB, f"{BOT} {SHOIGU}")
    assert answer.buttons


async def test_refused_button_press_gets_an_alert(telegram: FakeTelegram, start_bot: Any) -> None:
    async with start_bot(allowed_user_ids=[ALICE["id"]]):
        chat = private_chat(ALICE)
        [answer] = await telegram.ask(chat, ALICE, SHOIGU)
        telegram.press(answer, answer.buttons[0]["callback_data"], BOB)
        await telegram.wait_for(lambda: telegram.callback_answers)
    assert telegram.callback_answers[0]["text"] == fmt.REFUSED
    assert len(telegram.replies(chat["id"])) == 1


async def test_rate_limit_tells_the_user_to_slow_down(telegram: FakeTelegram, start_bot: Any) -> None:
    chat = private_chat(ALICE)
    async with start_bot(rate_limit_per_minute=2):
        answers = [await telegram.ask(chat, ALICE, SHOIGU) for _ in range(2)]
        [slow_down] = await telegram.ask(chat, ALICE, SHOIGU)
        [other_user] = await telegram.ask(private_chat(BOB), BOB, SHOIGU)
    assert all(a[0].buttons for a in answers)
    assert slow_down.text.startswith("Slow down, please: at most 2 questions in any 60 seconds. You can ask again in")
    assert other_user.buttons


# --- citations ---------------------------------------------------------------------------------


async def test_expand_button_sends_the_passage_around_the_quote(telegram: FakeTelegram, bot: Application,
                                                                engine: Any) -> None:
    chat = private_chat(ALICE)
    [answer] = await telegram.ask(chat, ALICE, SHOIGU)
    citation = engine.ask(SHOIGU).citations[0]
    telegram.press(answer, answer.buttons[0]["callback_data"], ALICE)
    [passage] = (await telegram.wait_replies(chat["id"], 2))[1:]
    assert telegram.callback_answers and "text" not in telegram.callback_answers[0]
    assert passage.reply_to == answer.message_id
    assert f"<b>{fmt.escape(citation.quote)}</b>" in passage.html
    assert len(passage.text) > len(citation.quote)  # the passage around it, not just the quote
    assert citation.source in passage.text


@pytest.mark.parametrize(("data", "alert"), [
    ("x:1:ffffffffffffffffffffffff:0:10", fmt.PASSAGE_GONE),  # expand a passage no longer indexed
    ("vote:up", fmt.UNKNOWN_BUTTON),  # a button this bot does not know
])
async def test_a_button_that_cannot_be_acted_on_is_answered_with_an_alert(telegram: FakeTelegram, bot: Application,
                                                                          data: str, alert: str) -> None:
    chat = private_chat(ALICE)
    [answer] = await telegram.ask(chat, ALICE, SHOIGU)
    telegram.press(answer, data, ALICE)
    await telegram.wait_for(lambda: telegram.callback_answers)
    assert telegram.callback_answers[0]["text"] == alert
    assert telegram.callback_answers[0]["show_alert"] in (True, "true", "True")
    assert len(telegram.replies(chat["id"])) == 1


# --- failures ----------------------------------------------------------------------------------


class FailingEngine:
    """The real engine, except that once armed (the bot has started and warmed up), `ask` and `sources`
    raise the given errors first (fault injection)."""

    def __init__(self, engine: Any, *errors: Exception) -> None:
        self._engine, self._errors = engine, list(errors)
        self.armed = False

    def _fail_first(self) -> None:
        if self.armed and self._errors:
            raise self._errors.pop(0)

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        self._fail_first()
        return self._engine.ask(*args, **kwargs)

    def sources(self) -> list[dict[str, Any]]:
        self._fail_first()
        return self._engine.sources()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


async def test_a_bug_is_logged_with_the_update_id_and_the_user_told(telegram: FakeTelegram, start_bot: Any,
                                                                   engine: Any,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    chat = private_chat(ALICE)
    async with start_bot(failing := FailingEngine(engine, KeyError("boom"))):
        failing.armed = True
        [sorry] = await telegram.ask(chat, ALICE, SHOIGU)
        [answer] = await telegram.ask(chat, ALICE, SHOIGU)
    assert sorry.text == fmt.FAILED
    assert answer.buttons
    failed = [r for r in caplog.records if r.name == "bot.handlers" and r.levelno == logging.ERROR]
    assert failed and failed[0].getMessage() == "update 1 failed"
    assert telegram.token not in caplog.text


async def test_store_failure_says_try_again_and_the_bot_recovers(telegram: FakeTelegram, start_bot: Any,
                                                                 engine: Any) -> None:
    import httpx

    chat = private_chat(ALICE)
    async with start_bot(failing := FailingEngine(engine, httpx.ConnectError("All connection attempts failed"))):
        failing.armed = True
        [unavailable] = await telegram.ask(chat, ALICE, SHOIGU)
        [answer] = await telegram.ask(chat, ALICE, SHOIGU)
    assert unavailable.text == fmt.UNAVAILABLE
    assert answer.buttons


async def test_store_failure_in_a_command_says_try_again(telegram: FakeTelegram, start_bot: Any,
                                                        engine: Any) -> None:
    chat = private_chat(ALICE)
    async with start_bot(failing := FailingEngine(engine, StoreError("cannot reach the Chroma server"))):
        failing.armed = True
        [unavailable] = await telegram.ask(chat, ALICE, "/sources")
        [listing] = await telegram.ask(chat, ALICE, "/sources")
    assert unavailable.text == fmt.UNAVAILABLE
    assert listing.text.startswith("Indexed articles")


async def test_a_reply_telegram_rejects_is_followed_by_an_apology(telegram: FakeTelegram, bot: Application,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    telegram.fail("sendMessage", 400, "Bad Request: can't parse entities")
    chat = private_chat(ALICE)
    [sorry] = await telegram.ask(chat, ALICE, SHOIGU)
    assert sorry.text == fmt.FAILED
    assert [status for _, status in telegram.called("sendMessage")] == [400, 200]
    assert "BadRequest: Can't parse entities" in caplog.text
