"""A short session with `newsqa bot` as a user has it, against the fake Bot API of the tests: how long
the first answer takes after start-up, and conversations (question, follow-up, /new) as the fake
server recorded them.

    python -m benchmarks.bot_session --index-dir /tmp/bot/index            # an ingested index
    python -m benchmarks.bot_session --index-dir /tmp/bot/index --out benchmarks/BOT_SESSION.md

The bot runs as its own process (`python -m bot.cli bot`), exactly as a user starts it, with no model.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from tests.fakes.telegram_server import FakeTelegram, private_chat, user

ENGLISH = ["When did Shoigu visit Pyongyang?", "and who did he meet there?", "/new", "and who did he meet there?"]
VIETNAMESE = ["Ông Shoigu đến Bình Nhưỡng khi nào?", "ông ấy đã gặp ai ở đó?", "/new", "ông ấy đã gặp ai ở đó?"]
LATER = ["Where did Putin and Kim meet after the military parade in Beijing?",
         "Кой министър на външните работи придружаваше Ким в Пекин?",
         "Что, кроме солдат, Северная Корея поставила Москве?"]


async def start_bot(telegram: FakeTelegram, index_dir: Path, state: Path, log: Path) -> asyncio.subprocess.Process:
    """`newsqa bot` in a subprocess, pointed at the fake server, no model, its own state file."""
    ours = ("OPENAI_", "NEWSQA_", "CHROMA_", "TELEGRAM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_BASE_URL=telegram.base_url, NEWSQA_LLM="none",
               NEWSQA_INDEX_DIR=str(index_dir), NEWSQA_BOT_STATE_FILE=str(state), PYTHONUNBUFFERED="1")
    with log.open("wb") as stderr:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "bot", env=env,
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=stderr)


async def timed_ask(telegram: FakeTelegram, person: dict[str, Any], text: str) -> tuple[float, list[Any]]:
    """Send a message and wait for the bot's reply; seconds taken and what it sent."""
    chat = private_chat(person)
    before = len(telegram.replies(chat["id"]))
    started = time.perf_counter()
    telegram.message(chat, person, text)
    replies = await telegram.wait_replies(chat["id"], before + 1, timeout=300)
    return time.perf_counter() - started, replies[before:]


def transcript(telegram: FakeTelegram, person: dict[str, Any], lines: list[str]) -> str:
    """The conversation as the fake server recorded it: each message, then each reply with its buttons."""
    out = []
    replies = iter(telegram.replies(person["id"]))
    for line in lines:
        out.append(f"> {person['first_name']}: {line}")
        reply = next(replies)
        buttons = "  ".join(f"[ {b['text']} ]" for b in reply.buttons)
        out.append("< bot: " + reply.text.replace("\n", "\n       ") + (f"\n       {buttons}" if buttons else ""))
    return "\n".join(out)


async def session(index_dir: Path, delay: float) -> str:
    """Start the bot, ask `delay` seconds after starting it, then hold two conversations."""
    telegram = FakeTelegram()
    await telegram.start()
    with tempfile.TemporaryDirectory() as state:
        started = time.perf_counter()
        log = Path(tempfile.gettempdir()) / "newsqa-bot-session.log"
        bot = await start_bot(telegram, index_dir, Path(state) / "bot-state.pickle", log)
        polling = asyncio.create_task(telegram.wait_for(lambda: telegram.called("getUpdates"), timeout=300))
        polling.add_done_callback(lambda _: ready.append(time.perf_counter() - started))
        ready: list[float] = []
        try:
            await asyncio.sleep(delay)
            early = user(9000, "Early")
            first, _ = await timed_ask(telegram, early, ENGLISH[0])
            later = [(await timed_ask(telegram, early, q))[0] for q in LATER]
            total = time.perf_counter() - started
            en, vi = user(9001, "Ann"), user(9002, "Lan", language_code="vi")
            for person, lines in ((en, ENGLISH), (vi, VIETNAMESE)):
                for line in lines:
                    await timed_ask(telegram, person, line)
        finally:
            bot.terminate()
            await bot.wait()
            await telegram.stop()
    return "\n".join([
        f"start-up (process start to first poll for updates, warm-up included): {ready[0]:.2f} s",
        f"first answer, asked {delay:.0f} s after `newsqa bot` started: {first:.2f} s after asking "
        f"({delay + first:.2f} s after start, {delay + first - ready[0]:.2f} s after the bot began taking updates)",
        f"later answers: median {statistics.median(later):.2f} s (max {max(later):.2f} s) over {len(later)}",
        f"(whole run {total:.1f} s)",
        "",
        "English:",
        transcript(telegram, en, ENGLISH),
        "",
        "Vietnamese (Telegram language_code vi):",
        transcript(telegram, vi, VIETNAMESE),
    ])


def main(
    index_dir: Annotated[Path, typer.Option("--index-dir", help="An ingested index.")] = Path(".newsqa"),
    delay: Annotated[float, typer.Option("--delay", help="Seconds after start-up the first question is sent.")] = 1.0,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the report here.")] = None,
) -> None:
    """Measure the first answer after start-up and record two short conversations."""
    report = asyncio.run(session(index_dir, delay))
    print(report)
    if out:
        out.write_text(report + "\n", "utf-8")


if __name__ == "__main__":
    typer.run(main)
