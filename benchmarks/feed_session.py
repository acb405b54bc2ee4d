"""A running `newsqa bot` with a feed keeps up: the local news site of the tests publishes an article (at two
addresses) after the bot started, and the bot answers a question about it after its next refresh, citing
outlet, date and link. Everything runs as a user runs it: `newsqa ingest --feed`, `newsqa bot`,
`newsqa sources`, each its own process; Telegram is the fake Bot API of the tests.

    python -m benchmarks.feed_session --out benchmarks/FEED_SESSION.md
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.bot_session import timed_ask, transcript
from tests.fakes.news_site import BRIDGE, LIGHTHOUSE, NewsSite
from tests.fakes.telegram_server import FakeTelegram, user

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How far does the Kaliakra lighthouse beam reach?"
REFRESH = 10


def environment(site: NewsSite, index: Path, corpus: Path, telegram: FakeTelegram, state: Path) -> dict[str, str]:
    ours = ("OPENAI_", "NEWSQA_", "CHROMA_", "TELEGRAM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(NEWSQA_LLM="none", NEWSQA_INDEX_DIR=str(index), NEWSQA_CORPUS_DIR=str(corpus),
               NEWSQA_FEEDS=site.url("/feed.xml"), NEWSQA_ALLOW_PRIVATE_URLS="true", NEWSQA_FETCH_DELAY_SECONDS="0",
               NEWSQA_REFRESH_SECONDS=str(REFRESH), TELEGRAM_BOT_TOKEN=telegram.token,
               TELEGRAM_BASE_URL=telegram.base_url, NEWSQA_BOT_STATE_FILE=str(state), PYTHONUNBUFFERED="1",
               COLUMNS="160")
    return env


def newsqa(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, capture_output=True, text=True,
                          timeout=1800, check=True)
    return (done.stdout + done.stderr).strip()


async def session() -> str:
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as scratch, NewsSite([BRIDGE]) as site:
        work = Path(scratch)
        corpus = work / "corpus"
        shutil.copytree(ROOT / "seeds", corpus)
        telegram = FakeTelegram()
        await telegram.start()
        env = environment(site, work / "index", corpus, telegram, work / "bot-state.pickle")
        lines += ["$ newsqa ingest   # NEWSQA_FEEDS=" + site.url("/feed.xml"), newsqa(env, "ingest"), ""]
        log = work / "bot.log"
        with log.open("wb") as stderr:
            bot = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "bot", env=env,
                                                       stdout=asyncio.subprocess.DEVNULL, stderr=stderr)
        try:
            await telegram.wait_for(lambda: telegram.called("getUpdates"), timeout=600)
            reader = user(9100, "Ann")
            asked = [QUESTION]
            await timed_ask(telegram, reader, QUESTION)
            site.add(LIGHTHOUSE)
            site.extra_entries = ["/copy/lighthouse"]  # the same article at a second address
            published = time.perf_counter()
            lines.append(f"(the site published {site.url('/news/lighthouse')} and {site.url('/copy/lighthouse')} "
                         f"after the bot started; NEWSQA_REFRESH_SECONDS={REFRESH})")
            while True:
                await asyncio.sleep(2)
                asked.append(QUESTION)
                _, replies = await timed_ask(telegram, reader, QUESTION)
                if "/news/lighthouse" in replies[-1].html or time.perf_counter() - published > 900:
                    break
            answered = time.perf_counter() - published
            asked += ["/latest", "Какие последние новости?"]
            for text in asked[-2:]:
                await timed_ask(telegram, reader, text)
            lines += ["", f"answered from the new article {answered:.1f} s after it was published "
                      f"({len(asked) - 3} questions asked in the meantime)", "", "Conversation (Telegram's text; "
                      "links shown by the fake Bot API as HTML below):", transcript(telegram, reader, asked)]
            final = next(r for r in telegram.replies(reader["id"]) if "/news/lighthouse" in r.html)
            lines += ["", "The answer as HTML:", final.html]
        finally:
            bot.terminate()
            await bot.wait()
            await telegram.stop()
        bot_log = log.read_text("utf-8", errors="replace")
        lines += ["", "Bot log (refresh lines):"] + [line for line in bot_log.splitlines() if "refresh" in line]
        lines += ["", "$ newsqa sources", newsqa(env, "sources")]
    return "\n".join(lines)


def main(out: Annotated[Path | None, typer.Option("--out", help="Also write the report here.")] = None) -> None:
    """Run the session and print what happened."""
    report = asyncio.run(session())
    print(report)
    if out:
        out.write_text("# A running bot answers an article its feed gained after it started\n\n"
                       "`python -m benchmarks.feed_session --out benchmarks/FEED_SESSION.md`\n\n```\n" + report
                       + "\n```\n", "utf-8")


if __name__ == "__main__":
    typer.run(main)
