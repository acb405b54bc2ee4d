"""The Telegram bot end to end: `newsqa bot` and the real PTB Application over HTTP against the fake
Bot API server, under load, under Telegram faults (429, timeouts), with the vector store going away
and coming back (a real Chroma server), in webhook mode, and streaming a generated answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from telegram import Message

from bot import formatting as fmt
from bot.app import build_application, running, webhook_options
from bot.i18n import choose, translations
from bot.replying import stream_answer
from retrieval.answer.evaluation import load_questions
from retrieval.models import Answer
from retrieval.question.language import guess_question_language
from retrieval.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram, parse_html, private_chat, user, utf16_len

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "fixtures" / "questions.yaml"
SHOIGU = "When did Shoigu visit Pyongyang?"
ALICE = user(1001, "Alice")


def in_their_language(answer: Answer) -> str:
    """The reply the bot sends for an answer: rendered in the language the question was asked in."""
    return fmt.render_answer(answer, translations(choose(answer.language, guess_question_language(answer.question))))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli_env(telegram: FakeTelegram, index_dir: Path, token: str | None = None) -> dict[str, str]:
    """The environment `newsqa bot` runs with: the fake server, the seed index, no model, no .env."""
    ours = ("OPENAI_", "NEWSQA_", "CHROMA_", "TELEGRAM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(TELEGRAM_BOT_TOKEN=token or telegram.token, TELEGRAM_BASE_URL=telegram.base_url,
               NEWSQA_INDEX_DIR=str(index_dir), NEWSQA_LLM="none", PYTHONUNBUFFERED="1")
    return env


async def newsqa(
    *args: str, env: dict[str, str], cwd: Path, log: Path | None = None
) -> asyncio.subprocess.Process:
    """Start the `newsqa` command line in a subprocess; stderr goes to `log` when given (a pipe
    nobody reads would fill up and block the bot)."""
    stderr = log.open("wb") if log else asyncio.subprocess.PIPE
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", *args,
            env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )
    finally:
        if log:
            stderr.close()


# --- `newsqa bot` as a user runs it --------------------------------------------------------------


@pytest.mark.slow
async def test_newsqa_bot_answers_the_fixture_questions_like_newsqa_ask(
    telegram: FakeTelegram, seed_index: Settings, engine: Any, tmp_path: Path
) -> None:
    questions = load_questions(QUESTIONS)
    env = cli_env(telegram, seed_index.index_dir)
    log = tmp_path / "bot.log"
    bot = await newsqa("bot", "--verbose", env=env, cwd=tmp_path, log=log)
    cli_ask = await newsqa("ask", "--json", questions[0].question, env=env, cwd=tmp_path)
    try:
        await telegram.wait_for(lambda: telegram.commands, timeout=180)
        people = [user(5000 + i, f"Reader {i}") for i in range(len(questions))]
        for person, item in zip(people, questions, strict=True):
            telegram.message(private_chat(person), person, item.question)
        await telegram.wait_for(lambda: all(telegram.replies(p["id"]) for p in people), timeout=300)
    finally:
        bot.send_signal(signal.SIGINT)
        await asyncio.wait_for(bot.communicate(), 60)
    cli_answer = Answer.model_validate_json((await cli_ask.communicate())[0])

    for person, item in zip(people, questions, strict=True):
        [reply] = telegram.replies(person["id"])
        if item.kind == "smalltalk":
            # The bot names its holdings in the reader's language (tests/test_formatting.py); never a quote.
            assert reply.html and "<blockquote" not in reply.html and not reply.reply_markup, item.id
            continue
        assert reply.html == in_their_language(engine.ask(item.question)), item.id
    # `newsqa ask` in its own process gives the very answer the bot sent
    assert telegram.replies(people[0]["id"])[0].html == in_their_language(cli_answer)
    text = log.read_text("utf-8")
    assert "started as @newsqa_test_bot" in text
    assert telegram.token not in text and telegram.token.split(":")[1] not in text
    assert "<redacted>" in text  # verbose logs did print Bot API URLs, with the token masked
    assert bot.returncode == 0


@pytest.mark.slow
async def test_a_bot_killed_right_after_an_answer_keeps_the_thread(
    telegram: FakeTelegram, seed_index: Settings, tmp_path: Path
) -> None:
    env = {**cli_env(telegram, seed_index.index_dir), "NEWSQA_BOT_STATE_FILE": str(tmp_path / "state.pickle")}
    reader = user(6100, "Ann")
    chat = private_chat(reader)
    bot = await newsqa("bot", env=env, cwd=tmp_path, log=tmp_path / "first.log")
    try:
        await telegram.wait_for(lambda: telegram.commands, timeout=180)
        await telegram.ask(chat, reader, "When did Shoigu visit Pyongyang?")
        await asyncio.sleep(0.5)  # well inside PTB's own 30-second flush
    finally:
        bot.kill()  # SIGKILL: no shutdown hook runs
        await bot.wait()
    telegram.commands.clear()
    bot = await newsqa("bot", env=env, cwd=tmp_path, log=tmp_path / "second.log")
    try:
        await telegram.wait_for(lambda: telegram.commands, timeout=180)
        [reply] = await telegram.ask(chat, reader, "and who did he meet there?")
    finally:
        bot.send_signal(signal.SIGINT)
        await asyncio.wait_for(bot.communicate(), 60)
    assert reply.text.startswith("About: Shoigu, Pyongyang")


async def test_newsqa_bot_refuses_to_start_without_an_index(telegram: FakeTelegram, tmp_path: Path) -> None:
    bot = await newsqa("bot", env=cli_env(telegram, tmp_path / "nowhere"), cwd=tmp_path)
    _, err = await asyncio.wait_for(bot.communicate(), 120)
    text = err.decode()
    assert bot.returncode == 1
    assert "no index at" in text and "newsqa ingest" in text
    assert "Traceback" not in text and telegram.token not in text
    assert telegram.calls == []  # it never got as far as Telegram


async def test_newsqa_bot_says_when_telegram_refuses_the_token(
    telegram: FakeTelegram, seed_index: Settings, tmp_path: Path
) -> None:
    wrong = "999999:not-the-right-token"
    bot = await newsqa("bot", env=cli_env(telegram, seed_index.index_dir, token=wrong), cwd=tmp_path)
    _, err = await asyncio.wait_for(bot.communicate(), 180)
    text = err.decode()
    assert bot.returncode == 1
    assert "Telegram refused the bot token; check TELEGRAM_BOT_TOKEN" in text
    assert wrong not in text and "not-the-right-token" not in text


# --- the Application in this process -------------------------------------------------------------


async def test_fifty_users_asking_at_once_are_all_answered(telegram: FakeTelegram, start_bot: Any,
                                                           engine: Any) -> None:
    questions = [q.question for q in load_questions(QUESTIONS) if q.answerable][:10]
    expected = {q: in_their_language(engine.ask(q)) for q in questions}
    people = [user(7000 + i, f"Reader {i}") for i in range(50)]
    async with start_bot() as app:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i, person in enumerate(people):
            telegram.message(private_chat(person), person, questions[i % len(questions)])
        await telegram.wait_for(lambda: all(telegram.replies(p["id"]) for p in people), timeout=300)
        elapsed = loop.time() - started
        await telegram.settle(app)
    print(f"\n50 users asking at once (warm caches): all answered in {elapsed:.1f}s")
    for i, person in enumerate(people):
        [reply] = telegram.replies(person["id"])
        assert reply.html == expected[questions[i % len(questions)]]


async def test_a_429_from_telegram_is_waited_out_and_the_reply_sent_once(telegram: FakeTelegram,
                                                                        start_bot: Any) -> None:
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    chat = private_chat(ALICE)
    async with start_bot() as app:
        [reply] = await telegram.ask(chat, ALICE, SHOIGU)
        await telegram.settle(app)
    assert [status for _, status in telegram.called("sendMessage")] == [429, 200]
    assert telegram.replies(chat["id"]) == [reply] and reply.buttons


async def test_a_reply_telegram_answers_too_late_is_not_sent_twice(telegram: FakeTelegram, start_bot: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    telegram.stall("sendMessage", 4.0)  # Telegram takes the message but answers after the bot gave up
    chat = private_chat(ALICE)
    async with start_bot(telegram_timeout=2.0) as app:
        [first] = await telegram.ask(chat, ALICE, SHOIGU)
        await asyncio.sleep(4.5)
        [second] = await telegram.ask(chat, ALICE, "Where did Putin and Kim meet after the parade in Beijing?")
        await telegram.settle(app)
    assert telegram.replies(chat["id"]) == [first, second]
    assert first.buttons and second.text != fmt.FAILED
    assert "Bot API call failed: TimedOut" in caplog.text


async def test_store_outage_says_try_again_and_recovers_when_chroma_is_back(
    telegram: FakeTelegram, embedder: Any, tmp_path: Path
) -> None:
    from retrieval.corpus.ingestion import ingest
    from retrieval.engine import Engine

    chroma = Path(sys.executable).with_name("chroma")
    port = free_port()

    def chroma_server() -> subprocess.Popen[bytes]:
        where = ["--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)]
        command = [str(chroma), "run", *where]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).raise_for_status()
                return server
            except httpx.HTTPError:
                time.sleep(0.2)
        server.kill()
        pytest.fail("the Chroma server did not start")

    settings = Settings(_env_file=None, corpus_dir=ROOT / "seeds", index_dir=tmp_path / "index",
                        chroma_host="127.0.0.1", chroma_port=port)
    server = chroma_server()
    try:
        await asyncio.to_thread(ingest, settings, embedder)
        engine = Engine(settings, embedder=embedder)
        chat = private_chat(ALICE)
        async with running(build_application(telegram.settings_for(settings), engine), poll_timeout=0.5):
            [before] = await telegram.ask(chat, ALICE, SHOIGU)
            server.terminate()
            server.wait(30)
            [during] = await telegram.ask(chat, ALICE, SHOIGU)
            server = chroma_server()
            [after] = await telegram.ask(chat, ALICE, SHOIGU)
    finally:
        server.terminate()
        server.wait(30)
    assert before.buttons
    assert during.text == fmt.UNAVAILABLE
    assert after.html == before.html


async def test_webhook_mode_answers_updates_posted_with_the_secret(
    telegram: FakeTelegram, seed_index: Settings, engine: Any
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/newsqa-hook"
    settings = telegram.settings_for(seed_index, telegram_webhook_secret=SecretStr("hook-secret"))
    app = build_application(settings, engine)
    chat = private_chat(ALICE)
    webhook = webhook_options(settings, url, "127.0.0.1", port)
    async with running(app, webhook=webhook), httpx.AsyncClient() as http:
        assert telegram.webhook is not None and telegram.webhook["url"] == url
        assert telegram.webhook["secret_token"] == "hook-secret"
        forged = await http.post(url, json=telegram.update(chat, ALICE, SHOIGU),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
        posted = await http.post(url, json=telegram.update(chat, ALICE, SHOIGU),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"})
        [reply] = await telegram.wait_replies(chat["id"])
        await telegram.settle(app)
    assert forged.status_code == 403 and posted.status_code == 200
    assert telegram.replies(chat["id"]) == [reply]
    assert reply.html == fmt.render_answer(engine.ask(SHOIGU))


# --- generated answers ---------------------------------------------------------------------------


LONG_REPLY = "Shoigu handed Kim Jong Un a letter from Putin in Pyongyang on 27 July [1]. " * 70


async def test_a_generated_answer_streams_into_its_reply_then_splits_under_the_limit(
    telegram: FakeTelegram, seed_index: Settings, embedder: Any
) -> None:
    from retrieval.engine import Engine

    chat = private_chat(ALICE)
    with FakeOpenAI(responder=lambda _: LONG_REPLY) as model:
        settings = telegram.settings_for(seed_index, llm="openai", openai_base_url=model.base_url,
                                         openai_api_key=SecretStr("sk-test-key"))
        engine = Engine(settings, embedder=embedder)
        expected = engine.ask(SHOIGU)
        async with running(build_application(settings, engine), poll_timeout=0.5) as app:
            telegram.message(chat, ALICE, SHOIGU)
            parts = fmt.split_html(fmt.render_answer(expected))
            await telegram.wait_replies(chat["id"], len(parts), timeout=60)
            await telegram.settle(app)
    assert expected.mode == "llm" and utf16_len(parse_html(fmt.render_answer(expected))) > fmt.MESSAGE_LIMIT
    replies = telegram.replies(chat["id"])
    assert [r.html for r in replies] == parts and len(parts) >= 2
    assert replies[0].history and replies[0].history[0].endswith(" ▌")  # it was shown while arriving
    assert replies[-1].buttons and not any(r.buttons for r in replies[:-1])
    assert "sk-test-key" not in json.dumps([r.html for r in replies])


async def test_streaming_edits_the_reply_at_most_about_once_a_second(telegram: FakeTelegram,
                                                                    start_bot: Any, engine: Any) -> None:
    final = engine.ask(SHOIGU).model_copy(update={"mode": "llm"})

    async def slow_model() -> AsyncIterator[str | Answer]:
        for word in final.answer.split(" "):
            await asyncio.sleep(0.1)
            yield word + " "
        yield final

    chat = private_chat(ALICE)
    async with start_bot() as app:
        question = Message.de_json(telegram.update(chat, ALICE, SHOIGU)["message"], app.bot)
        started = time.monotonic()
        assert await stream_answer(question, slow_model()) == final
        elapsed = time.monotonic() - started
    [reply] = telegram.replies(chat["id"])
    edits = len(reply.edited_at)
    assert edits >= 2  # it did show the text growing
    assert edits <= elapsed / 1.0 + 1
    assert reply.html == fmt.render_answer(final)


async def test_a_streamed_first_part_that_is_already_final_is_not_edited_again(
    telegram: FakeTelegram, start_bot: Any, engine: Any
) -> None:
    base = engine.ask(SHOIGU)
    final = base.model_copy(update={"mode": "llm", "answer": LONG_REPLY.strip()})

    async def model() -> AsyncIterator[str | Answer]:
        yield LONG_REPLY  # one long piece: the first message is full before the answer is checked
        yield final

    chat = private_chat(ALICE)
    async with start_bot() as app:
        question = Message.de_json(telegram.update(chat, ALICE, SHOIGU)["message"], app.bot)
        await stream_answer(question, model())
    parts = fmt.split_html(fmt.render_answer(final))
    assert [r.html for r in telegram.replies(chat["id"])] == parts
    assert all(status == 200 for _, status in telegram.called("editMessageText"))
