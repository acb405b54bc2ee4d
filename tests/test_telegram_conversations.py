"""The bot as people keep talking to it, end to end against the fake Bot API: follow-ups without a
model, /new, separate threads per user in a group, history across a restart, replies in the user's
language, quiet groups, an honest rate limit, buttons that always answer, paged /sources, captions,
forum topics and the warm start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot import formatting as fmt
from bot.app import build_application, running
from bot.i18n import translations
from retrieval.settings import Settings
from tests.fakes.telegram_server import BOT_USER, FakeTelegram, group_chat, private_chat, user

SHOIGU = "When did Shoigu visit Pyongyang?"
FOLLOW_UP = "and who did he meet there?"
ABOUT = "About: Shoigu, Pyongyang"
ALICE = user(1001, "Alice")
BOB = user(1002, "Bob")
LAN = user(1003, "Lan", language_code="vi")
BOT = f"@{BOT_USER['username']}"
STICKER = {"sticker": {"file_id": "s", "file_unique_id": "s1", "type": "regular", "width": 512, "height": 512,
                       "is_animated": False, "is_video": False}}
PHOTO = [{"file_id": "p", "file_unique_id": "p1", "width": 90, "height": 90}]


def replied_to(telegram: FakeTelegram, chat: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """The stored Message object of the bot's last reply in a chat, to reply to it."""
    last = telegram.replies(chat["id"])[-1]
    return telegram.messages[(chat["id"], last.message_id)]


# --- follow-ups and conversations ----------------------------------------------------------------


async def test_a_follow_up_is_answered_without_a_model_and_says_what_it_was_read_as_about(
    telegram: FakeTelegram, bot: Application, engine: Any
) -> None:
    chat = private_chat(ALICE)
    [first] = await telegram.ask(chat, ALICE, SHOIGU)
    [second] = await telegram.ask(chat, ALICE, FOLLOW_UP)
    assert "About:" not in first.text
    about, quote = second.text.split("\n")[:2]
    assert about == ABOUT
    assert "Kim Jong-un" in quote  # quoted, not "the sources don't say"
    assert second.buttons


async def test_new_forgets_the_conversation_and_says_so(telegram: FakeTelegram, bot: Application) -> None:
    chat = private_chat(ALICE)
    await telegram.ask(chat, ALICE, SHOIGU)
    [started_over] = await telegram.ask(chat, ALICE, "/new")
    [alone] = await telegram.ask(chat, ALICE, FOLLOW_UP)
    await telegram.ask(chat, ALICE, SHOIGU)
    [reset] = await telegram.ask(chat, ALICE, "/reset")
    assert started_over.text == fmt.NEW_CONVERSATION and reset.text == fmt.NEW_CONVERSATION
    assert "About:" not in alone.text


async def test_two_users_in_one_group_keep_separate_threads(telegram: FakeTelegram, bot: Application) -> None:
    group = group_chat()
    await telegram.ask(group, ALICE, f"{BOT} {SHOIGU}")
    await telegram.ask(group, BOB, f"{BOT} Where did Putin and Kim meet after the military parade in Beijing?")
    [alices] = await telegram.ask(group, ALICE, f"{BOT} {FOLLOW_UP}")
    [bobs] = await telegram.ask(group, BOB, f"{BOT} when was that?")
    assert alices.text.startswith(ABOUT)
    assert bobs.text.startswith("About: Putin, Kim, Beijing")


async def test_a_restart_keeps_the_conversation(telegram: FakeTelegram, start_bot: Any) -> None:
    chat = private_chat(ALICE)
    async with start_bot():
        await telegram.ask(chat, ALICE, SHOIGU)
    assert (telegram.state_dir / "bot-state.pickle").stat().st_size > 0
    async with start_bot():
        [after_restart] = await telegram.ask(chat, ALICE, FOLLOW_UP)
    assert after_restart.text.startswith(ABOUT)


async def test_an_unwritable_state_file_only_costs_memory_across_restarts(
    telegram: FakeTelegram, start_bot: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where a directory should be")
    chat = private_chat(ALICE)
    async with start_bot(bot_state_file=blocked / "state.pickle"):
        await telegram.ask(chat, ALICE, SHOIGU)
        [second] = await telegram.ask(chat, ALICE, FOLLOW_UP)
    assert second.text.startswith(ABOUT)  # within the run, conversations still work
    assert "cannot write the bot's state file" in caplog.text and "NEWSQA_BOT_STATE_FILE" in caplog.text


# --- the user's language -------------------------------------------------------------------------


async def test_a_vietnamese_user_gets_vietnamese_texts(telegram: FakeTelegram, bot: Application,
                                                       engine: Any) -> None:
    vi = translations("vi")
    chat = private_chat(LAN)
    [welcome] = await telegram.ask(chat, LAN, "/start")  # no question yet: Telegram's language_code
    [answer] = await telegram.ask(chat, LAN, "Ông Shoigu đến Bình Nhưỡng khi nào?")
    [follow_up] = await telegram.ask(chat, LAN, "ông ấy đã gặp ai ở đó?")
    [started_over] = await telegram.ask(chat, LAN, "/new")
    assert welcome.text.startswith("Xin chào! Tôi trả lời câu hỏi về")
    assert answer.buttons[0]["text"] == "Mở rộng [1]"
    assert follow_up.text.startswith("Về: Shoigu, Bình Nhưỡng")
    assert started_over.text == vi.gettext(fmt.NEW_CONVERSATION)


async def test_an_off_topic_bulgarian_question_is_told_so_in_bulgarian(telegram: FakeTelegram,
                                                                       bot: Application) -> None:
    question = "Кой спечели Световното първенство по футбол през 2022 г.?"
    [reply] = await telegram.ask(private_chat(ALICE), ALICE, question)
    assert reply.text == translations("bg").gettext(fmt.NO_ANSWER)


# --- quiet groups --------------------------------------------------------------------------------


async def test_acknowledgements_and_stickers_replying_to_the_bot_in_a_group_get_nothing(
    telegram: FakeTelegram, bot: Application
) -> None:
    group = group_chat()
    question = telegram.message(group, ALICE, f"{BOT} {SHOIGU}")
    await telegram.wait_replies(group["id"], 1)
    answer = replied_to(telegram, group, question)
    for chatter in ("ok 👍", "lol", "thanks", "👍👍"):
        telegram.message(group, BOB, chatter, reply_to=answer)
    telegram.message(group, BOB, None, reply_to=answer, **STICKER)
    [real] = await telegram.ask(group, BOB, "and who did Shoigu meet there?", reply_to=answer)
    await telegram.settle(bot)
    assert len(telegram.replies(group["id"])) == 2 and real.buttons


async def test_commands_for_another_bot_are_never_answered_whoever_sends_them(telegram: FakeTelegram,
                                                                             start_bot: Any) -> None:
    group, chat = group_chat(), private_chat(BOB)
    async with start_bot(allowed_user_ids=[ALICE["id"]]) as app:
        telegram.message(group, BOB, "/help@other_bot")
        telegram.message(chat, BOB, "/weather@other_bot Hanoi")
        telegram.message(group, ALICE, "/weather@other_bot Hanoi")
        [refusal] = await telegram.ask(chat, BOB, "/help")
        await telegram.settle(app)
    assert telegram.replies(group["id"]) == [] and telegram.replies(chat["id"]) == [refusal]
    assert refusal.text == fmt.REFUSED


# --- limits --------------------------------------------------------------------------------------


async def test_fifteen_questions_one_every_four_seconds_answer_ten_and_tell_five_when(
    telegram: FakeTelegram, bot: Application
) -> None:
    clock = [5000.0]
    bot.bot_data["newsqa"].limits.clock = lambda: clock[0]  # 4 s between questions without waiting a minute
    chat = private_chat(ALICE)
    replies = []
    for _ in range(15):
        replies += await telegram.ask(chat, ALICE, SHOIGU)
        clock[0] += 4
    answered = [r for r in replies if r.buttons]
    told = [r.text for r in replies if not r.buttons]
    assert len(answered) == 10
    # the 11th comes at 40 s: the first question leaves the window at 60 s, so 20 s to wait; then 16, 12...
    assert told == [f"Slow down, please: at most 10 questions in any 60 seconds. You can ask again in {wait} seconds."
                    for wait in (20, 16, 12, 8, 4)]


# --- buttons -------------------------------------------------------------------------------------


async def test_pressing_expand_twice_posts_the_passage_once(telegram: FakeTelegram, bot: Application) -> None:
    chat = private_chat(ALICE)
    [answer] = await telegram.ask(chat, ALICE, SHOIGU)
    telegram.press(answer, answer.buttons[0]["callback_data"], ALICE)
    await telegram.wait_replies(chat["id"], 2)
    telegram.press(answer, answer.buttons[0]["callback_data"], ALICE)
    await telegram.wait_for(lambda: len(telegram.callback_answers) == 2)
    await telegram.settle(bot)
    assert len(telegram.replies(chat["id"])) == 2
    assert telegram.callback_answers[1]["text"] == fmt.ALREADY_SHOWN


async def test_sources_pages_through_the_articles_in_one_message(telegram: FakeTelegram, start_bot: Any,
                                                                 engine: Any) -> None:
    rows = engine.sources()
    group = group_chat()
    async with start_bot(sources_page_size=2) as app:
        [listing] = await telegram.ask(group, ALICE, f"/sources@{BOT_USER['username']}")
        first_page = listing.text
        assert [b["text"] for b in listing.buttons] == ["Next ›"]
        telegram.press(listing, "s:1", ALICE)
        await telegram.wait_for(lambda: listing.history)
        second_page, second_buttons = listing.text, [b["text"] for b in listing.buttons]
        telegram.press(listing, "s:2", ALICE)
        await telegram.wait_for(lambda: len(listing.history) == 2)
        await telegram.settle(app)
    assert telegram.replies(group["id"]) == [listing]  # pages edit the one message
    assert "Page 1 of 3" in first_page and rows[0]["id"] in first_page and rows[2]["id"] not in first_page
    assert "Page 2 of 3" in second_page and rows[2]["id"] in second_page
    assert second_buttons == ["‹ Previous", "Next ›"]
    assert "Page 3 of 3" in listing.text and rows[4]["id"] in listing.text
    assert [b["text"] for b in listing.buttons] == ["‹ Previous"]
    assert len(telegram.callback_answers) == 2


# --- captions, topics, warm start ----------------------------------------------------------------


async def test_a_captioned_photo_is_a_question(telegram: FakeTelegram, bot: Application, engine: Any) -> None:
    [private] = await telegram.ask(private_chat(ALICE), ALICE, None, photo=PHOTO, caption=SHOIGU)
    [group] = await telegram.ask(group_chat(), ALICE, None, photo=PHOTO, caption=f"{BOT} {SHOIGU}")
    expected = fmt.render_answer(engine.ask(SHOIGU))
    assert private.html == expected and group.html == expected


async def test_in_a_forum_every_reply_goes_to_the_questions_topic(telegram: FakeTelegram, start_bot: Any,
                                                                  engine: Any) -> None:
    from tests.test_telegram import FailingEngine

    forum = group_chat(forum=True)
    topic = {"message_thread_id": 77, "is_topic_message": True}
    async with start_bot(failing := FailingEngine(engine, KeyError("boom"))):
        failing.armed = True
        [sorry] = await telegram.ask(forum, ALICE, f"{BOT} {SHOIGU}", **topic)
        [answer] = await telegram.ask(forum, ALICE, f"{BOT} {SHOIGU}", **topic)
        telegram.press(answer, answer.buttons[0]["callback_data"], ALICE)
        [passage] = (await telegram.wait_replies(forum["id"], 3))[2:]
    assert sorry.text == fmt.FAILED
    assert [r.thread_id for r in (sorry, answer, passage)] == [77, 77, 77]
    assert all(params.get("message_thread_id") in (77, "77") for params, _ in telegram.called("sendChatAction"))


async def test_the_bot_warms_up_before_it_takes_updates(telegram: FakeTelegram, start_bot: Any,
                                                        engine: Any) -> None:
    warmed: list[int] = []

    class Watched:
        """The real engine, noting how many getUpdates calls were made when it warmed up (a query included)."""

        def warm_up(self) -> float:
            warmed.append(len(telegram.called("getUpdates")))
            return engine.warm_up()

        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

    async with start_bot(Watched()):
        await telegram.ask(private_chat(ALICE), ALICE, SHOIGU)
    assert warmed == [0]  # the warm-up query ran before the first poll for updates


async def test_with_a_model_the_rewritten_follow_up_is_shown_the_same_way(
    telegram: FakeTelegram, seed_index: Settings, embedder: Any
) -> None:
    from pydantic import SecretStr

    from retrieval.engine import Engine
    from retrieval.generate import prompts
    from tests.fakes.openai_server import FakeOpenAI

    def model(request: Any) -> str:
        if request.text("system") == prompts.CONDENSE_SYSTEM:
            return "Who did Shoigu meet in Pyongyang?"
        return "Shoigu met Kim Jong Un in Pyongyang [1]."

    chat = private_chat(ALICE)
    with FakeOpenAI(responder=model) as server:
        settings = telegram.settings_for(seed_index, llm="openai", openai_base_url=server.base_url,
                                         openai_api_key=SecretStr("sk-test-key"))
        engine = Engine(settings, embedder=embedder)
        async with running(build_application(settings, engine), poll_timeout=0.5) as app:
            await telegram.ask(chat, ALICE, SHOIGU)
            await telegram.settle(app)
            await telegram.ask(chat, ALICE, FOLLOW_UP)
            await telegram.settle(app)
    first, second = telegram.replies(chat["id"])
    assert "Read as" not in first.text
    assert second.text.startswith("Read as: Who did Shoigu meet in Pyongyang?\nShoigu met Kim Jong Un")


def test_in_llm_mode_the_warm_up_builds_the_model_client_without_asking_it(seed_index: Settings,
                                                                         embedder: Any) -> None:
    from pydantic import SecretStr

    from bot.app import warm_up
    from bot.handlers import Shared
    from bot.limits import QuestionLimits
    from retrieval.engine import Engine
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(responder=lambda _: "unused") as server:
        settings = seed_index.model_copy(update={"llm": "openai", "openai_base_url": server.base_url,
                                                 "openai_api_key": SecretStr("sk-test-key")})
        engine = Engine(settings, embedder=embedder)
        warm_up(Shared(engine, settings, QuestionLimits(10)))
        assert engine._generator is not None and engine._generator.llm is not None
        assert server.requests == []
